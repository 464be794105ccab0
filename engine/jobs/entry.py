"""How a job's entry point is called: its settings become one `EnhanceRequest`, and each call is
recorded in the job history passed as `history=` (settings, model, device, times, output, status,
failures included: a refused setting too)."""
from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.job_config import JobConfig, job_config
from engine.jobs.resume import settings_key
from engine.request import EnhanceRequest
from utils.errors import Cancelled, UserError


def job_entry(kind: str, defaults: Callable[[JobConfig], EnhanceRequest]):
    """Wrap `function(source, request, *, config, ...)` so that it is called as
    `function(source, request_or_model_name=None, scale=None, *, request=None, config=None,
    history=None, batch_id=None, **keywords)`: the keywords the function does not take are the
    job's settings (the seed's names too: `fp32`, `gpu_id`, `face_options`), put over the request
    (default: `defaults(config)`) and validated once; an unknown one is an error. `config` is a
    JobConfig, an AppConfig or None (the defaults)."""
    def wrap(function):
        own = set(inspect.signature(function).parameters)

        @functools.wraps(function)
        def call(source, model_name: str | EnhanceRequest | None = None, scale: float | None = None, *,
                 request: EnhanceRequest | None = None, config=None, history=None, batch_id: str | None = None,
                 **kwargs):
            if isinstance(model_name, EnhanceRequest):  # enhance_image_direct(path, EnhanceRequest(...))
                request, model_name = model_name, None
            config = job_config(config)
            settings = {key: kwargs.pop(key) for key in list(kwargs) if key not in own}
            settings.update({k: v for k, v in (("model", model_name), ("outscale", scale)) if v is not None})
            started = time.time()
            try:
                job = EnhanceRequest.from_dict(settings, base=request or defaults(config)).checked_for(kind)
            except UserError as error:
                if history is not None:
                    record(history, kind, source, batch_id, started, settings_of(request, settings),
                           status="failed", error=str(error))
                raise
            if history is None:
                return function(source, job, config=config, **kwargs)
            try:
                result = function(source, job, config=config, **kwargs)
            except Exception as error:
                record(history, kind, source, batch_id, started, job.to_dict(),
                       status="cancelled" if isinstance(error, Cancelled) else "failed",
                       error=str(error) if isinstance(error, UserError) else type(error).__name__)
                raise
            record(history, kind, source, batch_id, started, job.to_dict(), status="ok",
                   device=getattr(result, "device", None) or result.metrics.get("device"),
                   output_path=result.output_path)
            return result
        del call.__wrapped__  # help() and inspect show how it is called, not the wrapped function
        return call
    return wrap


def settings_of(request: EnhanceRequest | None, settings: dict[str, Any]) -> dict[str, Any]:
    """What a refused call asked for: the request's fields with the given settings over them."""
    return {**(request.to_dict() if request else {}), **settings}


def record(history, kind: str, source, batch_id: str | None, started: float, settings: dict[str, Any], *,
           status: str, error: str | None = None, device: str | None = None, output_path: Path | None = None) -> None:
    history.record(kind=kind if batch_id is None else "batch-item", settings=settings,
                   model=settings.get("model") or settings.get("model_name"),
                   input_path=source if isinstance(source, (str, Path)) else None, started_at=started,
                   batch_id=batch_id, settings_key=settings_key(settings), device=device, status=status,
                   error=error, output_path=output_path)
