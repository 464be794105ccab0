"""Every fact the app keeps about a network architecture, on one profile keyed by spandrel's
architecture id (`descriptor.architecture.id`; the registry names the same ids), the way spandrel
keeps a model's facts on its descriptor."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Mapping

Role = Literal["upscaler", "face"]


@dataclass(frozen=True)
class ArchitectureProfile:
    id: str
    role: Role
    # Tile overlap (input pixels) for tiles that join without seams: tiled vs whole >= 45 dB with it.
    overlap_px: int = 32
    # Peak working memory per input pixel (bytes) of one forward, with headroom (about 1.9x for
    # ESRGAN, 3x for Compact): fp32, and half precision (bf16 autocast on CPU, fp16 on CUDA), which
    # halves the activations. Measured as the peak RSS growth of `run_batch` on CPU: x4plus 8,629
    # B/px at fp32 (192 px) and 4,007-4,296 at bf16 (192-384 px); animevideov3 1,016 / 817.
    bytes_per_input_pixel: int = 20_000
    bytes_per_input_pixel_half: int = 10_000
    # Extra arguments of the network's forward call (GFPGAN: BGR-free output, fixed noise).
    forward_kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # A face restorer's forward argument that takes the fidelity (0..1: 0 the fully restored face, 1
    # closest to the input), e.g. CodeFormer's `weight`. None: the network has no such input, and the
    # fidelity blends its restored face with the input face's pixels instead.
    fidelity_argument: str | None = None


PROFILES: dict[str, ArchitectureProfile] = {p.id: p for p in (
    ArchitectureProfile("ESRGAN", "upscaler", overlap_px=32, bytes_per_input_pixel=16_000,
                        bytes_per_input_pixel_half=8_000),
    ArchitectureProfile("Compact", "upscaler", overlap_px=16, bytes_per_input_pixel=3_000,
                        bytes_per_input_pixel_half=2_500),
    ArchitectureProfile("GFPGAN", "face",
                        forward_kwargs=MappingProxyType({"return_rgb": False, "randomize_noise": False})),
    ArchitectureProfile("RestoreFormer", "face"),
    # CodeFormer's `weight` w: how much of the input face's own features the decoder mixes back in.
    ArchitectureProfile("CodeFormer", "face", fidelity_argument="weight"),
)}
# A custom model of an architecture we have not measured: the cautious figures.
UNKNOWN = ArchitectureProfile("unknown", "upscaler", overlap_px=32, bytes_per_input_pixel=20_000,
                              bytes_per_input_pixel_half=20_000)


def profile_of(architecture_id: str | None) -> ArchitectureProfile:
    return PROFILES.get(architecture_id or "", UNKNOWN)
