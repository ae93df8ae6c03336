"""The ``heaven`` executable: a plain ``heaven jobs`` is answered at once (heaven.cli.quick);
every other command line goes to the Typer CLI (heaven.launch), imported only then.

``python -m heaven.launch`` runs the Typer CLI for everything, ``python -m heaven.entry``
as the executable does.
"""
from __future__ import annotations

import sys


def main() -> int | None:
    from heaven.cli.quick import answer

    code = answer(sys.argv[1:])
    if code is not None:
        return code
    from heaven.launch import app

    return app()


if __name__ == "__main__":
    sys.exit(main())
