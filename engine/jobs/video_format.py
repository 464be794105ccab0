"""What the output video's pictures are: pixel format (bit depth, chroma), colour tags, aspect and
display matrix, chosen from the source's and the encoder's abilities. Pure functions, no I/O."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av

from utils.video_probe import VideoInfo

# FFmpeg's AVColorSpace numbers -> swscale's SWS_CS_* matrix numbers (what PyAV's reformat takes).
SWS_MATRIX = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}
AVCOL_SPC_BT709, AVCOL_SPC_SMPTE170M, AVCOL_SPC_UNSPECIFIED, AVCOL_SPC_RGB = 1, 6, 2, 0
AVCOL_RANGE_UNSPECIFIED, AVCOL_RANGE_MPEG, AVCOL_RANGE_JPEG = 0, 1, 2
CHROMA_NAMES = {(0, 0): "444", (1, 0): "422", (1, 1): "420"}


@dataclass(frozen=True)
class PicturePlan:
    """How frames are converted in and out, and what the output stream is tagged with."""
    pix_fmt: str  # the encoder's pixel format, e.g. yuv420p10le
    deep: bool  # more than 8 bits: frames go through the model as 16-bit RGB
    matrix: int  # AVColorSpace used for the YUV<->RGB conversion and tagged on the output
    color_range: int  # AVColorRange (1 limited, 2 full)
    color_primaries: int
    color_trc: int
    notes: tuple[str, ...] = ()

    @property
    def rgb_format(self) -> str:
        return "rgb48le" if self.deep else "rgb24"

    @property
    def sws_matrix(self) -> int:
        return SWS_MATRIX.get(self.matrix, 5)


def depth_and_chroma(pix_fmt: str) -> tuple[int, str]:
    """(bits per component, "420"/"422"/"444") of an FFmpeg pixel format; RGB and gray count as 4:4:4
    and 4:2:0 respectively (gray has no chroma to keep)."""
    fmt = av.VideoFormat(pix_fmt, 64, 64)
    bits = max(c.bits for c in fmt.components)
    if fmt.is_rgb:
        return bits, "444"
    if len(fmt.components) < 3:  # gray (+ alpha): no chroma to keep
        return bits, "420"
    chroma = fmt.components[1]
    shift = (64 // chroma.width - 1, 64 // chroma.height - 1)
    return bits, CHROMA_NAMES.get((min(shift[0], 1), min(shift[1], 1)), "420")


def encoder_formats(encoder: str) -> set[str]:
    return {f.name for f in av.codec.Codec(encoder, "w").video_formats or ()}


def choose_pix_fmt(source_pix_fmt: str, supported: set[str]) -> tuple[str, str | None]:
    """The encoder format closest to the source: same chroma and depth where supported, else the
    nearest lower depth, else 4:2:0; and a note when something had to give."""
    bits, chroma = depth_and_chroma(source_pix_fmt)

    def name(c: str, b: int) -> str:
        return f"yuv{c}p" + ("" if b == 8 else f"{b}le")
    for c in (chroma, "420") if chroma != "420" else ("420",):
        for b in sorted({bits, 12, 10, 8}, reverse=True):
            if b <= bits and name(c, b) in supported:
                chosen = name(c, b)
                if (b, c) == (bits, chroma):
                    return chosen, None
                return chosen, (f"the source is {bits}-bit 4:{chroma[0]}:{chroma[1]}:{chroma[2]} ({source_pix_fmt}); "
                                f"this codec holds at most {chosen}, so the output is {b}-bit "
                                f"4:{c[0]}:{c[1]}:{c[2]} (use h265 to keep it)")
    return "yuv420p", f"the source format {source_pix_fmt} is written as 8-bit 4:2:0"


def plan_pictures(info: VideoInfo, encoder: str) -> PicturePlan:
    pix_fmt, note = choose_pix_fmt(info.pix_fmt, encoder_formats(encoder))
    bits = depth_and_chroma(pix_fmt)[0]
    matrix = info.colorspace
    notes = [note] if note else []
    if matrix not in SWS_MATRIX:
        # Untagged (or RGB/unknown): players assume BT.601 below 720 lines and BT.709 above. The
        # upscaled result is taller, so tag the matrix the source was shown with, to look the same.
        matrix = AVCOL_SPC_BT709 if info.height >= 720 else AVCOL_SPC_SMPTE170M
    color_range = info.color_range if info.color_range in (AVCOL_RANGE_MPEG, AVCOL_RANGE_JPEG) else AVCOL_RANGE_MPEG
    if info.pix_fmt.startswith("yuvj"):
        color_range = AVCOL_RANGE_JPEG
    return PicturePlan(pix_fmt, bits > 8 or depth_and_chroma(info.pix_fmt)[0] > 8, matrix, color_range,
                       info.color_primaries, info.color_trc, tuple(notes))


def output_aspect(info: VideoInfo) -> Fraction | None:
    """The sample aspect ratio to write (None: square pixels, nothing to write)."""
    sar = info.sample_aspect_ratio
    return sar if sar and sar != 1 else None
