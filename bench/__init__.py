"""Benchmarks: `python -m bench` (see bench/README.md). Figures, not pass/fail."""
from __future__ import annotations

import json
from pathlib import Path


def write_figures(path: Path, figures: dict) -> None:
    """The figures as JSON at `path` (its folder made), written atomically."""
    from utils.files import write_text_atomic
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(figures, indent=2, default=str))
