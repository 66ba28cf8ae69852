"""`python -m kerasll`: the `kerasll` command line."""

from kerasll.cli.main import main

main()
