"""Fine-tune a small pretrained model (SRVGGNetCompact) on a folder of the user's sharp images.

`train_model(request, ...)` runs the whole job: load the starting model through the ModelManager,
train on random degraded patches with AdamW (bf16 autocast on CPUs that have it, fp16 AMP with a
GradScaler on CUDA), checkpoint atomically every few steps and on cancel (a rerun with the same
settings continues exactly where it stopped), validate against the starting model on held-back
images, and save the result as a custom model with its training card, so every tab can pick it.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from engine.models.manager import ModelManager
from engine.models.registry import CUSTOM_PREFIX
from engine.training.checkpoint import CHECKPOINT_NAME, TrainingState, load_checkpoint, save_card, save_checkpoint, \
    save_model
from engine.training.data import ImageSource, images_in_folder, sample_batch, split_images, validation_pairs
from engine.training.losses import SSIM_WEIGHT, training_loss
from engine.training.validation import ValidationReport, to_tensor, validate
from engine.models.weights import WEIGHT_SUFFIXES
from utils.errors import Cancelled, InvalidInput, ModelUnsupported, UserError
from utils.gpu import DeviceRequest, cpu_supports_bf16
from utils.images import save_image

log = logging.getLogger(__name__)

TRAINABLE_ARCHITECTURES = ("Compact",)  # SRVGGNetCompact: ~0.6-1.2 M parameters, trainable on a CPU
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_STEPS = 100_000
PATCH_RANGE_PX = (32, 512)
BATCH_RANGE = (1, 64)
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class TrainingRequest:
    """Everything that decides a run. `train_paths`/`validation_paths` override the folder's own
    split (the bench splits video frames by time)."""
    folder: Path
    name: str
    base: str = "realesr-animevideov3"
    steps: int = 500
    patch_px: int = 128  # high-resolution side of a training patch; the model sees patch_px / scale
    batch_size: int = 4
    seed: int = 0
    learning_rate: float = 1e-4
    weight_decay: float = 1e-4
    checkpoint_every: int = 50
    validation_fraction: float = 0.1
    validation_crop_px: int = 256
    precision: str = "auto"  # "auto": bf16 on CPUs with native bf16, fp16 AMP on CUDA, else fp32; or "fp32"
    train_paths: tuple[Path, ...] | None = None
    validation_paths: tuple[Path, ...] | None = None

    def check(self) -> None:
        if not NAME_PATTERN.fullmatch(self.name or ""):
            raise InvalidInput(f"The model name {self.name!r} is not usable; use up to 64 letters, digits, "
                               "dots, dashes or underscores, starting with a letter or digit.")
        if not 1 <= self.steps <= MAX_STEPS:
            raise InvalidInput(f"Steps must be between 1 and {MAX_STEPS:,}; {self.steps} was given.")
        if not PATCH_RANGE_PX[0] <= self.patch_px <= PATCH_RANGE_PX[1] or self.patch_px % 8:
            raise InvalidInput(f"The patch size must be a multiple of 8 from {PATCH_RANGE_PX[0]} to "
                               f"{PATCH_RANGE_PX[1]} pixels; {self.patch_px} was given.")
        if not BATCH_RANGE[0] <= self.batch_size <= BATCH_RANGE[1]:
            raise InvalidInput(f"The batch size must be between {BATCH_RANGE[0]} and {BATCH_RANGE[1]}; "
                               f"{self.batch_size} was given.")
        if self.precision not in ("auto", "fp32"):
            raise InvalidInput(f"Precision must be auto or fp32, not {self.precision!r}.")


@dataclass(frozen=True)
class StepReport:
    step: int  # steps done, 1..steps
    steps: int
    loss: float
    seconds_left: float | None
    steps_per_s: float | None
    resumed_from: int


@dataclass(frozen=True)
class TrainingResult:
    model_name: str  # "custom/<name>", as every tab lists it
    model_path: Path
    card_path: Path
    grid_path: Path
    validation: ValidationReport
    losses: list[float] = field(repr=False)
    steps_per_s: float
    seconds: float
    precision: str
    resumed_from: int


def model_paths(custom_dir: Path, name: str) -> dict[str, Path]:
    return {"model": custom_dir / f"{name}.safetensors", "card": custom_dir / f"{name}.json",
            "grid": custom_dir / f"{name}.validation.png"}


def training_precision(device: torch.device, requested: str) -> str:
    if requested == "fp32":
        return "fp32"
    if device.type == "cuda":
        return "fp16"
    return "bf16" if device.type == "cpu" and cpu_supports_bf16() else "fp32"


def autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.float16 if precision == "fp16" else torch.bfloat16)


def fingerprint(request: TrainingRequest, split_train: tuple[Path, ...], split_val: tuple[Path, ...],
                precision: str, device: torch.device) -> str:
    """What must match for a checkpoint to continue this run (the step count and the name may change:
    the learning rate is constant, so a longer run continues a shorter one exactly)."""
    facts = {k: v for k, v in asdict(request).items() if k not in ("name", "steps", "checkpoint_every",
                                                                  "train_paths", "validation_paths", "folder")}
    facts.update(train=[str(p.resolve()) for p in split_train], validation=[str(p.resolve()) for p in split_val],
                 precision=precision, device=device.type)
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


def load_trainable(manager: ModelManager, base: str, device: DeviceRequest):
    """(frozen starting network, trainable copy, scale, device): fp32 weights through the
    ModelManager, so missing weights fail with its one-sentence message."""
    if base not in manager.upscaler_names():
        raise InvalidInput(f"Unknown starting model {base!r}; choose realesr-animevideov3, realesr-general-x4v3 "
                           "or a custom Compact model.")
    loaded = manager.load_model(base, device, fp32=True)
    if loaded.architecture not in TRAINABLE_ARCHITECTURES:
        raise ModelUnsupported(f"{base} is a {loaded.architecture} model; fine-tuning here supports the small "
                               "Compact models (realesr-animevideov3, realesr-general-x4v3), so pick one of them.")
    frozen = loaded.descriptor.model
    trainable = copy.deepcopy(frozen).float().train()
    for parameter in trainable.parameters():
        parameter.requires_grad_(True)
    return frozen, trainable, loaded.scale, loaded.device


_RUNNING: set[str] = set()  # names being trained in this process: two runs must not share a checkpoint
_RUNNING_LOCK = threading.Lock()


def train_model(request: TrainingRequest, *, manager: ModelManager, work_dir: Path, device: DeviceRequest = None,
                should_cancel: CancelCheck | None = None, on_step: Callable[[StepReport], None] | None = None,
                max_pixels: int | None = None) -> TrainingResult:
    """Run (or continue) a fine-tuning job; `work_dir` holds its checkpoint until the model is saved."""
    request.check()
    key = str(Path(work_dir).resolve())
    with _RUNNING_LOCK:
        if key in _RUNNING:
            raise InvalidInput(f"A model named {request.name} is being trained already; wait for that run to "
                               "finish or choose another name.")
        _RUNNING.add(key)
    try:
        return _train(request, manager=manager, work_dir=Path(work_dir), device=device, should_cancel=should_cancel,
                      on_step=on_step, max_pixels=max_pixels)
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(key)


def _train(request: TrainingRequest, *, manager: ModelManager, work_dir: Path, device: DeviceRequest,
           should_cancel: CancelCheck | None, on_step: Callable[[StepReport], None] | None,
           max_pixels: int | None) -> TrainingResult:
    paths = model_paths(manager.custom_dir, request.name)
    if any((manager.custom_dir / f"{request.name}{suffix}").exists() for suffix in WEIGHT_SUFFIXES):
        raise InvalidInput(f"A custom model named {request.name} already exists in {manager.custom_dir}; "
                           "choose another name or delete that file first.")
    if request.train_paths is not None and request.validation_paths is not None:
        train_paths, val_paths = tuple(request.train_paths), tuple(request.validation_paths)
        if not train_paths or not val_paths:
            raise InvalidInput("Training needs at least one training image and one held-back image.")
    else:
        split = split_images(images_in_folder(request.folder), request.validation_fraction)
        train_paths, val_paths = split.train, split.validation
    frozen, net, scale, torch_device = load_trainable(manager, request.base, device)
    if request.patch_px % scale or (request.patch_px // scale) < 8:
        raise InvalidInput(f"The patch size {request.patch_px} must be a multiple of the model's scale {scale} "
                           f"and give at least 8 input pixels; use {max(32, 8 * scale)} or more.")
    train_source = ImageSource(train_paths, request.patch_px, max_pixels=max_pixels)
    val_source = ImageSource(val_paths, 8 * scale, max_pixels=max_pixels, cache_size=0)
    train_source.check_all()  # a bad or too small image fails now, in one sentence, not mid-run

    precision = training_precision(torch_device, request.precision)
    run_key = fingerprint(request, train_paths, val_paths, precision, torch_device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=request.learning_rate, betas=(0.9, 0.99),
                                  weight_decay=request.weight_decay)
    scaler = torch.amp.GradScaler(torch_device.type, enabled=precision == "fp16")
    checkpoint = Path(work_dir) / CHECKPOINT_NAME
    state = load_checkpoint(checkpoint, run_key)
    losses: list[float] = []
    start = 0
    if state is not None and state.step <= request.steps:
        net.load_state_dict(state.model)
        optimizer.load_state_dict(state.optimizer)
        if state.scaler:
            scaler.load_state_dict(state.scaler)
        losses, start = list(state.losses), state.step
        log.info("resuming %s from step %d", request.name, start)

    def save(step: int) -> None:
        save_checkpoint(checkpoint, TrainingState(step, net.state_dict(), optimizer.state_dict(),
                                                  scaler.state_dict() if scaler.is_enabled() else None,
                                                  losses, run_key))

    started = time.monotonic()
    for step in range(start, request.steps):
        try:
            stop = should_cancel is not None and should_cancel()
        except UserError:  # the time limit or a vanished client: keep what was learnt, then say why
            save(step)
            raise
        if stop:
            save(step)
            raise Cancelled(f"Training was cancelled at step {step} of {request.steps}; start it again with the "
                            "same settings to continue from there.")
        lr, hr = sample_batch(train_source, seed=request.seed, step=step, batch_size=request.batch_size,
                              patch_px=request.patch_px, scale=scale)
        lr_t, hr_t = to_tensor(lr, torch_device), to_tensor(hr, torch_device)
        with autocast(torch_device, precision):
            output = net(lr_t)
        loss = training_loss(output, hr_t)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        losses.append(float(loss.detach()))
        done = step + 1
        if done % request.checkpoint_every == 0 and done < request.steps:
            save(done)
        if on_step is not None:
            elapsed = time.monotonic() - started
            rate = (done - start) / elapsed if elapsed > 0 else None
            on_step(StepReport(done, request.steps, losses[-1], (request.steps - done) / rate if rate else None,
                               rate, start))
    seconds = time.monotonic() - started
    steps_per_s = (request.steps - start) / seconds if seconds > 0 and request.steps > start else 0.0

    net.eval()
    pairs = validation_pairs(val_source, seed=request.seed, crop_px=request.validation_crop_px, scale=scale)
    report = validate(frozen, net, pairs, [p.name for p in val_paths], torch_device)
    metadata = {"base_model": request.base, "steps": str(request.steps), "seed": str(request.seed),
                "trained_with": "Real-ESRGAN Ultimate fine-tuning"}
    save_image(paths["grid"], report.grid, "png")
    card = training_card(request, train_paths, val_paths, report, losses, precision, torch_device, seconds,
                         steps_per_s, paths)
    save_card(paths["card"], card)
    save_model(paths["model"], net.state_dict(), metadata)  # last: the model appears only when complete
    for fp32 in (False, True):  # a model of this name deleted and trained again must not come from the cache
        manager.unload_model(f"{CUSTOM_PREFIX}{request.name}", device, fp32)
    shutil.rmtree(work_dir, ignore_errors=True)
    log.info("fine-tuned %s from %s in %d steps: %s", request.name, request.base, request.steps,
             report.table().splitlines()[-1])
    return TrainingResult(f"{CUSTOM_PREFIX}{request.name}", paths["model"], paths["card"], paths["grid"], report,
                          losses, steps_per_s, seconds, precision, start)


def training_card(request: TrainingRequest, train_paths, val_paths, report: ValidationReport, losses: list[float],
                  precision: str, device: torch.device, seconds: float, steps_per_s: float,
                  paths: dict[str, Path]) -> dict:
    window = max(1, min(10, len(losses) // 2))
    return {
        "model": f"{CUSTOM_PREFIX}{request.name}",
        "file": paths["model"].name,
        "base_model": request.base,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": {"folder": str(request.folder), "train_images": len(train_paths),
                 "validation_images": len(val_paths), "validation_names": [p.name for p in val_paths]},
        "training": {"steps": request.steps, "patch_px": request.patch_px, "batch_size": request.batch_size,
                     "seed": request.seed, "learning_rate": request.learning_rate,
                     "optimizer": f"AdamW (betas 0.9/0.99, weight decay {request.weight_decay})",
                     "loss": f"L1 + {SSIM_WEIGHT} * (1 - SSIM)",
                     "degradation": "Real-ESRGAN second-order (blur incl. sinc, resize, Gaussian/Poisson noise, JPEG)",
                     "precision": precision, "device": str(device), "seconds": round(seconds, 1),
                     "steps_per_s": round(steps_per_s, 3)},
        "training_loss": {"first": float(np.mean(losses[:window])) if losses else float("nan"),
                          "last": float(np.mean(losses[-window:])) if losses else float("nan")},
        "validation": report.as_dict(),
        "validation_grid": paths["grid"].name,
    }
