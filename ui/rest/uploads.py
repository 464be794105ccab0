"""What a REST request brings: its upload (size-checked before it is read, stored under a
server-made name) and the job's settings (form fields and/or a JSON `settings` field), turned into
the one typed `EnhanceRequest`."""
from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.request import HINTS, EnhanceRequest
from ui.rest.errors import ApiError, error_body
from utils.errors import InvalidInput
from utils.validation import sanitize_filename

TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
NOT_SETTINGS = ("image", "video", "settings")


def too_large(limit_mb: int) -> ApiError:
    return ApiError("too_large", f"The upload is over this server's {limit_mb} MB limit; send a smaller file or ask "
                                 "the administrator to raise REALESRGAN_MAX_UPLOAD_MB.")


class BodyLimit:
    """ASGI: refuse a request body over `max_bytes` with 413, from its Content-Length before reading
    anything, or as soon as a body without one (chunked) passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, limit_mb: int):
        self.app, self.max_bytes, self.limit_mb = app, max_bytes, limit_mb

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await self.refuse(send)
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge()
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)
        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            if not started:
                await self.refuse(send)

    async def refuse(self, send: Send) -> None:
        error = too_large(self.limit_mb)
        body = json.dumps(error_body(error.code, error.message)).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    pass


def form_value(name: str, text: str) -> Any:
    """A form field's text as its request field takes it: on/off fields from true/false (1/0, yes/no)."""
    if name in HINTS and HINTS[name] is bool:
        lowered = text.strip().lower()
        if lowered in TRUE:
            return True
        if lowered in FALSE:
            return False
    return text


def settings_from(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The job's settings from the form: the JSON object in `settings`, then each other field over it."""
    settings: dict[str, Any] = {}
    raw = fields.get("settings")
    if raw not in (None, ""):
        try:
            parsed = json.loads(raw)
        except (TypeError, ValueError):
            raise ApiError("bad_input", "The settings field is not valid JSON; send an object such as "
                                        '{"outscale": 2}.') from None
        if not isinstance(parsed, dict):
            raise ApiError("bad_input", 'The settings field must be a JSON object, such as {"outscale": 2}.')
        settings.update(parsed)
    for name, value in fields.items():
        if name not in NOT_SETTINGS and isinstance(value, str):
            settings[name] = form_value(name, value)
    return settings


def job_request(fields: Mapping[str, Any], base: EnhanceRequest) -> EnhanceRequest:
    """The one typed request; an unknown setting or a bad value is a 400 with the request's own sentence."""
    try:
        return EnhanceRequest.from_dict(settings_from(fields), base=base)
    except InvalidInput as error:
        raise ApiError("bad_input", str(error)) from None


async def read_form(request: Request, limit_mb: int):
    """The multipart form (files spooled to disk by Starlette); one file, a few small fields."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise ApiError("bad_input", "Send the file as multipart/form-data (curl -F image=@photo.jpg).")
    try:
        return await request.form(max_files=1, max_fields=64, max_part_size=64 * 1024)
    except BodyTooLarge:
        raise too_large(limit_mb) from None
    except Exception as error:  # Starlette's parser: malformed body, too many parts
        detail = getattr(error, "detail", None) or "malformed multipart body"
        raise ApiError("bad_input", f"The form could not be read ({detail}); send one file and settings as "
                                    "multipart/form-data.") from None


def the_upload(form, name: str) -> UploadFile:
    upload = form.get(name)
    if not isinstance(upload, UploadFile):
        example = "image=@photo.jpg" if name == "image" else "video=@clip.mp4"
        raise ApiError("bad_input", f"The request has no {name} file; send it as a form field (curl -F {example}).")
    return upload


def store_upload(upload: UploadFile, uploads_dir: Path, default_stem: str) -> Path:
    """Copy the upload to a new folder of its own under a server-made name (its stem sanitised, its
    extension lower-cased); runs in a worker thread (it is file I/O)."""
    original = Path(upload.filename or default_stem)
    stem = sanitize_filename(original.stem, default_stem, max_length=80)
    suffix = original.suffix.lower() if original.suffix.isascii() and original.suffix[1:].isalnum() else ""
    folder = uploads_dir / secrets.token_hex(8)
    folder.mkdir(parents=True)
    target = folder / f"{stem}{suffix}"
    upload.file.seek(0)
    with open(target, "wb") as out:
        shutil.copyfileobj(upload.file, out, 1024 * 1024)
    return target


def remove_upload(path: Path) -> None:
    shutil.rmtree(path.parent, ignore_errors=True)
