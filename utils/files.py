"""Atomic file writes: a temporary file in the same directory, fsync, then os.replace."""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


class OutputWriteError(OSError):
    """Writing an output failed for a reason the user can fix (disk full, read-only, no permission)."""

    def __init__(self, path: Path, cause: OSError):
        super().__init__(cause.errno, describe_os_error(path, cause))
        self.path = path

    def __str__(self) -> str:
        return self.strerror or super().__str__()


def describe_os_error(path: Path, error: OSError) -> str:
    where = path.parent if path.suffix else path
    if error.errno == errno.ENOSPC:
        return f"The disk holding {where} is full; free some space or choose another output folder."
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"Cannot write to {where} (read-only or no permission); choose another output folder."
    return f"Cannot write {path.name} in {where}: {error.strerror or error}."


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600; results follow the umask like any file
        os.close(fd)
    except OSError as error:
        raise OutputWriteError(path, error) from error
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        if isinstance(error, OutputWriteError):
            raise
        raise OutputWriteError(path, error) from error
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def file_sha256(path: str | Path | None) -> str | None:
    """The file's SHA256 in hex, or None when there is no path or it cannot be read."""
    if not path:
        return None
    try:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    except OSError:
        return None


def current_umask() -> int:
    """This process's umask, read without changing it (Linux); elsewhere the one it had at import."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return _UMASK_AT_IMPORT


def _read_umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it; done once, before any worker thread
    os.umask(mask)
    return mask


_UMASK_AT_IMPORT = _read_umask()


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def _fsync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())
