"""Turning engine results into what the components show (pure functions, no Gradio)."""
from __future__ import annotations

import numpy as np
from PIL import Image

from engine.pixels.blend import final_size, pixel_limit_message
from engine.models.manager import ModelStatus
from utils.images import resize, to_pil_preview
from utils.metrics import format_bytes

PREVIEW_SIDE = 1600
PRECISIONS = ("auto", "fp32")
FORMATS = ("auto", "png", "jpg", "webp")
STATUS_LABEL = {"bundled": "bundled", "downloaded": "downloaded", "custom": "custom",
                "downloadable": "downloads on first use", "missing": "weights missing"}


def model_choices(rows: list[ModelStatus]) -> list[tuple[str, str]]:
    return [(f"{row.name}  ({STATUS_LABEL.get(row.status, row.status)})", row.name) for row in rows
            if row.kind == "upscaler"]


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


def recommendation_markdown(result: dict) -> str:
    s, a = result["settings"], result["analysis"]
    lines = [f"**Recommended:** `{s['model']}` at x{s['scale']}"
             + (f", denoise {s['denoise_strength']}" if s["model"] == "realesr-general-x4v3" else "")
             + (", face enhancement" if s["face_enhance"] else ""),
             "",
             *[f"- {reason}" for reason in result["reasoning"]],
             "",
             f"*{a['resolution']}, {a['content_type']} ({a['content_confidence']:.0%}), {a['faces']} face(s), "
             f"noise sigma {a['noise_sigma']}, JPEG blockiness {a['jpeg_blockiness']}, "
             f"analysed in {a['analysis_ms']} ms*"]
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


def result_size_markdown(size: list[int] | None, outscale: float, double_pass: bool, max_output_pixels: int) -> str:
    """The result's size for the chosen outscale (and double pass), or the warning when it would
    pass the output pixel limit."""
    if not size:
        return ""
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
