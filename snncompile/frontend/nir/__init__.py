"""NIR sources: the reader (NIR graph -> IR) and the reference runner of a NIR graph's own equations."""
