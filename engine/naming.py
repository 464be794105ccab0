"""Output names from a template ({stem}, {model}, {scale}, {ext}, {date}) and "never overwrite"."""
from __future__ import annotations

import string
import time
from pathlib import Path

from utils.errors import InvalidInput
from utils.validation import sanitize_filename

PLACEHOLDERS = ("stem", "model", "scale", "ext", "date")
KEEP_NAME_TEMPLATE = "{stem}.{ext}"


def check_template(template: str) -> str:
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError:
        raise InvalidInput(f"The name template {template!r} has unbalanced braces.") from None
    unknown = [f for f in fields if f not in PLACEHOLDERS]
    if unknown:
        raise InvalidInput(f"The name template uses {{{unknown[0]}}}; use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}.")
    if "{ext}" not in template:
        raise InvalidInput("The name template must end the name with {ext} so the file type is right.")
    return template


def render_name(template: str, *, stem: str, model: str, scale: float, ext: str) -> str:
    """One safe file name (no folders) from the template."""
    name = check_template(template).format(stem=stem, model=model.replace("/", "-"), scale=f"{scale:g}x",
                                           ext=ext, date=time.strftime("%Y%m%d"))
    return sanitize_filename(name, default=f"{stem}.{ext}")


def unused_path(path: Path) -> Path:
    """`path`, or `name (2).ext`, `name (3).ext`, ... whichever does not exist yet."""
    if not path.exists():
        return path
    for number in range(2, 100_000):
        candidate = path.with_name(f"{path.stem} ({number}){path.suffix}")
        if not candidate.exists():
            return candidate
    raise InvalidInput(f"Too many files named like {path.name} in {path.parent}.")
