"""The output picture format chosen from the source and the encoder (pure functions)."""
from fractions import Fraction

import pytest

from engine.video_format import choose_pix_fmt, depth_and_chroma, encoder_formats, output_aspect, plan_pictures
from utils.video_probe import VideoInfo


@pytest.mark.parametrize("pix_fmt,expected", [("yuv420p", (8, "420")), ("yuv420p10le", (10, "420")),
                                              ("yuv422p10le", (10, "422")), ("yuv444p", (8, "444")),
                                              ("yuv444p12le", (12, "444")), ("nv12", (8, "420")),
                                              ("gbrp", (8, "444")), ("gray", (8, "420"))])
def test_depth_and_chroma(pix_fmt, expected):
    assert depth_and_chroma(pix_fmt) == expected


@pytest.mark.parametrize("source,encoder,expected,noted", [
    ("yuv420p10le", "libx265", "yuv420p10le", False),
    ("yuv444p12le", "libx265", "yuv444p12le", False),
    ("yuv444p12le", "libx264", "yuv444p10le", True),   # x264 stops at 10 bits
    ("yuv422p10le", "libsvtav1", "yuv420p10le", True),  # SVT-AV1 is 4:2:0 only
    ("yuv420p10le", "libvpx-vp9", "yuv420p", True),     # this libvpx build is 8-bit only
    ("yuv444p", "libvpx-vp9", "yuv444p", False),
    ("yuvj420p", "libx264", "yuv420p", False),          # full range is a tag, not a format
])
def test_the_nearest_format_the_encoder_holds(source, encoder, expected, noted):
    chosen, note = choose_pix_fmt(source, encoder_formats(encoder))
    assert chosen == expected and (note is not None) == noted


def info(**kwargs) -> VideoInfo:
    base = dict(format_name="matroska,webm", width=64, height=48, codec="h264", fps=Fraction(10),
                time_base=Fraction(1, 1000), frames=None, duration_s=1.0)
    return VideoInfo(**{**base, **kwargs})


def test_untagged_sources_get_the_matrix_players_assumed():
    assert plan_pictures(info(height=480), "libx264").matrix == 6  # BT.601 (SMPTE 170M)
    assert plan_pictures(info(height=1080), "libx264").matrix == 1  # BT.709


def test_tags_are_copied_and_full_range_kept():
    plan = plan_pictures(info(colorspace=9, color_primaries=9, color_trc=16, color_range=2,
                              pix_fmt="yuv420p10le"), "libx265")
    assert (plan.matrix, plan.color_primaries, plan.color_trc, plan.color_range) == (9, 9, 16, 2)
    assert plan.deep and plan.rgb_format == "rgb48le" and plan.pix_fmt == "yuv420p10le"


def test_square_pixels_write_no_aspect():
    assert output_aspect(info(sample_aspect_ratio=Fraction(1))) is None
    assert output_aspect(info(sample_aspect_ratio=Fraction(4, 3))) == Fraction(4, 3)
