"""`python main.py video` as a user runs it: --keep-partial, and SIGTERM/SIGINT cleaning up."""
import signal
import subprocess
import sys
import time

import av
import pytest

from tests.conftest import ROOT
from tests.cli.test_cli import assert_one_clear_line, run
from tests.video_samples import make_video, truncate

pytestmark = pytest.mark.slow


@pytest.fixture
def env(cli_env):
    return {**cli_env, "TQDM_DISABLE": "1"}


def test_truncated_mkv_is_refused_unless_keep_partial(tmp_path, env):
    cut = truncate(make_video(tmp_path / "clip.mkv", frames=30, fmt="matroska"), 0.6)
    refused = run(["video", str(cut), "-o", str(tmp_path / "out"), "-s", "1"], env)
    assert refused.returncode == 1 and "truncated" in refused.stderr
    assert_one_clear_line(refused.stderr)
    kept = run(["video", str(cut), "-o", str(tmp_path / "out"), "-s", "1", "--keep-partial"], env)
    assert kept.returncode == 0, kept.stderr
    assert "note: kept partial result" in kept.stdout
    with av.open(str(tmp_path / "out" / "cut_clip_out.mp4")) as container:
        assert 5 < sum(1 for _ in container.decode(video=0)) < 30


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_removes_the_unfinished_file_and_says_so_in_one_line(tmp_path, env, signum):
    source = make_video(tmp_path / "long.mp4", frames=1500)  # minutes of work: the signal comes first
    out = tmp_path / "out"
    child = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "video", str(source), "-o", str(out), "-s", "2"],
                             env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out.is_dir() and any(p.name.endswith(".part") for p in out.iterdir())):
            assert child.poll() is None and time.monotonic() < deadline, child.communicate()
            time.sleep(0.05)
        child.send_signal(signum)
        stdout, stderr = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 128 + signum
    assert_one_clear_line(stderr)
    assert f"stopped by {signal.Signals(signum).name}" in stderr
    assert list(out.iterdir()) == []
