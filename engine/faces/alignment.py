"""Face alignment and paste-back: pure functions over arrays (the FFHQ 5-point template, as in
GFPGAN and facexlib)."""
from __future__ import annotations

import cv2
import numpy as np

FACE_SIZE = 512
# Standard 5 landmarks of FFHQ faces at 512x512: eyes, nose, mouth corners.
FFHQ_TEMPLATE = np.array([[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                          [201.26117, 371.41043], [313.08905, 371.15118]], dtype=np.float32)
BORDER_VALUE = (135, 133, 132)  # the mean face colour GFPGAN pads with


def align_face(rgb: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(512x512 aligned crop, the 2x3 affine that maps input pixels onto it)."""
    matrix, _ = cv2.estimateAffinePartial2D(landmarks.astype(np.float32), FFHQ_TEMPLATE, method=cv2.LMEDS)
    if matrix is None:
        raise ValueError("landmarks are degenerate")
    crop = cv2.warpAffine(rgb, matrix, (FACE_SIZE, FACE_SIZE), borderMode=cv2.BORDER_CONSTANT,
                          borderValue=BORDER_VALUE)
    return crop, matrix


def soft_mask_from_parsing(parsing: np.ndarray) -> np.ndarray:
    """Face-region mask (float32 0..1, 512x512) from ParseNet's 19 classes, feathered at the edges."""
    keep = np.ones(19, dtype=np.float32)
    keep[[0, 14, 15, 16, 17, 18]] = 0  # background, neck, necklace, cloth, hair, hat
    mask = keep[parsing]
    mask = cv2.GaussianBlur(mask, (101, 101), 11)
    mask = cv2.GaussianBlur(mask, (101, 101), 11)
    edge = 10
    mask[:edge] = mask[-edge:] = 0
    mask[:, :edge] = mask[:, -edge:] = 0
    return mask


def square_mask(size: int = FACE_SIZE) -> np.ndarray:
    """Without a parsing model: the whole aligned square, its border feathered."""
    mask = np.ones((size, size), np.float32)
    edge = size // 16
    mask = cv2.erode(mask, np.ones((edge, edge), np.uint8))
    return cv2.GaussianBlur(mask, (0, 0), edge / 2)


def paste_face(target: np.ndarray, face: np.ndarray, mask: np.ndarray, matrix: np.ndarray,
               scale: tuple[float, float]) -> np.ndarray:
    """Blend an aligned face (512x512 RGB float 0..1) into `target` (the upscaled image) in place,
    touching only the face's bounding box; alpha is left as it is. `matrix` maps input pixels
    onto the aligned face; `scale` is (sx, sy) from input to target pixels."""
    sx, sy = scale
    to_face = matrix.astype(np.float64).copy()
    to_face[:, 0] /= sx
    to_face[:, 1] /= sy
    to_target = cv2.invertAffineTransform(to_face)
    corners = np.array([[0, 0, 1], [FACE_SIZE, 0, 1], [0, FACE_SIZE, 1], [FACE_SIZE, FACE_SIZE, 1]], np.float64)
    quad = corners @ to_target.T
    height, width = target.shape[:2]
    x0, y0 = (int(max(0, np.floor(quad[:, i].min()) - 2)) for i in (0, 1))
    x1, y1 = int(min(width, np.ceil(quad[:, 0].max()) + 2)), int(min(height, np.ceil(quad[:, 1].max()) + 2))
    if x1 <= x0 or y1 <= y0:
        return target
    local = to_target.copy()
    local[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(face.astype(np.float32), local, size, flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(mask.astype(np.float32), local, size, flags=cv2.INTER_LINEAR)[..., None]
    top = 65535.0 if target.dtype == np.uint16 else 255.0
    region = target[y0:y1, x0:x1]
    colour = region if region.ndim == 2 else region[..., :3] if region.shape[2] >= 3 else region[..., :1]
    if colour.ndim == 2 or colour.shape[-1] == 1:
        warped = cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY)[..., None]
    base = colour.astype(np.float32).reshape(size[1], size[0], -1) / top
    blended = np.clip((alpha * warped + (1 - alpha) * base) * top, 0, top)
    blended = np.rint(blended).astype(target.dtype).reshape(colour.shape)
    if region.ndim == 2:
        target[y0:y1, x0:x1] = blended
    elif region.shape[2] >= 3:
        target[y0:y1, x0:x1, :3] = blended
    else:
        target[y0:y1, x0:x1, :1] = blended
    return target
