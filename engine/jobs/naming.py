"""Output names: a template ({stem}, {model}, {scale}, {ext}, {date}) for the name, the extension
always the app's own; distinct names for inputs that share a stem; "never overwrite".

Templates are parsed here, not with `str.format`: a format spec (`{stem:>100000000}`) would be a
memory bomb and a field path (`{stem.__class__}`) an attribute walk, so both are refused.
"""
from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from utils.errors import InvalidInput
from utils.image_formats import OUTPUT_FORMATS
from utils.validation import sanitize_filename

PLACEHOLDERS = ("stem", "model", "scale", "ext", "date")
KEEP_NAME_TEMPLATE = "{stem}.{ext}"
FINAL_EXTENSION = ".{ext}"
MAX_TEMPLATE_CHARS = 200
# Every extension the app writes; a result never gets any other (an .html or .svg result would be
# a stored script in the app's origin).
# (Video results: the containers of engine.jobs.video.CODECS, which a test keeps in step with this.)
RESULT_EXTENSIONS = frozenset({*OUTPUT_FORMATS, "mp4", "webm", "zip"})
_FIELD = re.compile(r"\{([^{}]*)\}|\{\{|\}\}|[{}]")


def template_parts(template: str) -> list[tuple[str, bool]]:
    """The template as (text, is_placeholder) pieces; anything but a plain known placeholder is refused."""
    if len(template) > MAX_TEMPLATE_CHARS:
        raise InvalidInput(f"The name template is {len(template)} characters long; use at most {MAX_TEMPLATE_CHARS}.")
    parts: list[tuple[str, bool]] = []
    position = 0
    for match in _FIELD.finditer(template):
        if match.start() > position:
            parts.append((template[position:match.start()], False))
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append((token[0], False))
            continue
        field = match.group(1)
        if field in PLACEHOLDERS:
            parts.append((field, True))
            continue
        inside = field if field is not None else template[match.end():]
        name, extra = re.match(r"([^:!.\[{}]*)(.?)", inside).groups()  # type: ignore[union-attr]
        if name in PLACEHOLDERS and extra in (":", "!", ".", "["):
            raise InvalidInput(f"The name template's {{{name}{extra}...}} has a format or field part; "
                               f"write plain {{{name}}} (nothing else inside the braces).")
        if field is None:
            raise InvalidInput("The name template has an unmatched brace; write {{ or }} for a literal one.")
        known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        raise InvalidInput(f"The name template uses {{{field}}}; use {known}.")
    if position < len(template):
        parts.append((template[position:], False))
    return parts


def check_template(template: str) -> str:
    if "/" in template or "\\" in template:
        raise InvalidInput("The name template names a file, not a folder; leave out '/' and '\\'.")
    parts = template_parts(template)
    if len(parts) < 2 or parts[-1] != ("ext", True) or not parts[-2][0].endswith(".") or parts[-2][1]:
        raise InvalidInput("The name template must end with .{ext}; the app chooses the file type "
                           "(e.g. {stem}_{model}.{ext}).")
    return template


def render_name(template: str, *, stem: str, model: str, scale: float, ext: str) -> str:
    """One safe file name (no folders) from the template, ending in `.ext` (one of the app's own)."""
    ext = check_extension(ext)
    check_template(template)
    values = {"stem": stem, "model": model.replace("/", "-"), "scale": f"{scale:g}x", "ext": ext,
              "date": time.strftime("%Y%m%d")}
    base = "".join(values[text] if placeholder else text for text, placeholder in template_parts(template)[:-1])
    base = sanitize_filename(base[:-1], default=stem, max_length=120 - len(ext) - 1)
    return f"{base}.{ext}"


def check_extension(ext: str) -> str:
    ext = ext.lower().lstrip(".")
    if ext not in RESULT_EXTENSIONS:
        raise InvalidInput(f"{ext!r} is not a result type this app writes.")
    return ext


def distinct_stems(paths: Iterable[Path]) -> dict[Path, str]:
    """Each input's stem for its result's name. Inputs that share a stem (`pic.png`, `pic.gif`) get
    their own extension added (`pic-png`, `pic-gif`); any still alike get `-2`, `-3`, ... in order."""
    paths = list(paths)
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in paths:
        groups[sanitize_filename(path.stem).casefold()].append(path)
    stems: dict[Path, str] = {}
    taken: set[str] = set()
    for path in paths:
        stem = sanitize_filename(path.stem)
        if len(groups[stem.casefold()]) > 1:
            stem = sanitize_filename(f"{stem}-{path.suffix.lstrip('.').lower() or 'file'}")
        candidate, number = stem, 2
        while candidate.casefold() in taken:
            candidate, number = f"{stem}-{number}", number + 1
        taken.add(candidate.casefold())
        stems[path] = candidate
    return stems


def unused_path(path: Path) -> Path:
    """`path`, or `name (2).ext`, `name (3).ext`, ... whichever does not exist yet."""
    if not path.exists():
        return path
    for number in range(2, 100_000):
        candidate = path.with_name(f"{path.stem} ({number}){path.suffix}")
        if not candidate.exists():
            return candidate
    raise InvalidInput(f"Too many files named like {path.name} in {path.parent}.")
