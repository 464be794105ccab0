"""What a player shows is kept: rotation, aspect, depth, chroma, colour, subtitles, languages,
audio layouts; times relative to the first timestamp; truncated Matroska refused; limits counted
while decoding. Every source is made here with PyAV, and every output is read back with PyAV."""
from fractions import Fraction

import av
import numpy as np
import pytest

from engine.job_config import JobConfig, Limits
from engine.pixels.upscale import UpscaleOptions, upscale_pixels
from engine.jobs.video import enhance_video_direct
from utils.errors import InvalidInput

from tests.video_samples import FPS, H, W, make_video, truncate

MODEL = "realesr-animevideov3"
pytestmark = pytest.mark.slow


def limits(**values) -> JobConfig:
    """A job configuration with these limits and no others (None: no limit)."""
    unlimited = {name: None for name in Limits.__dataclass_fields__}
    return JobConfig(limits=Limits(**{**unlimited, **values}))


def run(source, manager, tmp_path, **kwargs):
    kwargs.setdefault("output_dir", tmp_path / "out")
    return enhance_video_direct(source, MODEL, kwargs.pop("scale", 2), model_manager=manager, **kwargs)


def first_frame(path):
    with av.open(str(path)) as container:
        return next(container.decode(video=0))


@pytest.mark.parametrize("degrees", [90, 180, -90])
def test_rotation_is_carried_to_the_output(tmp_path, manager, degrees):
    source = make_video(tmp_path / "phone.mp4", frames=3, rotation=degrees)
    result = run(source, manager, tmp_path)
    frame = first_frame(result.output_path)
    assert frame.rotation == (degrees if degrees != 180 else -180) or frame.rotation == degrees
    assert (frame.width, frame.height) == (2 * W, 2 * H)  # coded size; the player turns it


def test_270_degrees_is_carried_to_webm_too(tmp_path, manager):
    source = make_video(tmp_path / "phone.mp4", frames=2, rotation=270)
    result = run(source, manager, tmp_path, codec="vp9")
    assert first_frame(result.output_path).rotation == -90  # 270 counter-clockwise, as FFmpeg reports it


def test_sample_aspect_ratio_4_3_is_kept(tmp_path, manager):
    source = make_video(tmp_path / "dv.mp4", frames=2, sar=Fraction(4, 3))
    result = run(source, manager, tmp_path)
    with av.open(str(result.output_path)) as container:
        video = container.streams.video[0]
        assert video.sample_aspect_ratio == Fraction(4, 3)
        assert video.display_aspect_ratio == Fraction(2 * W * 4, 2 * H * 3)


def flat_10bit(path, luma=502):
    """A lossless 10-bit HEVC of a flat grey whose level no 8-bit grey can produce."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx265", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p10le"
        stream.options = {"x265-params": "log-level=error:lossless=1"}
        for i in range(2):
            frame = av.VideoFrame(W, H, "yuv420p10le")
            for plane, value in zip(frame.planes, (luma, 512, 512)):
                np.frombuffer(plane, np.uint16)[:] = value
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def luma_601_10bit(rgb: np.ndarray) -> float:
    """The median BT.601 limited-range 10-bit luma of RGB pixels (any integer depth), by formula."""
    top = 65535.0 if rgb.dtype == np.uint16 else 255.0
    r, g, b = (rgb[..., c].astype(np.float64) / top for c in range(3))
    return float(np.median(64 + 876 * (0.299 * r + 0.587 * g + 0.114 * b)))


@pytest.mark.parametrize("codec", ["h265", "h264"])
def test_10bit_hevc_stays_10bit_and_the_model_sees_16bit_frames(tmp_path, manager, anime_video_model, codec,
                                                                 monkeypatch):
    import engine.jobs.video
    seen = []

    def spy(model, pixels, options, **kwargs):
        seen.append(pixels.dtype)
        return upscale_pixels(model, pixels, options, **kwargs)
    monkeypatch.setattr(engine.jobs.video, "upscale_pixels", spy)
    source = flat_10bit(tmp_path / "flat10.mkv", luma=502)  # grey (502 - 64) / 876 = 0.5 exactly
    result = run(source, manager, tmp_path, codec=codec, crf=0)
    frame = first_frame(result.output_path)
    assert frame.format.name == "yuv420p10le" and result.pix_fmt == "yuv420p10le"
    assert seen == [np.uint16, np.uint16]
    out_luma = float(np.median(np.frombuffer(frame.planes[0], np.uint16).reshape(frame.height, -1)[:, :frame.width]))
    # reference: the model on that grey as 16-bit RGB, its luma by formula
    grey = np.full((H, W, 3), 32768, np.uint16)
    reference = luma_601_10bit(upscale_pixels(anime_video_model, grey, UpscaleOptions(outscale=2, tile_px=0))[0])
    assert abs(out_luma - reference) <= 1.0


def test_vp9_cannot_hold_10bit_here_and_says_so(tmp_path, manager):
    source = flat_10bit(tmp_path / "flat10.mkv")
    result = run(source, manager, tmp_path, codec="vp9")
    assert first_frame(result.output_path).format.name == "yuv420p"
    assert any("10-bit" in note and "h265" in note for note in result.notes)


def test_yuv444p_stays_444(tmp_path, manager):
    source = make_video(tmp_path / "444.mp4", frames=2, pix_fmt="yuv444p")
    result = run(source, manager, tmp_path)
    frame = first_frame(result.output_path)
    assert frame.format.name == "yuv444p"
    assert frame.planes[1].width == frame.width == 2 * W


def test_bt709_full_range_tags_and_colours_are_kept(tmp_path, manager):
    colour = {"colorspace": 1, "color_primaries": 1, "color_trc": 1, "color_range": 2}
    solid = np.zeros((H, W, 3), np.uint8) + np.array([200, 60, 30], np.uint8)
    source = make_video(tmp_path / "709.mp4", frames=2, colour=colour, pictures=lambda i: solid)
    result = run(source, manager, tmp_path)
    with av.open(str(result.output_path)) as container:
        context = container.streams.video[0].codec_context
        assert (context.colorspace, context.color_primaries, context.color_trc, context.color_range) == (1, 1, 1, 2)
        frame = next(container.decode(video=0))
    rgb = frame.reformat(format="rgb24", src_colorspace="itu709", src_color_range="JPEG",
                         dst_color_range="JPEG").to_ndarray()
    assert np.abs(np.median(rgb.reshape(-1, 3), axis=0) - [200, 60, 30]).max() <= 6


SUBTITLES = [{"codec": "subrip", "language": "eng", "events": [(0.1, 0.5, "Hello {\\i1}world{\\i0}")]},
             {"codec": "ass", "language": "jpn", "events": [(0.2, 0.6, "Konnichiwa")]}]


def subtitle_texts(path):
    with av.open(str(path)) as container:
        streams = container.streams.subtitles
        facts = [(s.codec_context.name, s.metadata.get("language")) for s in streams]
        texts = [b"".join(r.dialogue for r in p.decode()).decode() for p in container.demux(*streams) if p.size]
    return facts, texts


@pytest.mark.parametrize("codec,expected", [("h264", "mov_text"), ("vp9", "webvtt")])
def test_srt_and_ass_in_mkv_are_converted_with_their_languages(tmp_path, manager, codec, expected):
    source = make_video(tmp_path / "subs.mkv", frames=8, fmt="matroska", subtitles=SUBTITLES)
    result = run(source, manager, tmp_path, codec=codec, scale=1)
    facts, texts = subtitle_texts(result.output_path)
    assert facts == [(expected, "eng"), (expected, "jpn")] and result.subtitle_streams == 2
    assert any("world" in t and "Hello" in t for t in texts) and any("Konnichiwa" in t for t in texts)
    assert sum("converted to " + expected in note for note in result.notes) == 2


def test_two_audio_languages_titles_and_default_are_kept(tmp_path, manager):
    audio = [{"codec": "aac", "language": "eng", "default": True},
             {"codec": "aac", "language": "fra", "title": "Français", "layout": "mono"}]
    source = make_video(tmp_path / "two.mkv", frames=5, fmt="matroska", audio=audio)
    result = run(source, manager, tmp_path, scale=1)
    with av.open(str(result.output_path)) as container:
        streams = container.streams.audio
        assert [(s.codec_context.name, s.metadata.get("language"), s.codec_context.layout.nb_channels)
                for s in streams] == [("aac", "eng", 2), ("aac", "fra", 1)]
        # MP4 reads a track title back as "name"
        assert "Français" in (streams[1].metadata.get("title"), streams[1].metadata.get("name"))
        assert streams[0].disposition & av.stream.Disposition.default
        assert not streams[1].disposition & av.stream.Disposition.default


@pytest.mark.parametrize("layout", ["stereo", "5.1"])
def test_pcm_in_mkv_is_re_encoded_with_its_channels(tmp_path, manager, layout):
    source = make_video(tmp_path / "pcm.mkv", frames=10, fmt="matroska",
                        audio=[{"codec": "pcm_s16le", "layout": layout, "language": "deu"}])
    result = run(source, manager, tmp_path, scale=1)
    with av.open(str(result.output_path)) as container:
        stream = container.streams.audio[0]
        samples = sum(f.samples for f in container.decode(stream))
        assert stream.codec_context.name == "aac" and stream.metadata.get("language") == "deu"
        assert stream.codec_context.layout.nb_channels == av.AudioLayout(layout).nb_channels
    assert abs(samples / 48000 - 1.0) < 0.05
    assert any("re-encoded to aac" in note for note in result.notes)


@pytest.mark.parametrize("start_s,preview_s", [(5.0, 1.0), (1.4, 0.5)])
def test_preview_counts_from_the_first_timestamp(tmp_path, manager, start_s, preview_s):
    source = make_video(tmp_path / "late.mp4", frames=20, start_s=start_s, audio=[{"codec": "aac"}],
                        subtitles=None)
    result = run(source, manager, tmp_path, max_seconds=preview_s, scale=1)
    with av.open(str(result.output_path)) as container:
        frames = list(container.decode(video=0))
    with av.open(str(result.output_path)) as container:
        audio_s = sum(f.samples for f in container.decode(audio=0)) / 48000
    assert result.frames == len(frames) == round(preview_s * FPS)
    assert abs(frames[0].time - start_s) < 1e-3
    assert abs(audio_s - preview_s) < 0.05


@pytest.mark.parametrize("fmt,encoder,name", [("matroska", "libx264", "long.mkv"), ("webm", "libvpx-vp9", "long.webm")])
def test_truncated_matroska_is_refused_or_kept_on_request(tmp_path, manager, fmt, encoder, name):
    source = make_video(tmp_path / name, frames=30, fmt=fmt, encoder=encoder)
    cut = truncate(source, 0.6)
    with pytest.raises(InvalidInput, match="truncated"):
        run(cut, manager, tmp_path, scale=1)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    kept = run(cut, manager, tmp_path, scale=1, keep_partial=True)
    with av.open(str(kept.output_path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert kept.partial and 5 < frames == kept.frames < 30
    assert any("kept partial" in note for note in kept.notes)


def test_the_whole_untruncated_matroska_passes(tmp_path, manager):
    source = make_video(tmp_path / "whole.mkv", frames=12, fmt="matroska", audio=[{"codec": "libopus"}])
    result = run(source, manager, tmp_path, scale=1)
    assert result.frames == 12 and not result.partial


def unknown_length_mkv(path, frames):
    """A Matroska file written as a live stream: no duration and no frame count in the container."""
    make_video(path, frames=frames, fmt="matroska", container_options={"live": "1"})
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert not video.frames and not video.duration and not container.duration
    return path


def test_unknown_length_is_counted_and_stopped_at_the_frame_limit(tmp_path, manager):
    source = unknown_length_mkv(tmp_path / "live.mkv", 12)
    config = limits(max_video_frames=5, max_video_seconds=3600)
    with pytest.raises(InvalidInput, match="more than 5 frames"):
        run(source, manager, tmp_path, scale=1, config=config)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_unknown_length_is_stopped_at_the_duration_limit(tmp_path, manager):
    source = unknown_length_mkv(tmp_path / "live.mkv", 25)
    config = limits(max_video_frames=1000, max_video_seconds=1)
    with pytest.raises(InvalidInput, match="more than 1 s"):
        run(source, manager, tmp_path, scale=1, config=config)


def test_unknown_length_under_the_limits_passes_with_a_note(tmp_path, manager):
    source = unknown_length_mkv(tmp_path / "live.mkv", 4)
    result = run(source, manager, tmp_path, scale=1, config=limits(max_video_frames=5))
    assert result.frames == 4 and any("neither its frame count nor its duration" in n for n in result.notes)


class NoModelWork:
    """A model manager that fails the test if a model is loaded."""
    def __init__(self, manager):
        self.models = manager.models

    def load_model(self, *args, **kwargs):
        raise AssertionError("a model was loaded")


def test_frame_pixels_over_the_image_limit_are_refused(tmp_path, manager):
    source = make_video(tmp_path / "big.mp4", frames=2)
    with pytest.raises(InvalidInput, match="image limit"):
        enhance_video_direct(source, MODEL, 1, model_manager=NoModelWork(manager), output_dir=tmp_path / "out",
                             config=limits(max_image_pixels=W * H - 1))


def test_the_models_x4_intermediate_counts_against_the_output_limit(tmp_path, manager):
    source = make_video(tmp_path / "big.mp4", frames=2)
    config = limits(max_output_pixels=W * H * 4)  # x1 output fits; the x4 pass (16x) does not
    with pytest.raises(InvalidInput, match="native x4 before resizing"):
        enhance_video_direct(source, MODEL, 1, model_manager=NoModelWork(manager), output_dir=tmp_path / "out",
                             config=config)
    with pytest.raises(InvalidInput, match="each frame would be"):
        enhance_video_direct(source, MODEL, 4, model_manager=NoModelWork(manager), output_dir=tmp_path / "out",
                             config=limits(max_output_pixels=W * H * 15))
