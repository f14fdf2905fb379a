"""Conventions shared by a reader and a writer of one file format (names, metadata keys), owned once here so that
frontend readers never import a target's writer to learn them."""
