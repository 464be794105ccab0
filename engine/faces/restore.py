"""Face restoration with GFPGAN, RestoreFormer or CodeFormer: detect on the input, align each face
to the FFHQ template, restore it at 512x512, and paste it back onto the upscaled image.

The fidelity (0..1: 0 the fully restored face, 1 closest to the input face) goes to the network
where it has such an input (CodeFormer's `weight`, the architecture profile's `fidelity_argument`);
for the others it blends the restored face with the input face's pixels."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from engine.faces.alignment import FACE_SIZE, align_face, paste_face, soft_mask_from_parsing, square_mask
from engine.faces.detection import DetectedFace, detect_faces, load_detector
from engine.pixels.inference import CancelCheck, autocast_for, is_out_of_memory
from engine.models.forward_watch import watched_forward
from engine.models.manager import LoadedModel, ModelManager
from engine.models.registry import FACE_RESTORERS
from engine.models.weights import load_state_dict
from utils.errors import Cancelled, InvalidInput, OutOfMemory
from utils.gpu import DeviceRequest, GPUDetector
from utils.images import resize, to_rgb8

log = logging.getLogger(__name__)

DEFAULT_RESTORER = "GFPGANv1.4"


@dataclass(frozen=True)
class FaceOptions:
    restorer: str = DEFAULT_RESTORER
    fidelity: float = 0.0  # 0: the fully restored face .. 1: the original face (CodeFormer: its weight w)
    only_center_face: bool = False
    max_faces: int = 20
    aligned: bool = False  # the input is one already aligned 512x512 face

    def checked(self) -> "FaceOptions":
        if self.restorer not in FACE_RESTORERS:
            raise InvalidInput(f"Unknown face restorer {self.restorer!r}; choose one of {', '.join(FACE_RESTORERS)}.")
        if not 0.0 <= self.fidelity <= 1.0:
            raise InvalidInput(f"Face fidelity {self.fidelity} is out of range; use a value in 0..1.")
        if not 1 <= self.max_faces <= 1000:
            raise InvalidInput("The maximum number of faces must be between 1 and 1000.")
        return self


def require_restorer(model_manager: ModelManager, options: FaceOptions) -> None:
    """Fail early, before any upscaling, when the restorer's weights cannot be had."""
    model_manager.resolve(model_manager.models[options.restorer])


def load_restorer(model_manager: ModelManager, options: FaceOptions, gpu_id: DeviceRequest) -> LoadedModel:
    return model_manager.load_model(options.restorer, gpu_id)


def load_parser(model_manager: ModelManager, device: torch.device):
    """facexlib's ParseNet when its weights are in the weights directory, else None (square mask)."""
    spec = model_manager.models["parsing_parsenet"]
    path = model_manager.weights_dir / spec.filename
    if not path.is_file():
        return None

    def build():
        from facexlib.parsing.parsenet import ParseNet
        model_manager.resolve(spec)  # on disk (checked above): verified, never downloaded
        net = ParseNet(in_size=FACE_SIZE, out_size=FACE_SIZE, parsing_ch=19)
        net.load_state_dict(load_state_dict(path), strict=True)
        return net.eval().to(device)
    return model_manager.cached(("face-parser", str(device), "fp32", None), build)


def restore_face(model: LoadedModel, face_rgb: np.ndarray, fidelity: float,
                 should_cancel: CancelCheck | None = None) -> np.ndarray:
    """512x512 uint8 RGB face -> restored 512x512 float32 RGB in 0..1, at `fidelity` (0..1): the
    network's own fidelity input where it has one (CodeFormer's weight), else a pixel blend."""
    if model.profile.fidelity_argument:
        return run_restorer(model, face_rgb, fidelity, should_cancel)
    return blend_fidelity(run_restorer(model, face_rgb, should_cancel=should_cancel), face_rgb, fidelity)


def run_restorer(model: LoadedModel, face_rgb: np.ndarray, fidelity: float | None = None,
                 should_cancel: CancelCheck | None = None) -> np.ndarray:
    """512x512 uint8 RGB face -> restored 512x512 float32 RGB in 0..1. `fidelity` (0..1) goes to
    the network's fidelity argument (CodeFormer's `weight`); None leaves the network's default.
    `should_cancel` is checked before every weighted layer (a GFPGAN pass is seconds on a CPU)."""
    x = torch.from_numpy(np.ascontiguousarray(face_rgb).copy()).to(model.device).permute(2, 0, 1)[None].float().div_(255)
    x = (x - 0.5) / 0.5
    kwargs = dict(model.profile.forward_kwargs)
    if fidelity is not None and model.profile.fidelity_argument:
        kwargs[model.profile.fidelity_argument] = float(fidelity)
    try:
        with torch.inference_mode(), autocast_for(model), watched_forward(model.descriptor.model, should_cancel):
            out = model.descriptor.model(x, **kwargs)[0]
    except Exception as error:
        if is_out_of_memory(error):
            GPUDetector.clear_gpu_cache()
            raise OutOfMemory("Out of memory while restoring faces; disable face enhancement or use a smaller image.") from None
        raise
    out = ((out.float().clamp(-1, 1) + 1) / 2)[0].permute(1, 2, 0).cpu().numpy()
    return out


def parse_mask(parser, face: np.ndarray, device: torch.device) -> np.ndarray:
    x = torch.from_numpy(face.astype(np.float32)).to(device).permute(2, 0, 1)[None]
    x = (x - 0.5) / 0.5
    with torch.inference_mode():
        parsing = parser(x)[0].argmax(dim=1).squeeze(0).cpu().numpy()
    return soft_mask_from_parsing(parsing)


def select_faces(faces: list[DetectedFace], options: FaceOptions, height: int, width: int) -> list[DetectedFace]:
    if options.only_center_face and faces:
        centre = np.array([width / 2, height / 2])
        return [min(faces, key=lambda f: np.linalg.norm(np.array(f.centre) - centre))]
    return faces[: options.max_faces]


def restore_faces(original: np.ndarray, upscaled: np.ndarray, *, model_manager: ModelManager,
                  gpu_id: DeviceRequest = None, options: FaceOptions | None = None,
                  should_cancel: CancelCheck | None = None) -> tuple[np.ndarray, int]:
    """Restore every face found in `original` and paste it onto a copy of `upscaled`.
    Returns (pixels, faces restored); pixels away from the faces are those of `upscaled`."""
    options = (options or FaceOptions()).checked()
    require_restorer(model_manager, options)
    model = load_restorer(model_manager, options, gpu_id)
    rgb = to_rgb8(original)
    detector = load_detector(model_manager, model.device)
    faces = select_faces(detect_faces(detector, rgb), options, *rgb.shape[:2])
    parser = load_parser(model_manager, model.device)
    out = upscaled.copy()
    scale = (upscaled.shape[1] / original.shape[1], upscaled.shape[0] / original.shape[0])
    for face in faces:
        if should_cancel and should_cancel():
            raise Cancelled("Cancelled; nothing was written.")
        try:
            crop, matrix = align_face(rgb, face.landmarks)
        except ValueError:
            log.info("skipping a face with degenerate landmarks at %s", face.box)
            continue
        restored = restore_face(model, crop, options.fidelity, should_cancel)
        mask = parse_mask(parser, restored, model.device) if parser is not None else square_mask()
        paste_face(out, restored, mask, matrix, scale)
    if faces:
        log.info("restored %d face(s) with %s (detector: %s)", len(faces), options.restorer, faces[0].detector)
    return out, len(faces)


def blend_fidelity(restored: np.ndarray, original_face: np.ndarray, fidelity: float) -> np.ndarray:
    """GFPGAN / RestoreFormer: `fidelity` (0..1) of the input face's pixels over the restored face."""
    if fidelity <= 0:
        return restored
    return (1 - fidelity) * restored + fidelity * (original_face.astype(np.float32) / 255)


def restore_aligned_face(face: np.ndarray, *, model_manager: ModelManager, gpu_id: DeviceRequest = None,
                         options: FaceOptions | None = None) -> np.ndarray:
    """An already aligned face (any size, resized to 512 for the restorer) restored at its own size."""
    options = (options or FaceOptions(aligned=True)).checked()
    require_restorer(model_manager, options)
    model = load_restorer(model_manager, options, gpu_id)
    rgb = to_rgb8(face)
    height, width = rgb.shape[:2]
    crop = resize(rgb, FACE_SIZE, FACE_SIZE)
    restored = restore_face(model, crop, options.fidelity)
    top = 65535 if face.dtype == np.uint16 else 255
    result = np.rint(resize(restored, width, height).clip(0, 1) * top).astype(face.dtype)
    return match_layout(result, face)


def match_layout(rgb: np.ndarray, like: np.ndarray) -> np.ndarray:
    """`rgb` (HxWx3) in the channel layout of `like`: gray stays gray, alpha is carried over."""
    channels = 1 if like.ndim == 2 else like.shape[2]
    colour = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if channels in (1, 2) else rgb
    if like.ndim == 2:
        return colour
    if channels == 1:
        return colour[..., None]
    return np.dstack([colour, like[..., -1]]) if channels in (2, 4) else colour
