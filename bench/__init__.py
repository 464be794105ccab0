"""Benchmarks: `python -m bench` (see bench/README.md). Figures, not pass/fail."""
from __future__ import annotations

import json
from pathlib import Path


def write_figures(path: Path, figures: dict) -> None:
    """The figures as JSON at `path` (its folder made), written atomically."""
    from utils.files import write_text_atomic
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(figures, indent=2, default=str))


def print_markdown(headers: list[str], rows: list[list[str]]) -> None:
    """A Markdown table, as the README shows the figures."""
    print("\n| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def finish(out: Path, name: str, rows: list[dict]) -> int:
    """Write one section's rows (with the time they were measured) and say where."""
    import time
    write_figures(out, {name: rows, "when": time.strftime("%Y-%m-%d %H:%M:%S")})
    print(f"\nfigures written to {out}")
    return 0
