"""Turning engine results into what the components show (pure functions, no Gradio)."""
from __future__ import annotations

import re

import numpy as np
from PIL import Image

from engine.pixels.blend import final_size, pixel_limit_message
from engine.intelligent_enhancer import BLOCKY, LITTLE_NOISE_SIGMA, NOISY_SIGMA
from engine.models.manager import ModelStatus
from engine.models.registry import MODELS, is_non_commercial
from engine.request import EnhanceRequest
from utils.errors import UserError
from utils.images import resize, to_pil_preview
from utils.metrics import format_bytes

PREVIEW_SIDE = 1600
PRECISIONS = ("auto", "fp32")
FORMATS = ("auto", "png", "jpg", "webp")
# The web server never downloads as a side effect: a model without weights is "not downloaded"
# until the System tab fetches it (or the administrator puts its file in place).
STATUS_LABEL = {"bundled": "bundled", "downloaded": "downloaded", "custom": "custom",
                "downloadable": "not downloaded", "missing": "not downloaded"}


def model_choices(rows: list[ModelStatus], *, mark_only_missing: bool = False) -> list[tuple[str, str]]:
    """The upscalers as (label, name): the label says where its weights come from ("bundled", ...,
    "not downloaded"); with `mark_only_missing`, only a model whose weights are not here is marked
    (the Compare tab's checkboxes)."""
    return [(row.name if mark_only_missing and row.available else
             f"{row.name}  ({STATUS_LABEL.get(row.status, row.status)})", row.name)
            for row in rows if row.kind == "upscaler"]


def restorer_choices(rows: list[ModelStatus]) -> list[tuple[str, str]]:
    """The face restorers as (label, name): a restorer whose weights are not here says how it comes
    ("download", or "not on this server" with downloads off), and a non-commercial one says so."""
    choices = []
    for row in rows:
        if row.kind != "face":
            continue
        notes = [] if row.available else ["download" if row.status == "downloadable" else "not on this server"]
        if row.name in MODELS and is_non_commercial(MODELS[row.name]):
            notes.append("non-commercial licence")
        choices.append((f"{row.name} ({', '.join(notes)})" if notes else row.name, row.name))
    return choices


def models_table(rows: list[ModelStatus]) -> list[list[str]]:
    return [[row.name, row.kind, STATUS_LABEL.get(row.status, row.status), format_bytes(row.size_bytes),
             row.description] for row in rows]


def slider_pair(before: np.ndarray, after: np.ndarray) -> tuple[Image.Image, Image.Image]:
    """Both sides at the same display size so the slider compares like with like."""
    after_preview = to_pil_preview(after, PREVIEW_SIDE)
    width, height = after_preview.size
    before_preview = to_pil_preview(resize(before, width, height), PREVIEW_SIDE)
    if before_preview.mode != after_preview.mode:
        before_preview = before_preview.convert(after_preview.mode)
    return before_preview, after_preview


def noise_words(sigma_255: float) -> str:
    """The noise estimate (sigma on 0..255) in words."""
    return ("little noise" if sigma_255 < LITTLE_NOISE_SIGMA else "some noise" if sigma_255 < NOISY_SIGMA
            else "visible noise")


def compression_words(blockiness: float) -> str:
    """The JPEG blockiness ratio (1 = none) in words."""
    return "visible JPEG compression" if blockiness > BLOCKY else "no visible compression"


def plain_reason(reason: str) -> str:
    """A recommendation's reason without its measured figures ("(sigma 4.1 of 255)"), which the
    folded Measurements line shows."""
    return re.sub(r" \((?:sigma|blockiness) [^)]*\)", "", reason)


def recommendation_markdown(result: dict) -> str:
    s, a = result["settings"], result["analysis"]
    lines = [f"**Recommended:** `{s['model']}` at x{s['scale']}"
             + (f", noise removal {s['denoise_strength']}" if s["model"] == "realesr-general-x4v3" else "")
             + (", face restoration" if s["face_enhance"] else ""),
             "",
             *[f"- {plain_reason(reason)}" for reason in result["reasoning"]],
             "",
             f"*{a['resolution']}, {a['content_type']} ({a['content_confidence']:.0%} sure), {a['faces']} face(s), "
             f"{noise_words(a['noise_sigma'])}, {compression_words(a['jpeg_blockiness'])}*",
             "",
             # the measured figures for those who want them, folded away
             f"<details><summary>Measurements</summary>noise sigma {a['noise_sigma']} (0..255), JPEG blockiness "
             f"{a['jpeg_blockiness']} (1 = none), analysed in {a['analysis_ms']} ms</details>"]
    return "\n".join(lines)


def system_markdown(info: dict, loaded: list[str], free_disk: str, output_dir: str) -> str:
    gpus = "\n".join(f"- GPU {g['id']}: {g['name']}, {g['memory_used_gb']:.1f} / {g['memory_total_gb']:.1f} GB used"
                     for g in info["gpus"]) or "- none (running on the CPU)"
    return "\n".join([
        f"**CPU:** {info['cpu']} ({info['cpu_cores']} cores, {info['torch_threads']} torch threads), "
        f"bf16 {'supported' if info['cpu_bf16'] else 'not supported'}",
        f"**Memory:** {info['ram_available_gb']} GB free of {info['ram_total_gb']} GB",
        f"**GPUs:**\n\n{gpus}",
        f"**PyTorch:** {info['torch']}, CUDA {info['cuda_version'] or 'n/a'} "
        f"({'available' if info['cuda_available'] else 'not available'}), MPS "
        f"{'available' if info['mps_available'] else 'not available'}",
        f"**Loaded models:** {', '.join(loaded) or 'none yet'}",
        f"**Free disk in {output_dir}:** {free_disk}",
    ]).replace("\n**", "\n\n**")


def result_size_markdown(size: list[int] | None, outscale: float, double_pass: bool, max_output_pixels: int,
                         exact_size: str = "") -> str:
    """The result's size for the chosen outscale (and double pass) or `exact_size` ("1920x",
    "x1080", "1920x1080" to fit within), or the warning when it cannot be made."""
    if not size:
        return ""
    if exact_size:
        try:
            outscale, double_pass = EnhanceRequest(size=exact_size).outscale_for(size[0], size[1]), False
        except UserError as error:
            return f"⚠️ **{error}**"
    warning = pixel_limit_message(size[0], size[1], float(outscale), bool(double_pass), max_output_pixels)
    if warning:
        return f"⚠️ **{warning}**"
    width, height = final_size(size[0], size[1], float(outscale), bool(double_pass))
    return f"Result: {width}x{height} ({width * height / 1e6:.1f} MP)."


METRIC_LABELS = {"original_size": "Original size", "enhanced_size": "Enhanced size", "scale_factor": "Scale",
                 "original_filesize": "Original file", "enhanced_filesize": "Enhanced file",
                 "size_change": "File size change", "time": "Time", "device": "Device", "precision": "Precision",
                 "model": "Model", "tiles": "Tiles", "faces": "Faces restored"}


def metrics_rows(metrics: dict[str, str]) -> list[list[str]]:
    """A result's metrics as (label, value) rows for a table."""
    return [[METRIC_LABELS.get(key, key), value] for key, value in metrics.items()]
