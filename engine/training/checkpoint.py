"""Training checkpoints and the finished model, written atomically (temp file + rename).

A checkpoint holds everything a run needs to continue exactly where it stopped: the network's and
the optimiser's state, the loss-scaler's, the step and the losses so far. Batches depend only on
(seed, step), so no random-number state is needed. It is read back with `weights_only=True`.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

from utils.files import atomic_path, write_text_atomic

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class TrainingState:
    step: int
    model: dict
    optimizer: dict
    scaler: dict | None
    losses: list[float]
    fingerprint: str


def save_checkpoint(path: Path, state: TrainingState) -> Path:
    payload = {"format": CHECKPOINT_FORMAT, "step": state.step, "model": state.model, "optimizer": state.optimizer,
               "scaler": state.scaler or {}, "losses": list(state.losses), "fingerprint": state.fingerprint}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: Path, fingerprint: str) -> TrainingState | None:
    """The saved state when `path` holds one from a run with the same settings; None otherwise (no
    file, another run's, or unreadable: the run then starts from the beginning and says why in the log)."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a damaged file must not stop a new run
        log.warning("ignoring unreadable checkpoint %s: %r", path, error)
        return None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        log.warning("ignoring checkpoint %s of an unknown format", path)
        return None
    if payload.get("fingerprint") != fingerprint:
        log.info("checkpoint %s is from a run with other settings; starting afresh", path)
        return None
    return TrainingState(int(payload["step"]), payload["model"], payload["optimizer"], payload["scaler"] or None,
                         [float(v) for v in payload["losses"]], fingerprint)


def save_model(path: Path, state_dict: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    """The weights as safetensors (float32, contiguous), so spandrel and every tab can load them."""
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in state_dict.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def save_card(json_path: Path, card: dict) -> tuple[Path, Path]:
    """The training card as JSON (for programs) and Markdown (for people), beside the model."""
    write_text_atomic(json_path, json.dumps(card, indent=2, sort_keys=False) + "\n")
    markdown = json_path.with_suffix(".md")
    write_text_atomic(markdown, card_markdown(card))
    return json_path, markdown


def card_markdown(card: dict) -> str:
    v = card["validation"]["mean"]
    lines = [f"# {card['model']}", "",
             f"Fine-tuned from **{card['base_model']}** on {card['data']['train_images']} images of "
             f"`{card['data']['folder']}` ({card['data']['validation_images']} held back for validation).", "",
             "| setting | value |", "|---|---|"]
    lines += [f"| {k} | {card['training'][k]} |" for k in card["training"]]
    lines += ["", "| held-back images (mean) | starting model | fine-tuned |", "|---|---|---|",
              f"| PSNR | {v['base_psnr_db']:.2f} dB | {v['tuned_psnr_db']:.2f} dB |",
              f"| SSIM | {v['base_ssim']:.4f} | {v['tuned_ssim']:.4f} |", "",
              f"Loss {card['training_loss']['first']:.4f} at the start, {card['training_loss']['last']:.4f} "
              "at the end (mean of 10 steps).", ""]
    return "\n".join(lines)
