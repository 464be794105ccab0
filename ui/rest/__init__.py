"""The plain REST API under /api/v1, served by the same server as the web UI (see ui/app.py):
same logins, limits, job folders and engine calls. `create_rest_api` builds it; `RestMount` routes
/api/v1 requests to it, in front of Gradio."""
from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.types import ASGIApp, Receive, Scope, Send

from ui.login import LoginThrottle
from ui.rest.auth import Caller
from ui.rest.errors import HANDLERS
from ui.rest.routes import build_router
from ui.rest.uploads import BodyLimit
from ui.rest.work import RestContext
from ui.services import Services

PREFIX = "/api/v1"


def create_rest_api(services: Services, throttle: LoginThrottle | None) -> FastAPI:
    """The API app; `throttle` checks HTTP Basic logins (None: a server without logins)."""
    ctx = RestContext.from_services(services)
    ctx.clear_uploads()
    caller = Caller(throttle)
    api = FastAPI(title="Real-ESRGAN Ultimate REST API", version="1",
                  description="Upscale images and videos, analyse images, follow and cancel jobs. Errors are "
                              '`{"error": {"code": "...", "message": "one sentence"}}`.',
                  docs_url=None, openapi_url=None, redoc_url=None,  # served below, behind the login
                  exception_handlers=HANDLERS)  # type: ignore[arg-type]
    api.include_router(build_router(ctx, caller), prefix=PREFIX)

    @api.get(f"{PREFIX}/openapi.json", include_in_schema=False)
    async def openapi(owner: str | None = Depends(caller)):
        return api.openapi()

    @api.get(f"{PREFIX}/docs", include_in_schema=False)
    async def docs(owner: str | None = Depends(caller)):
        return get_swagger_ui_html(openapi_url=f"{PREFIX}/openapi.json", title="Real-ESRGAN Ultimate REST API")

    api.state.jobs = ctx.jobs
    return api


def is_api_path(scope: Scope) -> bool:
    path, root = scope.get("path", ""), scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    return path == PREFIX or path.startswith(PREFIX + "/")


class RestMount:
    """ASGI middleware in Gradio's app: /api/v1 requests go to the REST API (their body capped at
    MAX_UPLOAD_MB), everything else to Gradio."""

    def __init__(self, app: ASGIApp, api: FastAPI, max_upload_mb: int):
        self.app = app
        self.api = BodyLimit(api, max_upload_mb * 1024 * 1024, max_upload_mb)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_api_path(scope):
            return await self.api(scope, receive, send)
        return await self.app(scope, receive, send)
