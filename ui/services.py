"""What the UI's handlers share: the configuration and the engine's long-lived objects."""
from __future__ import annotations

import html
import inspect
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ContextManager

import gradio as gr

from config import AppConfig
from engine.intelligent_enhancer import IntelligentEnhancer
from engine.jobs.history import History, OwnedHistory
from engine.jobs.job_control import JobControl
from engine.jobs.job_folders import job_folder, keep_input, owner_folder
from engine.models.manager import ModelManager
from engine.request import EnhanceRequest
from engine.jobs.image import image_defaults
from engine.settings_manager import SettingsManager
from utils.errors import Cancelled, UserError, WeightsMissing, describe_error
from utils.gpu import DeviceRequest, available_devices
from utils.progress import ProgressEstimate
from utils.validation import sanitize_filename

log = logging.getLogger(__name__)
DEFAULT_DEVICE = "default"
CANCELLED_NOTE = "Cancelled; nothing was written."


@dataclass
class Services:
    config: AppConfig
    manager: ModelManager
    settings: SettingsManager
    enhancer: IntelligentEnhancer
    history: History
    # output pixels per second of the last video job per model (this machine's speed, for estimates)
    video_speeds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: AppConfig) -> "Services":
        # The web UI downloads weights only from the System tab's button, never as a side effect.
        manager = ModelManager.from_config(config, downloads_on_demand=False)
        settings = SettingsManager(config.SETTINGS_FILE, config.PRESETS_FILE, config.BACKUP_DIR,
                                   defaults=image_defaults(config.engine))
        return cls(config, manager, settings,
                   IntelligentEnhancer(manager, max_output_pixels=config.MAX_OUTPUT_PIXELS,
                                       memory_reserve=config.GPU_MEMORY_RESERVE,
                                       memory_share=config.engine.memory_share),
                   History(config.HISTORY_DB))


    def remembered(self) -> EnhanceRequest:
        """The last used settings (the server's defaults before the first job, or when the remembered
        model is gone, e.g. a custom model since removed)."""
        settings = self.settings.load_settings()
        return settings if settings.model in self.manager.upscaler_names() else self.settings.defaults

    def has_remembered(self) -> bool:
        """True once a job's settings were remembered on this server."""
        return self.settings.settings_file.is_file()

    def owner(self, request: gr.Request | None) -> str | None:
        """Whose job this is: the logged-in user, or None on a server without logins (single-user)."""
        return getattr(request, "username", None) if self.config.LOGINS else None

    def history_of(self, request: gr.Request | None) -> OwnedHistory:
        """The caller's history; resume may reuse only results that this server serves."""
        return self.history.for_owner(self.owner(request), within=self.config.OUTPUT_DIR)

    def owner_root(self, request: gr.Request | None) -> Path:
        """The folder holding every job of the caller's (results and kept inputs)."""
        return self.config.OUTPUT_DIR / owner_folder(self.owner(request))

    def job_folder(self, request: gr.Request | None, kind: str) -> ContextManager[Path]:
        """`with services.job_folder(request, "image") as folder:` a new folder for this job's results."""
        return job_folder(self.config.OUTPUT_DIR, self.owner(request), kind)

    def job_control(self, token: "CancelToken", request: gr.Request | None) -> JobControl:
        """The job's stop check: the Cancel button, the client going away, the time limit."""
        return JobControl(cancelled=token.is_set, client_gone=client_gone_check(request),
                          time_limit_s=self.config.JOB_TIME_LIMIT_S)

    def run_owned(self, entry: Callable[..., Any], path: str | Path, job: EnhanceRequest, *, owner: str | None,
                  kind: str, on_progress, should_cancel) -> Any:
        """The engine's `entry` (enhance_image_direct, enhance_video_direct) on the file at `path`, in a
        new job folder of `owner`'s, the result named after the input, recorded in their history: what
        the UI and the REST API run alike."""
        with job_folder(self.config.OUTPUT_DIR, owner, kind) as folder:
            return entry(path, request=job, model_manager=self.manager, config=self.config.engine,
                         output_dir=folder, output_name=sanitize_filename(Path(path).stem), on_progress=on_progress,
                         should_cancel=should_cancel,
                         history=self.history.for_owner(owner, within=self.config.OUTPUT_DIR))

    @contextmanager
    def one_sentence(self) -> Iterator[None]:
        """Every failure inside ends in one sentence (a gr.Error already is one; the log has the
        traceback)."""
        try:
            yield
        except gr.Error:
            raise
        except Exception as error:
            raise user_error(error, downloads=self.config.ALLOW_DOWNLOADS) from None

    def run_file_job(self, entry: Callable[..., Any], path: str, make_request: Callable[[], EnhanceRequest], *,
                     kind: str, token: "CancelToken", request: gr.Request | None, progress: gr.Progress | None,
                     unit: str = "tiles") -> tuple[EnhanceRequest, Any]:
        """(the request, the result, or None when the user pressed Cancel) of `run_owned` for the
        caller of this web request, stopped by `token`, the client going away or the time limit.
        Every failure, the request's included, ends in one sentence."""
        token.reset()
        try:
            job = make_request()
            result = self.run_owned(entry, path, job, owner=self.owner(request), kind=kind,
                                    on_progress=progress_adapter(progress, unit),
                                    should_cancel=self.job_control(token, request))
        except Cancelled:
            if not token.is_set():  # the client went away or another stop: told as an error
                raise user_error(Cancelled(CANCELLED_NOTE)) from None
            return job, None  # the user's own choice: a neutral state, not an error
        except Exception as error:  # every failure ends in one sentence (the log has the traceback)
            raise user_error(error, downloads=self.config.ALLOW_DOWNLOADS) from None
        if kind == "image" and self.config.KEEP_INPUTS and getattr(result, "output_path", None):
            try:  # the input beside its result, for History's "Run again"; failing that must not fail the job
                keep_input(path, Path(result.output_path).parent)
            except (OSError, UserError) as error:
                log.warning("could not keep the input of %s: %s", Path(path).name, error)
        return job, result


def client_gone_check(request: gr.Request | None) -> Callable[[], bool] | None:
    """True once the page or API client that queued this job has disconnected. Gradio marks the
    session's events dead when its event stream closes; the running function is not told, so we ask."""
    app = getattr(getattr(request, "request", None), "app", None)
    queue = getattr(getattr(app, "blocks", None), "_queue", None)
    session = getattr(request, "session_hash", None)
    if queue is None or not session:
        return None

    def gone() -> bool:
        try:
            events = [event for job in queue.active_jobs if job for event in job if event.session_hash == session]
            return any(not event.alive for event in events)
        except (AttributeError, TypeError) as error:  # Gradio's queue changed shape: keep working, say so
            log.warning("cannot tell whether the client is still there (%s); the job runs on", error)
            return False
    return gone


class CancelToken:
    """A per-browser-session cancel flag kept in gr.State (each session gets its own copy)."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __deepcopy__(self, memo) -> "CancelToken":
        return CancelToken()

    def reset(self) -> "CancelToken":
        self.event.clear()
        return self

    def cancel(self) -> None:
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()


def user_error(error: BaseException, *, downloads: bool = True) -> gr.Error:
    """The one sentence a user reads, escaped (gr.Error renders HTML). Missing weights are told the
    web's way: the System tab when it can download (`downloads`), else the administrator; never
    server paths or settings."""
    if isinstance(error, WeightsMissing) and error.model:
        message = missing_weights_sentence(error.model, error.filename, downloads)
    else:
        message = describe_error(error)
    return gr.Error(html.escape(message, quote=False), print_exception=False)


def missing_weights_sentence(model: str, filename: str | None, downloads: bool) -> str:
    """What a web user reads about a model whose weights are not here: the System tab when this server
    can download (`downloads`), else the administrator; never server paths or settings."""
    if downloads:
        return f"{model} is not on this server yet; download it in the System tab, then try again."
    return (f"{model} is not on this server and downloads are off; choose another model, or ask the "
            f"administrator to put {filename or 'its weights file'} in the weights folder.")


def model_note(services: Services, name: str | None) -> str:
    """The note beside a model list for the chosen model: "" when its weights are here (or it is
    not a registry model), else the sentence that says what to do."""
    manager = services.manager
    if not name or name not in manager.models or manager.is_available(name):
        return ""
    sentence = missing_weights_sentence(name, manager.models[name].filename, services.config.ALLOW_DOWNLOADS)
    return f"⚠️ {html.escape(sentence, quote=False)}"


def require_weights(services: Services, name: str | None) -> None:
    """Refuse, in one sentence, a registry model whose weights are not here (before a job that would
    otherwise fail item by item)."""
    manager = services.manager
    if name and name in manager.models and not manager.is_available(name):
        spec = manager.models[name]
        raise user_error(WeightsMissing(name, model=name, filename=spec.filename),
                         downloads=services.config.ALLOW_DOWNLOADS)


def progress_adapter(progress: gr.Progress | None, unit: str = "tiles"):
    """The engine's `on_progress(done, total, note)` shown on `progress` (None: shown nowhere, as
    when a test calls a handler)."""
    def report(done: float, total: int, note: str) -> None:
        if progress is None:
            return
        if isinstance(done, int):
            progress((done, max(total, 1)), desc=note)
        else:  # a time-based share of a unit still running (ProgressEstimate): a percentage, not "0.4 / 1"
            progress(done / max(total, 1), desc=note)
    return ProgressEstimate(report, unit)




def device_dropdown(services: Services, elem_id: str) -> gr.Dropdown:
    """The configured default, then each device this machine has (CPU, CUDA GPUs, MPS)."""
    try:
        default = f"Default: {services.manager.device_for().reason}"
    except UserError as error:  # e.g. REALESRGAN_DEVICE=cuda on a machine without one
        default = f"Default: {services.config.DEVICE} ({error})"
    return gr.Dropdown([(default, DEFAULT_DEVICE), *available_devices()], value=DEFAULT_DEVICE, label="Device",
                       elem_id=elem_id)


def device_of(value: str | None) -> DeviceRequest:
    """The engine's `gpu_id` for the dropdown's value (None: the configured device)."""
    return None if value in (None, "", DEFAULT_DEVICE) else value


def named_handler(name: str, parameters: list[str], body):
    """A Gradio handler whose parameters are `parameters`, then the request and progress: Gradio
    names a named API's parameters after them and injects the last two. `body` gets every argument
    in one dict."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    signature = inspect.Signature([*(inspect.Parameter(n, kind) for n in parameters),
                                   inspect.Parameter("request", kind, annotation=gr.Request),
                                   inspect.Parameter("progress", kind, default=gr.Progress())])

    def handler(*args, **kwargs):
        return body(signature.bind(*args, **kwargs).arguments)
    handler.__signature__ = signature  # type: ignore[attr-defined]
    handler.__annotations__ = {"request": gr.Request}
    handler.__name__ = handler.__qualname__ = name
    return handler
