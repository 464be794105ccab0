"""Who is calling: HTTP Basic with the web UI's logins (AUTH / AUTH_FILE), checked by the same
`LoginThrottle`, so a wrong password waits 1, 2, 4, ... seconds per client here as on the login page.
Without logins the server is single-user and every caller is the owner None."""
from __future__ import annotations

import base64
import binascii

from fastapi import Request

from ui.login import LoginThrottle
from ui.rest.errors import ApiError

CHALLENGE = {"WWW-Authenticate": 'Basic realm="Real-ESRGAN API", charset="UTF-8"'}


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic ...` header, or None when absent or malformed."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return (user, password) if sep else None


class Caller:
    """A FastAPI dependency: the calling user (None on a server without logins), or 401."""

    def __init__(self, throttle: LoginThrottle | None):
        self.throttle = throttle

    async def __call__(self, request: Request) -> str | None:
        if self.throttle is None:
            return None
        credentials = basic_credentials(request.headers.get("authorization"))
        if credentials is None:
            raise ApiError("unauthorized", "This server needs a login; send your user name and password with HTTP "
                                           "Basic auth (curl -u user:password).", CHALLENGE)
        if not await self.throttle.check(*credentials):
            raise ApiError("unauthorized", "The user name or password is wrong; check them and try again.",
                           CHALLENGE)
        return credentials[0]
