"""The job history in SQLite: what is recorded, filters, a corrupt file, and the CLI listing."""
import json
import subprocess
import sys

import pytest
from PIL import Image

from engine.jobs.batch import images_in, process_batch
from engine.jobs.history import History
from engine.jobs.image import enhance_image_direct
from utils.errors import InvalidInput

from tests.conftest import ROOT


@pytest.fixture
def history(tmp_path):
    return History(tmp_path / "data" / "history.sqlite3")


def test_success_and_failure_are_recorded(tmp_path, history, manager, chelsea):
    source = tmp_path / "cat.png"
    Image.fromarray(chelsea[:20, :30]).save(source)
    enhance_image_direct(source, "realesr-animevideov3", 2, model_manager=manager, output_dir=tmp_path / "out",
                         history=history, quality=90)
    broken = tmp_path / "broken.png"
    broken.write_text("nope")
    with pytest.raises(InvalidInput):
        enhance_image_direct(broken, "realesr-animevideov3", 2, model_manager=manager, output_dir=tmp_path / "out",
                             history=history)
    failed, ok = history.jobs()
    assert (ok.kind, ok.status, ok.input_name, ok.model) == ("image", "ok", "cat.png", "realesr-animevideov3")
    assert ok.settings["outscale"] == 2 and ok.settings["quality"] == 90 and ok.device == "cpu"
    assert len(ok.input_sha256) == 64 and ok.output_path.endswith("cat_out.png") and ok.seconds >= 0
    assert failed.status == "failed" and "not an image" in failed.error
    assert [j.id for j in history.jobs(status="failed")] == [failed.id]
    assert history.jobs(search="broken")[0].id == failed.id
    assert history.get(ok.id) == ok


def test_batch_items_share_a_batch_id(tmp_path, history, manager, chelsea):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(chelsea[i * 10: i * 10 + 16, :16]).save(folder / f"{i}.png")
    process_batch(images_in(folder), model_manager=manager, output_dir=tmp_path / "out",
                  model_name="realesr-animevideov3", outscale=1, history=history)
    jobs = history.jobs(kind="batch-item")
    assert len(jobs) == 2 and len({j.batch_id for j in jobs}) == 1 and all(j.status == "ok" for j in jobs)


def test_corrupt_history_is_moved_aside_and_a_new_one_started(tmp_path, history):
    history.db_path.parent.mkdir(parents=True)
    history.db_path.write_bytes(b"this is not a database" * 100)
    assert history.jobs() == []
    assert history.record(kind="image", input_path=None, settings={}, model="m", device="cpu", started_at=0,
                          status="ok") > 0
    assert list(history.db_path.parent.glob("history.sqlite3.corrupt-*"))


def test_history_command(tmp_path, cli_env, chelsea):
    source = tmp_path / "cat.png"
    Image.fromarray(chelsea[:20, :20]).save(source)
    run = lambda *args: subprocess.run([sys.executable, str(ROOT / "main.py"), *args], env=cli_env,  # noqa: E731
                                       capture_output=True, text=True, timeout=300)
    assert run("upscale", str(source), "-o", str(tmp_path / "out"), "-n", "realesr-animevideov3", "-s", "1").returncode == 0
    assert run("upscale", str(tmp_path / "missing.png"), "-o", str(tmp_path / "out")).returncode == 1
    listing = run("history")
    assert listing.returncode == 0 and "cat.png" in listing.stdout and "failed" in listing.stdout
    jobs = json.loads(run("history", "--status", "ok", "--json").stdout)
    assert [j["input_name"] for j in jobs] == ["cat.png"]


def test_run_again_settings_come_from_the_recorded_job():
    from ui.tabs.history import settings_from_job
    settings = settings_from_job({"model": "realesr-animevideov3", "outscale": 3.0, "blend_model": "RealESRGAN_x4plus",
                                  "blend_weight": 0.25, "double_pass": True, "strip_metadata": True,
                                  "face_options": {"fidelity": 0.4}})
    assert (settings.model, settings.outscale, settings.blend_model, settings.blend_weight) == \
        ("realesr-animevideov3", 3.0, "RealESRGAN_x4plus", 0.25)
    assert settings.double_pass and settings.strip_metadata and settings.face_fidelity == 0.4
    assert settings_from_job({"model": "RealESRGAN_x4plus", "blend_model": None}).blend_model == ""


def test_a_refused_setting_is_recorded_and_a_request_may_come_second(tmp_path, history, manager, chelsea):
    from engine.request import EnhanceRequest
    source = tmp_path / "cat.png"
    Image.fromarray(chelsea[:20, :30]).save(source)
    with pytest.raises(InvalidInput, match="Unknown setting 'qualty'"):
        enhance_image_direct(source, "realesr-animevideov3", 2, model_manager=manager, output_dir=tmp_path / "out",
                             history=history, qualty=90)
    result = enhance_image_direct(source, EnhanceRequest(model="realesr-animevideov3", outscale=2),
                                  model_manager=manager, output_dir=tmp_path / "out", history=history)
    assert Image.open(result.output_path).size == (60, 40)
    ok, refused = history.jobs()
    assert (refused.status, refused.model, refused.input_name) == ("failed", "realesr-animevideov3", "cat.png")
    assert "qualty" in refused.error and ok.status == "ok"
