"""Video through PyAV in-process: frames, size, rate, timestamps and audio; damage and cancel."""
from fractions import Fraction

import av
import numpy as np
import pytest

from engine.jobs.video import enhance_video_direct
from utils.errors import Cancelled, InvalidInput

from tests.conftest import TESTDATA, needs_testdata

DEMO = TESTDATA / "realesrgan/video/onepiece_demo.mp4"
pytestmark = pytest.mark.slow


def streams(path):
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        facts = {"frames": sum(1 for _ in container.decode(video)), "width": video.codec_context.width,
                 "height": video.codec_context.height, "rate": video.average_rate,
                 "video_s": float(video.duration * video.time_base) if video.duration else None}
    with av.open(str(path)) as container:
        audio = container.streams.audio
        facts["audio_codecs"] = [a.codec_context.name for a in audio]
        facts["audio_s"] = float(audio[0].duration * audio[0].time_base) if audio and audio[0].duration else None
    return facts


@needs_testdata
def test_first_second_of_the_demo_at_x2(tmp_path, manager):
    result = enhance_video_direct(DEMO, "realesr-animevideov3", 2, model_manager=manager, output_dir=tmp_path,
                                  max_seconds=1.0)
    facts = streams(result.output_path)
    assert result.frames == facts["frames"] == 24
    assert (facts["width"], facts["height"]) == (1280, 960)
    assert facts["rate"] == Fraction(1199, 50)
    assert facts["audio_codecs"] == ["aac"]  # copied, not re-encoded
    assert abs(facts["audio_s"] - facts["video_s"]) <= 0.050
    assert [p.name for p in tmp_path.iterdir()] == ["onepiece_demo_out.mp4"]


@needs_testdata
def test_vp9_in_webm_re_encodes_the_audio_to_opus(tmp_path, manager):
    result = enhance_video_direct(DEMO, "realesr-animevideov3", 1, model_manager=manager, output_dir=tmp_path,
                                  max_seconds=0.2, codec="vp9")
    facts = streams(result.output_path)
    assert result.output_path.suffix == ".webm" and facts["audio_codecs"] == ["opus"]
    assert facts["frames"] == result.frames == 5


@needs_testdata
def test_truncated_file_gives_a_clear_error_and_no_output(tmp_path, manager):
    cut = tmp_path / "cut.mp4"
    data = DEMO.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    with pytest.raises(InvalidInput, match="truncated"):
        enhance_video_direct(cut, "realesr-animevideov3", 1, model_manager=manager, output_dir=out)
    assert not out.exists() or list(out.iterdir()) == []


@needs_testdata
def test_cancel_leaves_nothing_behind(tmp_path, manager):
    calls = []

    def cancel_after_three():
        calls.append(1)
        return len(calls) > 3
    with pytest.raises(Cancelled):
        enhance_video_direct(DEMO, "realesr-animevideov3", 1, model_manager=manager, output_dir=tmp_path,
                             should_cancel=cancel_after_three)
    assert list(tmp_path.iterdir()) == []


def make_vfr_video(path, pts_ms):
    """A small H.264 MP4 whose frames sit at irregular times (variable frame rate)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for i, ms in enumerate(pts_ms):
            image = np.full((32, 48, 3), (i * 40) % 255, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def test_variable_frame_rate_timestamps_are_kept(tmp_path, manager):
    pts_ms = [0, 33, 100, 110, 300, 400, 410, 700]
    source = tmp_path / "vfr.mp4"
    make_vfr_video(source, pts_ms)
    result = enhance_video_direct(source, "realesr-animevideov3", 2, model_manager=manager,
                                  output_dir=tmp_path / "out")
    with av.open(str(result.output_path)) as container:
        frames = list(container.decode(video=0))
    times = [round(float(f.pts * f.time_base) * 1000) for f in frames]
    assert times == pts_ms and (frames[0].width, frames[0].height) == (96, 64)


@pytest.mark.parametrize("content,phrase", [(b"", "empty"), (b"\x00\x00\x00\x18ftypisom" + b"\x00" * 200, "damaged")])
def test_broken_videos_are_refused(tmp_path, manager, content, phrase):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(InvalidInput, match=phrase):
        enhance_video_direct(bad, "realesr-animevideov3", 1, model_manager=manager, output_dir=tmp_path / "o")


def test_bad_settings(tmp_path, manager):
    with pytest.raises(InvalidInput, match="Codec"):
        enhance_video_direct(tmp_path / "x.mp4", codec="divx", model_manager=manager)
    with pytest.raises(InvalidInput, match="preview"):
        enhance_video_direct(tmp_path / "x.mp4", max_seconds=-1, model_manager=manager)


def test_batched_frames_match_single_frames(tmp_path, manager):
    source = tmp_path / "vfr.mp4"
    make_vfr_video(source, [0, 40, 80, 120, 160])
    single = enhance_video_direct(source, "realesr-animevideov3", 2, model_manager=manager,
                                  output_dir=tmp_path / "one", frame_batch=1)
    batched = enhance_video_direct(source, "realesr-animevideov3", 2, model_manager=manager,
                                   output_dir=tmp_path / "many", frame_batch=4)
    assert single.frames == batched.frames == 5

    def frames(path):
        with av.open(str(path)) as container:
            return [f.to_ndarray(format="rgb24").astype(int) for f in container.decode(video=0)]
    for a, b in zip(frames(single.output_path), frames(batched.output_path)):
        assert np.abs(a - b).mean() < 1.0  # the same pictures up to bf16 and encoder rounding
