"""ModelManager: a thread-safe cache of loaded models keyed by (model, device, precision).

Constructing a manager does no I/O. `load_model` resolves weights (weights dir, bundled pack,
download), builds the network with spandrel and moves it to the device; N threads asking for one
model at once load it once.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import torch

from engine.models.profiles import ArchitectureProfile, profile_of
from engine.models.registry import CUSTOM_PREFIX, MODELS, ModelSpec
from engine.models.weights import (WEIGHT_SUFFIXES, ProgressFn, WeightsFile, bundled_cache_path, load_state_dict,
                            resolve_weights)
from utils.errors import InvalidInput, ModelUnsupported
from utils.gpu import DeviceChoice, DeviceRequest, choose_device

if TYPE_CHECKING:  # spandrel is imported on the first load: its import is a large share of a server's start
    from spandrel import ImageModelDescriptor

    from config import AppConfig

log = logging.getLogger(__name__)


class MeasuredSpeed:
    """How fast one model runs on one device at one precision: seconds per input megapixel, from
    its own forwards (the warm-up's and every job's tiles). Recent runs count most, each in
    proportion to its pixels, so a machine that got busier is seen within a job or two and a small
    edge tile does not outweigh a big one. None until the first measurement."""
    KEEP = 0.5  # the weight the past keeps at each new measurement

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seconds = 0.0
        self._megapixels = 0.0

    def record(self, seconds: float, input_pixels: int) -> None:
        if seconds <= 0 or input_pixels <= 0:
            return
        with self._lock:
            self._seconds = self._seconds * self.KEEP + seconds
            self._megapixels = self._megapixels * self.KEEP + input_pixels / 1e6

    @property
    def seconds_per_megapixel(self) -> float | None:
        with self._lock:
            return self._seconds / self._megapixels if self._megapixels else None

    def expected_seconds(self, input_pixels: int) -> float | None:
        """Seconds a forward over `input_pixels` should take at the measured speed (None: unmeasured)."""
        per_mp = self.seconds_per_megapixel
        return None if per_mp is None else per_mp * input_pixels / 1e6


class RunningForwards:
    """How many forward passes are running on one network right now, in any thread (jobs and the
    warm-up), so that a background pass can give way to a job's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    @property
    def count(self) -> int:
        with self._lock:
            return self._count

    @contextmanager
    def one(self) -> Iterator[None]:
        with self._lock:
            self._count += 1
        try:
            yield
        finally:
            with self._lock:
                self._count -= 1


@dataclass(frozen=True)
class LoadedModel:
    """A network ready to run, with the facts callers need about it."""
    name: str
    descriptor: ImageModelDescriptor
    scale: int
    device: torch.device
    precision: str  # "fp16", "bf16" (CPU autocast) or "fp32"
    source: str  # "bundled", "downloaded" or "custom"
    load_seconds: float
    # kept by the manager per (model, device, precision): it outlives an unload and is shared by
    # the denoise-strength variants of one network
    speed: MeasuredSpeed = field(default_factory=MeasuredSpeed, compare=False, repr=False)
    running: RunningForwards = field(default_factory=RunningForwards, compare=False, repr=False)

    @property
    def architecture(self) -> str:
        """spandrel's architecture id, e.g. "ESRGAN", "Compact", "GFPGAN"."""
        return self.descriptor.architecture.id

    @property
    def profile(self) -> ArchitectureProfile:
        return profile_of(self.architecture)


@dataclass(frozen=True)
class ModelStatus:
    name: str
    kind: str
    status: str  # "bundled", "downloaded", "custom", "missing", "downloadable"
    size_bytes: int | None
    scale: int
    description: str
    url: str | None

    @property
    def available(self) -> bool:
        return self.status in ("bundled", "downloaded", "custom")


CacheKey = tuple[str, str, str, float | None]
T = TypeVar("T")


class ModelManager:
    def __init__(self, models_config: Mapping[str, ModelSpec] = MODELS, weights_dir: str | Path = "weights",
                 verify_checksums: bool = True, *, allow_downloads: bool = False, device: str = "auto",
                 max_custom_model_bytes: int = 2 << 30, download_timeout_s: float = 60.0, mirror: str = "",
                 download_on_request: bool | None = None):
        """`allow_downloads`: loading a missing model may download it; `download_on_request`: an
        explicit `download()` may (default: the same as `allow_downloads`)."""
        # A mirror serves the same files by name; checksums are unchanged.
        self.models = {name: replace(spec, url=f"{mirror.rstrip('/')}/{spec.filename}") if mirror else spec
                       for name, spec in models_config.items()}
        self.weights_dir = Path(weights_dir)
        self.verify_checksums = verify_checksums
        self.allow_downloads = allow_downloads
        self.explicit_downloads = allow_downloads if download_on_request is None else download_on_request
        self.device_preference = device
        self.max_custom_model_bytes = max_custom_model_bytes
        self.download_timeout_s = download_timeout_s
        self._cache: dict[CacheKey, Any] = {}
        self._key_locks: dict[CacheKey, threading.Lock] = {}
        self._speeds: dict[tuple[str, str, str], MeasuredSpeed] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: AppConfig, *, downloads_on_demand: bool = True) -> "ModelManager":
        """The manager an `AppConfig` describes (weights folder, checksums, downloads, device, limits).
        With `downloads_on_demand=False` (the web server) loading a model never downloads as a side
        effect; `download()` still fetches when the config allows downloads."""
        return cls(weights_dir=config.WEIGHTS_DIR, verify_checksums=config.VERIFY_MODEL_CHECKSUMS,
                   allow_downloads=config.ALLOW_DOWNLOADS and downloads_on_demand, device=config.DEVICE,
                   max_custom_model_bytes=config.MAX_CUSTOM_MODEL_MB * 2**20,
                   download_timeout_s=config.DOWNLOAD_TIMEOUT_S, mirror=config.MODEL_MIRROR,
                   download_on_request=config.ALLOW_DOWNLOADS)

    @property
    def custom_dir(self) -> Path:
        return self.weights_dir / "custom"

    # -- choosing --------------------------------------------------------------------------------
    def device_for(self, gpu_id: DeviceRequest = None, fp32: bool = False) -> DeviceChoice:
        """`gpu_id`: None for the configured device, a CUDA GPU id, or a device name ("cpu", "mps", ...)."""
        if isinstance(gpu_id, str):
            return choose_device(gpu_id, None, fp32)
        return choose_device(self.device_preference, gpu_id, fp32)

    def custom_models(self) -> dict[str, Path]:
        if not self.custom_dir.is_dir():
            return {}
        return {f"{CUSTOM_PREFIX}{p.stem}": p for p in sorted(self.custom_dir.iterdir())
                if p.is_file() and p.suffix.lower() in WEIGHT_SUFFIXES}

    def upscaler_names(self) -> list[str]:
        names = [n for n, s in self.models.items() if s.kind == "upscaler"]
        return names + list(self.custom_models())

    def spec(self, name: str) -> ModelSpec:
        if name not in self.models:
            raise InvalidInput(f"Unknown model {name!r}; choose one of: {', '.join(self.upscaler_names())}.")
        return self.models[name]

    # -- loading ---------------------------------------------------------------------------------
    def load_model(self, model_name: str, gpu_id: DeviceRequest = None, fp32: bool = False, *,
                   denoise_strength: float | None = None, on_progress: ProgressFn | None = None) -> LoadedModel:
        choice = self.device_for(gpu_id, fp32)
        denoise = self._denoise_key(model_name, denoise_strength)
        key = (model_name, str(choice.device), choice.precision, denoise)
        return self.cached(key, lambda: self._load(model_name, choice, denoise, on_progress))

    def cached(self, key: CacheKey, build: Callable[[], T]) -> T:
        """The cached value for `key`, built once by `build` however many threads ask at once."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # one builder per key; the others wait and then find it cached
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            value = build()
            with self._lock:
                self._cache[key] = value
            return value

    def unload_model(self, model_name: str, gpu_id: DeviceRequest = None, fp32: bool = False) -> int:
        """Drop every cached copy of `model_name` on that device and precision; returns how many."""
        choice = self.device_for(gpu_id, fp32)
        with self._lock:
            keys = [k for k in self._cache if k[0] == model_name and k[1] == str(choice.device)
                    and k[2] == choice.precision]
            for k in keys:
                del self._cache[k]
                self._key_locks.pop(k, None)
        if keys and choice.device.type == "cuda":
            torch.cuda.empty_cache()
        return len(keys)

    def unload_all(self) -> None:
        with self._lock:
            self._cache.clear()
            self._key_locks.clear()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def loaded_models(self) -> list[LoadedModel]:
        with self._lock:
            return [m for m in self._cache.values() if isinstance(m, LoadedModel)]

    def _denoise_key(self, model_name: str, denoise_strength: float | None) -> float | None:
        spec = self.models.get(model_name)
        if spec is None or spec.denoise_partner is None or denoise_strength is None:
            return None
        if not 0.0 <= denoise_strength <= 1.0:
            raise InvalidInput(f"Denoise strength {denoise_strength} is out of range; use a value in 0..1.")
        return round(float(denoise_strength), 3)

    def resolve(self, spec: ModelSpec, on_progress: ProgressFn | None = None) -> WeightsFile:
        return resolve_weights(spec, self.weights_dir, allow_download=self.allow_downloads,
                               verify=self.verify_checksums, on_progress=on_progress,
                               timeout_s=self.download_timeout_s)

    def download(self, model_name: str, on_progress: ProgressFn | None = None) -> WeightsFile:
        """Fetch (or find) one model's weights on an explicit request, e.g. the System tab's button."""
        spec = self.spec(model_name)
        return resolve_weights(spec, self.weights_dir, allow_download=self.explicit_downloads,
                               verify=self.verify_checksums, on_progress=on_progress,
                               timeout_s=self.download_timeout_s)

    def _load(self, model_name: str, choice: DeviceChoice, denoise: float | None,
              on_progress: ProgressFn | None) -> LoadedModel:
        started = time.perf_counter()
        if model_name.startswith(CUSTOM_PREFIX):
            path = self.custom_models().get(model_name)
            if path is None:
                raise InvalidInput(f"Custom model {model_name!r} is not in {self.custom_dir}.")
            state, source = load_state_dict(path, max_bytes=self.max_custom_model_bytes), "custom"
        else:
            spec = self.spec(model_name)
            weights = self.resolve(spec, on_progress)
            state, source = load_state_dict(weights.path), weights.source
            if denoise is not None and denoise < 1.0:
                # realesr-general-x4v3: w = dn * general + (1 - dn) * wdn
                partner = load_state_dict(self.resolve(self.spec(spec.denoise_partner), on_progress).path)
                state = {k: denoise * v + (1 - denoise) * partner[k] for k, v in state.items()}
        role = "upscaler" if model_name.startswith(CUSTOM_PREFIX) else self.spec(model_name).kind
        descriptor, precision = prepare_for_device(build_descriptor(state, model_name, role), choice)
        seconds = time.perf_counter() - started
        log.info("loaded %s (%s) on %s as %s in %.2f s", model_name, source, choice.device, precision, seconds)
        return LoadedModel(model_name, descriptor, descriptor.scale, choice.device, precision, source, seconds,
                           self.speed_of(model_name, choice.device, precision))

    def speed_of(self, model_name: str, device: torch.device, precision: str) -> MeasuredSpeed:
        """The measured speed of `model_name` on `device` at `precision` (one record per triple)."""
        with self._lock:
            return self._speeds.setdefault((model_name, str(device), precision), MeasuredSpeed())

    # -- listing ---------------------------------------------------------------------------------
    def list_models(self, kinds: tuple[str, ...] = ("upscaler", "face", "face-helper")) -> list[ModelStatus]:
        rows = []
        for spec in self.models.values():
            if spec.kind not in kinds:
                continue
            official = self.weights_dir / spec.filename
            if official.is_file():
                status, size = "downloaded", official.stat().st_size
            elif spec.bundled is not None:
                status = "bundled"
                cached = bundled_cache_path(spec, self.weights_dir)
                size = cached.stat().st_size if cached.is_file() else spec.size_bytes
            else:
                status = "downloadable" if self.explicit_downloads else "missing"
                size = spec.size_bytes
            rows.append(ModelStatus(spec.name, spec.kind, status, size, spec.scale, spec.description, spec.url))
        if "upscaler" in kinds:
            for name, path in self.custom_models().items():
                rows.append(ModelStatus(name, "upscaler", "custom", path.stat().st_size, 0,
                                        "Custom model (architecture detected when loaded)", None))
        return rows

    def is_available(self, model_name: str) -> bool:
        return any(row.name == model_name and row.available for row in self.list_models())


_INSTALLING = threading.Lock()


def install_extra_architectures() -> None:
    """Register spandrel-extra-arches' architectures (CodeFormer among them) with spandrel's main
    registry, once per process (its documented `install()`), never while another thread's first load
    reads the registry. Done before the first detection rather than at import: importing spandrel is
    a large share of a server's start (see above)."""
    with _INSTALLING:
        _install_extra_architectures()


@functools.cache
def _install_extra_architectures() -> None:
    with warnings.catch_warnings():  # one of its networks uses torch.jit.script, deprecated in torch 2.14
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
        import spandrel_extra_arches
    # a duplicate (another library installed them first) keeps the copy already there
    spandrel_extra_arches.install(ignore_duplicates=True)


PURPOSES = {"upscaler": ("SR", "Restoration"), "face": ("FaceSR",)}  # spandrel's `purpose` for each role


def build_descriptor(state: dict, model_name: str, role: str = "upscaler") -> ImageModelDescriptor:
    """Detect the architecture with spandrel; refuse anything that is not an RGB image-to-image
    model for `role` (a face restorer, CodeFormer say, is not an upscaler, nor the other way round)."""
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError
    install_extra_architectures()
    try:
        descriptor = ModelLoader().load_from_state_dict(state)
    except UnsupportedModelError:
        raise ModelUnsupported(f"{model_name}: its architecture is not one we recognise; "
                               "use a Real-ESRGAN, Compact, SwinIR, HAT, DAT or similar model.") from None
    except Exception as error:
        log.warning("building %s failed: %r", model_name, error)
        raise ModelUnsupported(f"{model_name}: the weights do not fit their detected architecture "
                               "(damaged or incomplete file).") from None
    if not isinstance(descriptor, ImageModelDescriptor) or descriptor.input_channels != 3 \
            or descriptor.output_channels != 3:
        raise ModelUnsupported(f"{model_name} is not an RGB image-to-image model.")
    if descriptor.purpose not in PURPOSES[role]:
        what = {"FaceSR": "a face-restoration", "Inpainting": "an inpainting"}.get(descriptor.purpose, "an upscaling")
        wanted = "a face restorer" if role == "face" else "an upscaling model"
        raise ModelUnsupported(f"{model_name} is {what} model ({descriptor.architecture.name}), "
                               f"not {wanted}; choose {wanted} here.")
    return descriptor.eval()


def prepare_for_device(descriptor: ImageModelDescriptor, choice: DeviceChoice) -> tuple[ImageModelDescriptor, str]:
    """Move to the device; fp16 weights where chosen and supported. bf16 on CPU runs as autocast
    over fp32 weights (about 2x faster than fp32 on CPUs with AVX512-BF16, 54 dB from fp32)."""
    precision = choice.precision
    if precision == "fp16" and not descriptor.supports_half:
        precision = "fp32"
    if precision == "bf16" and not descriptor.supports_bfloat16:
        precision = "fp32"
    descriptor = descriptor.to(choice.device)
    if precision == "fp16":
        descriptor = descriptor.half()
    if all(p.dim() <= 4 for p in descriptor.model.parameters()):  # GFPGAN has 5D modulated weights
        descriptor.model.to(memory_format=torch.channels_last)
    for parameter in descriptor.model.parameters():
        parameter.requires_grad_(False)
    return descriptor, precision
