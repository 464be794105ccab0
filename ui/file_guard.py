"""How the server hands out files: results and uploads never run as pages in the app's origin, and
with logins each user fetches only their own results.

An ASGI middleware around Gradio's file routes (`/gradio_api/file=...`, `/gradio_api/file/...`):
- every answer gets `X-Content-Type-Options: nosniff` and a `Content-Security-Policy` that forbids
  scripts (it applies when a file is opened as a page; images shown in <img> are unaffected);
- only result media (PNG, JPEG, WebP, ... MP4, WebM) are served inline; anything else (HTML, SVG,
  text, an upload with any name) is sent as an attachment of type application/octet-stream;
- when the server has logins, a file under the output folder is served only to the user whose
  folder it is in (others get 404, as if it did not exist).
"""
from __future__ import annotations

import logging
from pathlib import Path

from starlette.requests import Request

from engine.jobs.job_folders import owner_folder

log = logging.getLogger(__name__)

FILE_ROUTES = ("/gradio_api/file=", "/gradio_api/file/", "/file=", "/file/")
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff",
                          "image/avif", "video/mp4", "video/webm", "video/x-matroska", "video/quicktime",
                          "audio/mpeg", "audio/ogg", "audio/wav", "audio/x-wav"})
SECURITY_HEADERS = ((b"x-content-type-options", b"nosniff"),
                    (b"content-security-policy", b"default-src 'none'; img-src 'self' data:; media-src 'self'; "
                                                 b"style-src 'unsafe-inline'; sandbox"))


def requested_file(path: str, root_path: str = "") -> str | None:
    """The file path a file route asks for, or None when `path` is not a file route. `root_path` is
    the ASGI root path (the app mounted below a prefix, e.g. behind a proxy)."""
    if root_path and path.startswith(root_path):
        path = path[len(root_path):]
    for prefix in FILE_ROUTES:
        if path.startswith(prefix):
            return path[len(prefix):]  # the ASGI path is already percent-decoded, as Gradio reads it
    return None


def owner_of(file_path: str, output_dir: Path) -> str | None:
    """The first folder of `file_path` under the output folder, or None when it is elsewhere."""
    try:
        relative = Path(file_path).resolve().relative_to(output_dir)
    except (ValueError, OSError, RuntimeError):
        return None
    return relative.parts[0] if len(relative.parts) > 1 else ""


class FileGuard:
    def __init__(self, app, output_dir: str | Path, logins: bool):
        self.app = app
        self.output_dir = Path(output_dir).resolve()
        self.logins = logins

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        wanted = requested_file(scope.get("path", ""), scope.get("root_path", ""))
        if wanted is None:
            return await self.app(scope, receive, send)
        if self.logins:
            folder = owner_of(wanted, self.output_dir)
            if folder is not None and folder != owner_folder(current_user(scope)):
                log.info("refused %s to another user", wanted)
                return await not_found(send)

        async def guarded_send(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": guarded_headers(message.get("headers", []))}
            await send(message)
        return await self.app(scope, receive, guarded_send)


def guarded_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in headers if k.lower() not in (b"x-content-type-options", b"content-security-policy")]
    content_type = next((v for k, v in kept if k.lower() == b"content-type"), b"").split(b";")[0].strip().lower()
    if content_type.decode("latin-1") not in INLINE_TYPES:
        kept = [(k, v) for k, v in kept if k.lower() not in (b"content-type", b"content-disposition")]
        kept += [(b"content-type", b"application/octet-stream"), (b"content-disposition", b"attachment")]
    return kept + list(SECURITY_HEADERS)


def current_user(scope) -> str | None:
    """The logged-in user of a request, read the way Gradio's own `/user` route reads it."""
    app = scope.get("app")
    tokens, cookie_id = getattr(app, "tokens", None), getattr(app, "cookie_id", None)
    if not tokens or not cookie_id:
        return None
    cookies = Request(scope).cookies
    token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
    return tokens.get(token) if token else None


async def not_found(send) -> None:
    body = b'{"detail":"Not Found"}'
    await send({"type": "http.response.start", "status": 404,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
