"""The engine calls behind the REST routes, each run in a worker thread: the same entry points,
limits, job folders and history as the web UI's handlers."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from engine.jobs.image import enhance_image_direct
from engine.jobs.job_control import JobControl
from engine.jobs.video import enhance_video_direct
from engine.request import EnhanceRequest
from ui.rest.jobs import Job, JobQueue
from ui.rest.uploads import remove_upload
from ui.services import Services
from utils.errors import UserError
from utils.image_formats import pillow_ids_for
from utils.images import read_image

# An image whose result is larger than this is answered with a job id (202), not waited for.
ASYNC_ABOVE_PIXELS = 16_000_000


@dataclass
class RestContext:
    services: Services
    jobs: JobQueue
    uploads_dir: Path

    @classmethod
    def from_services(cls, services: Services) -> "RestContext":
        config = services.config
        return cls(services, JobQueue(workers=config.CONCURRENCY_LIMIT, max_waiting=config.QUEUE_MAX_SIZE),
                   config.DATA_DIR / "api-uploads")

    def clear_uploads(self) -> None:
        """Uploads left by a server that stopped mid-job (each job removes its own when it ends)."""
        shutil.rmtree(self.uploads_dir, ignore_errors=True)
        self.uploads_dir.mkdir(parents=True, exist_ok=True)

    def control(self, job: Job) -> JobControl:
        return JobControl(cancelled=job.cancelled, time_limit_s=self.services.config.JOB_TIME_LIMIT_S)

    def run_file_job(self, entry, kind: str, job: Job, path: Path, request: EnhanceRequest):
        """`Services.run_owned` on the uploaded file at `path` for the job's owner; the upload is
        removed after."""
        try:
            return self.services.run_owned(entry, path, request, owner=job.owner, kind=kind, on_progress=job.report,
                                           should_cancel=self.control(job))
        finally:
            remove_upload(path)

    def upscale_image(self, job: Job, path: Path, request: EnhanceRequest) -> tuple[Path, dict[str, Any]]:
        result = self.run_file_job(enhance_image_direct, "image", job, path, request)
        height, width = result.image.shape[:2]
        return result.output_path, {"width": width, "height": height, "format": result.details["format"],
                                    "status": result.status, "metrics": result.metrics}

    def upscale_video(self, job: Job, path: Path, request: EnhanceRequest) -> tuple[Path, dict[str, Any]]:
        video = self.run_file_job(enhance_video_direct, "video", job, path, request)
        return video.output_path, {"width": video.width, "height": video.height, "frames": video.frames,
                                   "fps": float(video.fps), "status": video.status, "notes": list(video.notes)}

    def analyze(self, path: Path) -> dict[str, Any]:
        config = self.services.config
        try:
            decoded = read_image(path, max_bytes=config.MAX_IMAGE_BYTES, max_pixels=config.MAX_IMAGE_PIXELS)
            return self.services.enhancer.get_intelligent_settings(decoded.pixels)
        finally:
            remove_upload(path)


def result_pixels(path: Path, request: EnhanceRequest) -> int | None:
    """The result's pixel count read from the file's header (no decoding), or None when the header
    does not tell (the job itself then reports what is wrong)."""
    try:
        with Image.open(path, formats=pillow_ids_for(path.name)) as image:
            width, height = image.size
        scale = request.outscale_for(width, height)
    except (OSError, ValueError, UserError, Image.DecompressionBombError):
        return None
    passes = 2 if request.double_pass else 1
    return int(width * height * scale ** (2 * passes))


def is_large(path: Path, request: EnhanceRequest) -> bool:
    return (result_pixels(path, request) or 0) > ASYNC_ABOVE_PIXELS
