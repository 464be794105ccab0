"""The REST routes: each parses the request, hands the work to the engine (through the job queue's
worker threads) and formats the answer. Errors are `ApiError`s (see errors.py)."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from engine.jobs.image import image_defaults
from engine.jobs.video import video_defaults
from engine.request import HINTS, EnhanceRequest
from ui.rest.errors import CODES, ApiError, as_api_error, error_body
from ui.rest.jobs import FINISHED, Job, QueueFull
from ui.rest.uploads import job_request, read_form, remove_upload, store_upload, the_upload
from ui.rest.work import RestContext, is_large
from utils.gpu import GPUDetector

MEDIA_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
               ".mp4": "video/mp4", ".webm": "video/webm", ".mkv": "video/x-matroska", ".mov": "video/quicktime"}
ANALYSES_AT_ONCE = 2  # as the web UI's "analysis" concurrency group
DISCONNECT_POLL_S = 1.0
ERRORS = {status: {"description": ", ".join(code for code, s in CODES.items() if s == status) + ' (body: '
                   '{"error": {"code": ..., "message": ...}})'} for status in sorted(set(CODES.values()))}


def field_schema(name: str) -> dict[str, Any]:
    hint = HINTS[name]
    types = set(getattr(hint, "__args__", (hint,)))
    kind = ("boolean" if bool in types else "string" if str in types else "integer" if int in types
            else "number" if float in types else "string")
    return {"type": kind, "default": EnhanceRequest.__dataclass_fields__[name].default}


def multipart_body(file_field: str, media: str) -> dict:
    """The OpenAPI request body of an upload route: the file, a JSON `settings` object and each
    `EnhanceRequest` field as a form field (the engine checks them; unknown names are refused)."""
    properties = {file_field: {"type": "string", "format": "binary", "description": media},
                  "settings": {"type": "string", "description": 'The settings as one JSON object, e.g. '
                               '{"model": "realesr-animevideov3", "outscale": 2}; form fields override it.'}}
    properties.update({name: field_schema(name) for name in EnhanceRequest.__dataclass_fields__})
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": [file_field], "properties": properties}}}}}


def job_error(job: Job) -> ApiError:
    """Why a job failed or stopped, as the API tells it."""
    if job.error is None:
        return ApiError("cancelled", "The job was cancelled before it started.")
    return as_api_error(job.error, job.error_message)


def job_json(job: Job) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": job.id, "kind": job.kind, "status": job.status, "progress": round(job.progress, 4),
        "done": job.done, "total": job.total, "note": job.note, "seconds_left": job.seconds_left(),
        "created_at": job.created_at, "started_at": job.started_at, "finished_at": job.finished_at,
        "status_url": f"/api/v1/jobs/{job.id}", "result_url": None}
    if job.status == "done":
        body["result_url"] = f"/api/v1/jobs/{job.id}/result"
        body["result"] = job.details
    elif job.status in ("failed", "cancelled"):
        error = job_error(job)
        body["error"] = error_body(error.code, error.message)["error"]
    return body


def result_response(job: Job) -> FileResponse:
    path = job.result_path
    assert path is not None
    return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream"),
                        filename=path.name, content_disposition_type="attachment",
                        headers={"X-Content-Type-Options": "nosniff", "X-Job-Id": job.id})


def accepted(job: Job) -> JSONResponse:
    return JSONResponse(job_json(job), status_code=202, headers={"Location": f"/api/v1/jobs/{job.id}"})


def build_router(ctx: RestContext, caller) -> APIRouter:
    router = APIRouter(responses=ERRORS)
    config = ctx.services.config
    jobs = ctx.jobs
    analysis_slots = anyio.CapacityLimiter(ANALYSES_AT_ONCE)

    async def receive_upload(request: Request, file_field: str, base: EnhanceRequest) -> tuple[Path, EnhanceRequest]:
        form = await read_form(request, config.MAX_UPLOAD_MB)
        try:
            upload = the_upload(form, file_field)
            job_settings = job_request(form, base)
            return await run_in_threadpool(store_upload, upload, ctx.uploads_dir, file_field), job_settings
        finally:
            await form.close()

    def submit(kind: str, owner: str | None, path: Path, work) -> Job:
        try:
            return jobs.submit(kind, owner, work)
        except QueueFull:
            remove_upload(path)
            raise ApiError("busy", "The server is busy (every worker is taken and the queue is full); try again in "
                                   "a minute.", {"Retry-After": "30"}) from None

    def own_job(job_id: str, owner: str | None) -> Job:
        job = jobs.get(job_id, owner)
        if job is None:
            raise ApiError("not_found", f"There is no job {job_id[:40]!r} of yours; it may have been forgotten "
                                        "after a restart.")
        return job

    async def wait_for(job: Job, request: Request) -> None:
        """Until the job ends; a client that hangs up cancels it (the worker stops at the next tile)."""
        waiting = asyncio.wrap_future(job.future)  # type: ignore[arg-type]
        while not waiting.done():
            await asyncio.wait({waiting}, timeout=DISCONNECT_POLL_S)
            if not waiting.done() and await request.is_disconnected():
                jobs.cancel(job)

    @router.post("/upscale", summary="Upscale one image", openapi_extra=multipart_body("image", "the image"),
                 responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}},
                                  "description": "The result image (attachment)"},
                            202: {"description": "A job (with ?async=true, or for a result over 16 MP)"}})
    async def upscale(request: Request, owner: str | None = Depends(caller),
                      run_async: bool = Query(False, alias="async",
                                              description="Answer at once with a job id (202) instead of the image")):
        path, job_settings = await receive_upload(request, "image", image_defaults(config.engine))
        later = run_async or await run_in_threadpool(is_large, path, job_settings)
        job = submit("image", owner, path, lambda job: ctx.upscale_image(job, path, job_settings))
        if later:
            return accepted(job)
        await wait_for(job, request)
        if job.status != "done":
            raise job_error(job)
        return result_response(job)

    @router.post("/video", summary="Upscale a video (answers with a job id)", status_code=202,
                 openapi_extra=multipart_body("video", "the video (MP4, MOV, MKV, WebM, AVI)"))
    async def video(request: Request, owner: str | None = Depends(caller)):
        if not config.ENABLE_VIDEO_PROCESSING:
            raise ApiError("bad_input", "Video processing is turned off on this server "
                                        "(REALESRGAN_ENABLE_VIDEO_PROCESSING=false).")
        path, job_settings = await receive_upload(request, "video", video_defaults(config.engine))
        return accepted(submit("video", owner, path, lambda job: ctx.upscale_video(job, path, job_settings)))

    @router.post("/analyze", summary="Recommended settings for an image",
                 openapi_extra=multipart_body("image", "the image"))
    async def analyze(request: Request, owner: str | None = Depends(caller)):
        form = await read_form(request, config.MAX_UPLOAD_MB)
        try:
            upload = the_upload(form, "image")
            if set(form) - {"image"}:
                raise ApiError("bad_input", "Analysis takes only the image; leave the settings out.")
            path = await run_in_threadpool(store_upload, upload, ctx.uploads_dir, "image")
        finally:
            await form.close()
        try:
            return await anyio.to_thread.run_sync(ctx.analyze, path, limiter=analysis_slots)
        except Exception as error:  # one sentence, with its code
            raise as_api_error(error) from None

    @router.get("/jobs/{job_id}", summary="A job's status, progress, time left and result URL")
    async def job_status(job_id: str, owner: str | None = Depends(caller)):
        return job_json(own_job(job_id, owner))

    @router.get("/jobs/{job_id}/result", summary="A finished job's result file",
                responses={200: {"content": {"image/png": {}, "video/mp4": {}}, "description": "The result"}})
    async def job_result(job_id: str, owner: str | None = Depends(caller)):
        job = own_job(job_id, owner)
        if job.status == "done" and job.result_path is not None and job.result_path.is_file():
            return result_response(job)
        if job.status == "done":
            raise ApiError("not_found", f"Job {job.id}'s result is no longer on the server.")
        reason = f" ({job_error(job).message})" if job.error else ""
        raise ApiError("not_finished", f"Job {job.id} is {job.status}{reason}; its result exists only once it is "
                                       "done (poll its status).")

    @router.delete("/jobs/{job_id}", summary="Cancel a waiting or running job")
    async def cancel(job_id: str, owner: str | None = Depends(caller)):
        job = own_job(job_id, owner)
        if job.status in FINISHED:
            raise ApiError("already_ended", f"Job {job.id} has already ended ({job.status}); there is nothing to "
                                            "cancel.")
        jobs.cancel(job)
        return job_json(job)

    @router.get("/models", summary="The models this server knows, and which are ready")
    def models(owner: str | None = Depends(caller)):
        return {"models": [{"name": row.name, "kind": row.kind, "status": row.status, "available": row.available,
                            "scale": row.scale, "size_bytes": row.size_bytes, "description": row.description}
                           for row in ctx.services.manager.list_models()],
                "default": config.DEFAULT_MODEL}

    @router.get("/system", summary="Health, devices, queue and limits")
    def system(owner: str | None = Depends(caller)):
        try:
            device = ctx.services.manager.device_for().reason
        except Exception as error:  # e.g. REALESRGAN_DEVICE=cuda on a machine without one: still healthy
            device = as_api_error(error).message
        running = sum(job.status == "running" for job in list(jobs.jobs.values()))
        return {"status": "ok", "time": time.time(), "device": device, "system": GPUDetector.get_system_info(),
                "queue": {"running": running, "waiting": jobs.active() - running, "workers": jobs.workers,
                          "max_waiting": jobs.max_waiting},
                "limits": {"max_upload_mb": config.MAX_UPLOAD_MB, "max_image_pixels": config.MAX_IMAGE_PIXELS,
                           "max_output_pixels": config.MAX_OUTPUT_PIXELS, "max_video_seconds": config.MAX_VIDEO_SECONDS,
                           "job_time_limit_s": config.JOB_TIME_LIMIT_S},
                "video": config.ENABLE_VIDEO_PROCESSING, "faces": config.ENABLE_FACE_ENHANCEMENT,
                "auth": bool(config.LOGINS)}

    return router
