"""The REST API's jobs: a bounded queue in front of a pool of worker threads.

`CONCURRENCY_LIMIT` jobs run at once (in threads, never on the server's event loop) and at most
`QUEUE_MAX_SIZE` more wait; past that `submit` raises `QueueFull`, which the API answers with 503.
Each job keeps its owner (the logged-in user, or None without logins), its progress and, once
finished, its result file or its error. Finished jobs are forgotten after `KEEP_FINISHED` newer ones
(their results stay in the output folder).
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utils.errors import Cancelled, describe_error
from utils.progress import ProgressEstimate

log = logging.getLogger(__name__)

KEEP_FINISHED = 1000
FINISHED = ("done", "failed", "cancelled")


class QueueFull(Exception):
    """Every worker is busy and the waiting line is full."""


@dataclass
class Job:
    id: str
    kind: str  # "image" or "video"
    owner: str | None
    created_at: float = field(default_factory=time.time)
    status: str = "queued"  # queued, running, done, failed, cancelled
    done: int = 0
    total: int = 0
    note: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    result_path: Path | None = None
    details: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None
    error_message: str = ""  # the error's one sentence, worked out (and logged) once
    cancel_event: threading.Event = field(default_factory=threading.Event)
    future: Future | None = None
    # the rate since the first report, or a one-tile job's expected seconds (the UI's estimate)
    estimate: ProgressEstimate = field(default_factory=lambda: ProgressEstimate(lambda *_: None))

    def report(self, done: int, total: int, note: str) -> None:
        """The engine's `on_progress(done, total, note)`."""
        self.estimate(done, total, note)
        self.done, self.total, self.note = done, total, str(note)

    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    @property
    def progress(self) -> float:
        if self.status == "done":
            return 1.0
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0

    def seconds_left(self) -> float | None:
        if self.status in FINISHED:
            return 0.0 if self.status == "done" else None
        return self.estimate.seconds_left(time.monotonic(), self.done, self.total)


Work = Callable[[Job], tuple[Path, dict[str, Any]]]


class JobQueue:
    def __init__(self, *, workers: int, max_waiting: int, keep_finished: int = KEEP_FINISHED):
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rest-job")
        self.workers, self.max_waiting, self.keep_finished = workers, max_waiting, keep_finished
        self.lock = threading.Lock()
        self.jobs: OrderedDict[str, Job] = OrderedDict()

    def active(self) -> int:
        """Jobs waiting or running (a snapshot: other threads add jobs meanwhile)."""
        return sum(job.status in ("queued", "running") for job in list(self.jobs.values()))

    def submit(self, kind: str, owner: str | None, work: Work) -> Job:
        """Queue `work(job)`, which returns (result path, details); raises QueueFull when the line is full."""
        with self.lock:
            if self.active() >= self.workers + self.max_waiting:
                raise QueueFull()
            job = Job(secrets.token_urlsafe(12), kind, owner)
            self.jobs[job.id] = job
            self._forget_old()
            job.future = self.pool.submit(self._run, job, work)
        return job

    def get(self, job_id: str, owner: str | None) -> Job | None:
        """The job, only for its owner (another user's job is as unknown as a made-up id)."""
        job = self.jobs.get(job_id)
        return job if job is not None and job.owner == owner else None

    def cancel(self, job: Job) -> None:
        """A waiting job is dropped at once; a running one stops at its next tile or frame."""
        job.cancel_event.set()
        with self.lock:
            if job.status == "queued" and job.future is not None and job.future.cancel():
                self._finish(job, "cancelled")

    def wait(self, job: Job, timeout_s: float | None = None) -> Job:
        if job.future is not None and not job.future.cancelled():
            job.future.exception(timeout=timeout_s)  # returns once done; _run never raises
        return job

    def shutdown(self) -> None:
        for job in list(self.jobs.values()):
            job.cancel_event.set()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, job: Job, work: Work) -> None:
        with self.lock:
            if job.status != "queued":
                return
            if job.cancelled():
                self._finish(job, "cancelled")
                return
            job.status, job.started_at = "running", time.time()
        try:
            path, details = work(job)
        except Cancelled as error:
            job.error, job.error_message = error, str(error)
            status = "cancelled"
        except Exception as error:  # reported to the caller as one sentence; describe_error logs the rest
            job.error, job.error_message = error, describe_error(error)
            status = "failed"
        else:
            job.result_path, job.details = path, details
            status = "done"
        with self.lock:
            self._finish(job, status)

    def _finish(self, job: Job, status: str) -> None:
        job.status, job.finished_at = status, time.time()
        log.info("REST job %s (%s) %s", job.id, job.kind, status)

    def _forget_old(self) -> None:
        finished = [job_id for job_id, job in self.jobs.items() if job.status in FINISHED]
        for job_id in finished[:max(0, len(finished) - self.keep_finished)]:
            del self.jobs[job_id]
