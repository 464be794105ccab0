"""How a job's entry point is called: its settings become one `EnhanceRequest`, and each call is
recorded in the job history passed as `history=` (settings, model, device, times, output, status,
failures included)."""
from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from pathlib import Path

from engine.job_config import JobConfig, job_config
from engine.jobs.resume import settings_key
from engine.request import EnhanceRequest
from utils.errors import Cancelled, UserError


def job_entry(kind: str, defaults: Callable[[JobConfig], EnhanceRequest]):
    """Wrap `function(source, request, *, config, ...)` so that it is also called the seed's way,
    `function(source, model_name, scale, *, model_manager, tile=..., fp32=..., ...)`: keywords the
    function does not take are the job's settings, put over `request=` (default: `defaults(config)`)
    and validated once; an unknown one is an error."""
    def wrap(function):
        own = set(inspect.signature(function).parameters)

        @functools.wraps(function)
        def call(source, model_name: str | None = None, scale: float | None = None, *,
                 request: EnhanceRequest | None = None, config=None, history=None, batch_id: str | None = None,
                 **kwargs):
            config = job_config(config)
            settings = {key: kwargs.pop(key) for key in list(kwargs) if key not in own}
            settings.update({k: v for k, v in (("model", model_name), ("outscale", scale)) if v is not None})
            request = EnhanceRequest.from_dict(settings, base=request or defaults(config))
            if history is None:
                return function(source, request, config=config, **kwargs)
            recorded = request.to_dict()
            common = dict(kind=kind if batch_id is None else "batch-item", settings=recorded, model=request.model,
                          input_path=source if isinstance(source, (str, Path)) else None, started_at=time.time(),
                          batch_id=batch_id, settings_key=settings_key(recorded))
            try:
                result = function(source, request, config=config, **kwargs)
            except Exception as error:
                history.record(**common, device=None, status="cancelled" if isinstance(error, Cancelled) else "failed",
                               error=str(error) if isinstance(error, UserError) else type(error).__name__)
                raise
            history.record(**common, device=getattr(result, "device", None) or result.metrics.get("device"),
                           status="ok", output_path=result.output_path)
            return result
        return call
    return wrap
