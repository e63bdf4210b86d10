"""``python -m irsde``: the command-line interface."""

from irsde.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
