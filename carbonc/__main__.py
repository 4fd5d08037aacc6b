"""`python -m carbonc` runs the `carbonc` command."""

from carbonc.cli import main

main()
