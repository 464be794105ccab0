"""Where a web job's results go: one new folder per job, under its user's folder, so no two jobs or
users ever share a result path and no one can guess another job's folder."""
from __future__ import annotations

import contextlib
import hashlib
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from utils.errors import OutputError
from utils.files import atomic_path, describe_os_error
from utils.image_formats import ACCEPTED_EXTENSIONS
from utils.validation import sanitize_filename


def owner_folder(owner: str | None) -> str:
    """The output subfolder of one user's jobs: `local` without logins, else `user-<name>-<hash>`
    (the hash keeps two names that sanitise alike apart)."""
    if not owner:
        return "local"
    digest = hashlib.sha256(owner.encode("utf-8")).hexdigest()[:10]
    return f"user-{sanitize_filename(owner, default='x', max_length=32)}-{digest}"


def new_job_folder(output_dir: str | Path, owner: str | None, kind: str) -> Path:
    """A new, empty folder for one job's results (`outputs/local/image-20261201-142055-3f9c2a1b`):
    no two jobs or users ever share a result path, and no one can guess another job's folder."""
    parent = Path(output_dir) / owner_folder(owner)
    while True:
        folder = parent / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(6)}"
        try:
            parent.mkdir(parents=True, exist_ok=True)
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
        except OSError as error:
            raise OutputError(describe_os_error(folder, error)) from None


@contextlib.contextmanager
def job_folder(output_dir: str | Path, owner: str | None, kind: str) -> Iterator[Path]:
    """`new_job_folder` for the length of a job; removed again if the job wrote nothing (it failed,
    was refused or cancelled). A batch stopped halfway keeps what it finished."""
    folder = new_job_folder(output_dir, owner, kind)
    try:
        yield folder
    finally:
        with contextlib.suppress(OSError):
            folder.rmdir()  # succeeds only when the folder is empty


INPUT_FOLDER = "input"  # inside a job's folder: the image it was made from, for "run again"


def keep_input(source: str | Path, folder: str | Path) -> Path | None:
    """A copy of a job's input `source` in its `folder` (`<folder>/input/<name>`, written atomically),
    so that the job can be run again after the upload itself is cleaned up. None (nothing kept) when
    its extension is not an image type we read: the output folder is served, and an uploader must
    never choose what type a file there is served as (an `.html` holding a valid PNG, say)."""
    name = sanitize_filename(Path(source).name)
    if Path(name).suffix.lower() not in ACCEPTED_EXTENSIONS:
        return None
    target = Path(folder) / INPUT_FOLDER / name
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return target


def kept_input(output_path: str | Path | None, input_name: str, owner_root: str | Path) -> Path | None:
    """The input that `keep_input` kept beside the result at `output_path`, or None when it is gone or
    would lie outside `owner_root` (the folder of the owner's jobs: nothing else is ever read)."""
    if not output_path:
        return None
    candidate = Path(output_path).parent / INPUT_FOLDER / sanitize_filename(input_name)
    try:
        inside = candidate.resolve().is_relative_to(Path(owner_root).resolve())
    except (OSError, RuntimeError):
        return None
    return candidate if inside and candidate.is_file() else None
