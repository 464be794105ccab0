"""The Ray mode on a local Ray instance (2 CPUs): the same outputs and history rows as local mode."""
import numpy as np
import pytest
from PIL import Image

from engine.jobs.batch import images_in, process_batch
from engine.jobs.history import History
from utils.images import read_image
from utils.metrics import psnr

ray = pytest.importorskip("ray", reason="Ray is an optional extra (requirements-cluster.txt)")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def comparable(job):
    return (job.kind, job.input_name, job.input_sha256, job.settings, job.model, job.device, job.status,
            job.output_path and job.output_path.rsplit("/", 1)[1], job.error)


def test_ray_mode_matches_local_mode(local_ray, tmp_path, weights_dir, manager, chelsea):
    from engine.jobs.cluster import process_batch_ray
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(chelsea[i * 30: i * 30 + 40, i * 40: i * 40 + 56]).save(folder / f"img{i}.png")
    (folder / "broken.png").write_text("not an image")
    inputs = images_in(folder)
    local_history, ray_history = History(tmp_path / "local.db"), History(tmp_path / "ray.db")
    local = process_batch(inputs, model_manager=manager, output_dir=tmp_path / "local", model_name="realesr-animevideov3",
                          outscale=2, history=local_history)
    remote = process_batch_ray(inputs, weights_dir=weights_dir, output_dir=tmp_path / "ray",
                               model_name="realesr-animevideov3", outscale=2, history=ray_history)
    assert [i.status for i in remote.items] == [i.status for i in local.items] == ["failed", "ok", "ok", "ok", "ok"]
    for a, b in zip(local.items[1:], remote.items[1:]):
        assert psnr(read_image(a.output_path).pixels, read_image(b.output_path).pixels) >= 60
    assert sorted(map(comparable, local_history.jobs()), key=str) == sorted(map(comparable, ray_history.jobs()), key=str)
    assert len({j.batch_id for j in ray_history.jobs()}) == 1
    assert np.isfinite([j.seconds for j in ray_history.jobs()]).all()


def test_batch_command_with_ray(tmp_path, cli_env, chelsea):
    import subprocess
    import sys

    from tests.conftest import ROOT
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(chelsea[i * 30: i * 30 + 32, :32]).save(folder / f"{i}.png")
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "batch", str(folder), "-o", str(tmp_path / "out"),
                             "-n", "realesr-animevideov3", "-s", "1", "--ray"], env=cli_env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "2 successful, 0 failed" in result.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".realesrgan-done.jsonl", "0_out.png", "1_out.png"]
