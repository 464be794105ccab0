"""IntelligentEnhancer: analyse an image and recommend settings, each with a line of reasoning.

Measurements (all on arrays, no model runs), each in its own module:
- content type (`engine.analysis.content`): drawing or photo from colour and edge statistics at one fixed
  analysis scale, over the whole image and nine crops, with a calibrated probability; below the
  fitted confidence threshold the content is "unclear" and the general-purpose model is recommended,
- noise (`engine.analysis.noise`): a texture-proof estimate (weak-texture patches, eigenvalue tail) of
  sigma in 0-255 units, and JPEG blockiness,
- faces with the same detector the face restorer uses (RetinaFace when its weights are present,
  else OpenCV's Haar cascade), on the reduced copy the content type starts from when it is large
  enough for the detector,
- the tile size from free memory, the model and the image size.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from engine.analysis import noise
from engine.analysis.content import (ANALYSIS_SIDE, ContentGuess, classify_rgb, content_features,  # noqa: F401
                                     hue_entropy, local_std, preview)
from engine.analysis.noise import NOISE_CROP, jpeg_blockiness, sample_crops, sample_windows  # noqa: F401
from engine.models.registry import MODELS
from engine.pixels.upscale import tile_for
from utils.gpu import DeviceChoice, choose_device
from utils.images import read_image, to_rgb8

log = logging.getLogger(__name__)

NOISY_SIGMA = 8.0  # sigma (0-255) from which a photo is treated as noisy
LITTLE_NOISE_SIGMA = 3.0  # below this: "little noise"
BLOCKY = 1.3  # JPEG blockiness from which block artifacts are reported
SMALL_SIDE, LARGE_MEGAPIXELS = 256, 4.0
GENERAL_MODEL, ANIME_MODEL, DENOISE_MODEL = "RealESRGAN_x4plus", "RealESRGAN_x4plus_anime_6B", "realesr-general-x4v3"
FACE_MODEL = "GFPGANv1.4"


def as_pixels(image: Any) -> np.ndarray:
    """A path, PIL image or array as the decoded array (alpha and bit depth kept)."""
    if isinstance(image, (str, Path)):
        return read_image(image).pixels
    if isinstance(image, Image.Image):
        from utils.images import pillow_to_array
        return pillow_to_array(image)
    return image


def as_rgb8(image: Any) -> np.ndarray:
    """Accept a path, PIL image or array; return 8-bit RGB (alpha dropped, gray widened)."""
    return to_rgb8(as_pixels(image))


def opaque_mask(pixels: np.ndarray) -> np.ndarray | None:
    """Where a gray+alpha or RGBA image is at least half opaque; None without alpha or when
    almost nothing is opaque (then the colours underneath are all there is to analyse)."""
    if pixels.ndim != 3 or pixels.shape[2] not in (2, 4):
        return None
    mask = pixels[..., -1] > np.iinfo(pixels.dtype).max // 2
    return mask if mask.mean() >= 0.01 else None


def classify_content(image: Any) -> ContentGuess:
    pixels = as_pixels(image)
    return classify_rgb(to_rgb8(pixels), opaque_mask(pixels))


def estimate_noise_sigma(image: Any) -> float:
    """Gaussian noise sigma per colour channel, in 0-255 units (see `engine.analysis.noise`)."""
    return noise.estimate_noise_sigma(as_rgb8(image))


def content_reason(content: ContentGuess) -> str:
    """What the content measurement found, in plain words."""
    if content.gray:
        return ("Content unclear: the image is grayscale, and without colours a drawing and a photo look "
                "too much alike to pick a specialised model")
    kind = "a drawing or anime" if content.content_type == "anime" else "a photo"
    if content.tiny:
        return f"Content unclear: the image is too small to tell a drawing from a photo (it looks most like {kind})"
    if content.clear:
        return f"The image looks like {kind} ({content.confidence:.0%} sure)"
    return (f"Content unclear: the image looks most like {kind}, but only {content.confidence:.0%} sure, "
            "too little to pick a specialised model")


class IntelligentEnhancer:
    """The seed's analyser. `model_manager` (optional) tells which weights are available."""

    def __init__(self, model_manager=None, *, max_output_pixels: int = 400_000_000, memory_reserve: float = 0.1,
                 memory_share: float = 1.0):
        self.model_manager = model_manager
        self.max_output_pixels = max_output_pixels
        self.memory_reserve, self.memory_share = memory_reserve, memory_share  # as the jobs plan tiles

    # -- the seed's methods ----------------------------------------------------------------------
    def detect_content_type(self, image: Any) -> str:
        return classify_content(image).content_type

    def detect_faces(self, image: Any, small: np.ndarray | None = None) -> int:
        """Faces in the image; `small`, a reduced copy of it, is used instead when it is at least as
        large as the copy the detector works on (it saves reducing the image again)."""
        from engine.faces.detection import OpenCVDetector, detect_faces, load_detector
        rgb = as_rgb8(image)
        detector = load_detector(self.model_manager, torch.device("cpu")) if self.model_manager else OpenCVDetector()
        if small is not None and max(small.shape[:2]) >= min(detector.max_side, max(rgb.shape[:2])):
            rgb = small
        return len(detect_faces(detector, rgb))

    def analyze_noise_level(self, image: Any) -> float:
        """0..1, where 1 means sigma >= 30 (in 0-255 units)."""
        return min(1.0, estimate_noise_sigma(as_rgb8(image)) / 30.0)

    def calculate_optimal_tile(self, image: Any, model_name: str = "RealESRGAN_x4plus") -> int:
        rgb = image if isinstance(image, np.ndarray) and image.ndim == 3 else as_rgb8(image)
        height, width = rgb.shape[:2]
        architecture = MODELS[model_name].architecture if model_name in MODELS else ""
        choice = self._device_choice()
        return tile_for(architecture, choice.device, height, width, memory_reserve=self.memory_reserve,
                        precision=choice.precision, memory_share=self.memory_share)

    def get_intelligent_settings(self, image: Any) -> dict[str, Any]:
        started = time.perf_counter()
        pixels = as_pixels(image)
        rgb = to_rgb8(pixels)
        height, width = rgb.shape[:2]
        # one reduced copy for the content type and (when large enough) the faces; noise needs
        # full-resolution pixels
        small, opaque = preview(rgb, opaque_mask(pixels))
        content = classify_rgb(small, opaque)
        sigma = noise.estimate_noise_sigma(rgb)
        faces = self.detect_faces(rgb, small)
        blockiness = jpeg_blockiness(rgb)
        settings = {"model": GENERAL_MODEL, "scale": 4, "fp32": False, "face_enhance": False, "tile": 0,
                    "auto_tile": True, "denoise_strength": 0.5}
        reasoning = self._model_reasons(content, sigma, settings)
        if blockiness > BLOCKY:
            reasoning.append(f"JPEG block artifacts are visible (blockiness {blockiness:.2f}); the recommended "
                             "model was trained on them and smooths them out.")
        reasoning += self._face_reasons(content, faces, settings)

        scale = 4
        if max(height, width) < SMALL_SIDE:
            reasoning.append(f"The image is small ({width}x{height}): x4 gives it a usable size.")
        elif width * height / 1e6 > LARGE_MEGAPIXELS:
            scale = 2
            reasoning.append(f"The image is already large ({width * height / 1e6:.1f} MP): x2 keeps the result "
                             "manageable; it is processed in tiles.")
        while scale > 1 and width * height * scale * scale > self.max_output_pixels:
            scale -= 1
        if width * height * 16 > self.max_output_pixels and scale < 4:
            reasoning.append(f"Outscale limited to x{scale} by the output pixel limit.")
        settings["scale"] = scale

        tile = self.calculate_optimal_tile(rgb, settings["model"])
        if tile:
            reasoning.append(f"Processed in {tile}px tiles to fit the available memory.")
        device = self._device()
        reasoning.append(f"Runs on {'the GPU (fp16)' if device.type == 'cuda' else 'the CPU'}; full precision "
                         "(fp32) is not needed for visually identical output.")
        analysis = {
            "content_type": content.content_type,
            "content_confidence": content.confidence,
            "content_clear": content.clear,
            "faces": faces,
            "noise_level": f"{min(1.0, sigma / 30):.2f}",
            "noise_sigma": round(sigma, 2),
            "jpeg_blockiness": round(blockiness, 2),
            "resolution": f"{width}x{height}",
            "optimal_tile": tile,
            "analysis_ms": round((time.perf_counter() - started) * 1000, 1),
        }
        return {"settings": settings, "reasoning": reasoning, "analysis": analysis}

    # -- reasons ---------------------------------------------------------------------------------
    def _model_reasons(self, content: ContentGuess, sigma: float, settings: dict[str, Any]) -> list[str]:
        """Choose the model (in `settings`) and say why, in plain words and with what to do in the UI."""
        measured = content_reason(content)
        if content.content_type == "anime" and content.clear:
            settings["model"] = ANIME_MODEL
            return [f"{measured}: {ANIME_MODEL} keeps its lines clean and its colours flat."]
        settings["model"] = GENERAL_MODEL
        noisy = sigma >= NOISY_SIGMA
        noise_words = (f"little noise (sigma {sigma:.1f} of 255)" if sigma < LITTLE_NOISE_SIGMA else
                       f"some noise (sigma {sigma:.1f} of 255)" if not noisy else
                       f"visible noise (sigma {sigma:.1f} of 255)")
        joiner = ", with " if content.clear else ". It has "
        if noisy and self._available(DENOISE_MODEL):
            settings["model"] = DENOISE_MODEL
            settings["denoise_strength"] = round(min(1.0, max(0.2, sigma / 25)), 2)
            reasons = [f"{measured}{joiner}{noise_words}: {DENOISE_MODEL} at denoise strength "
                       f"{settings['denoise_strength']} removes the noise instead of sharpening it."]
        else:
            general = "the general-purpose " + GENERAL_MODEL
            reasons = [f"{measured}{joiner}{noise_words}: {general} "
                       + ("gives the best detail." if content.clear else "suits any content.")]
            if noisy:
                reasons.append(f"{DENOISE_MODEL} would remove the noise, but its weights are not downloaded: "
                               f"download {DENOISE_MODEL} in the System tab, then analyse the image again.")
        if not content.clear:  # the general-purpose model suits photos: only drawings are better served
            reasons.append(f"If it is a drawing or anime, choose {ANIME_MODEL} in the Model list instead.")
        return reasons

    def _face_reasons(self, content: ContentGuess, faces: int, settings: dict[str, Any]) -> list[str]:
        if not faces:
            return []
        found = f"{faces} face{'s' if faces > 1 else ''} found"
        if content.content_type == "anime" and content.clear:
            return [f"{found} in a drawing: face restoration is made for photos, so it stays off."]
        if not self._available(FACE_MODEL):
            spec = self.model_manager.models[FACE_MODEL] if self.model_manager else MODELS[FACE_MODEL]
            return [f"{found}; face enhancement needs {spec.filename}: download {FACE_MODEL} in the System tab "
                    f"(or put the file from {spec.url} in the weights folder), then tick Face enhancement."]
        if not content.clear:
            return [f"{found}, but the content is unclear: tick Face enhancement if this is a photo."]
        settings["face_enhance"] = True
        return [f"{found}: face enhancement with {FACE_MODEL} restores them."]

    # -- helpers ---------------------------------------------------------------------------------
    def _available(self, name: str) -> bool:
        return bool(self.model_manager and self.model_manager.is_available(name))

    def _device_choice(self) -> DeviceChoice:
        if self.model_manager is None:
            return choose_device("cpu", None, False)
        return self.model_manager.device_for()

    def _device(self) -> torch.device:
        return self._device_choice().device
