"""``python -m lmkviz``: the command-line interface (see :mod:`lmkviz.cli`)."""

from lmkviz.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
