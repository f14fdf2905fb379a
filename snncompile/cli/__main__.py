"""`python -m snncompile.cli`: the same as the `snncompile` command."""

from snncompile.cli import main

main()
