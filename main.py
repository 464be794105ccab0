"""Real-ESRGAN Ultimate: `python main.py` starts the web UI; `python main.py COMMAND ...` runs the CLI."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] == "serve":
        from ui.app import serve
        return serve()
    from cli import main as cli_main
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
