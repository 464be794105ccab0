"""process_batch and the batch command: good files processed, broken ones reported, none lost."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from engine.jobs.batch import folder_inside, images_in, process_batch
from utils.errors import InvalidInput

from tests.conftest import ROOT


@pytest.fixture
def mixed_folder(tmp_path, chelsea):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(chelsea[i * 20: i * 20 + 24, :32]).save(folder / f"good{i}.png")
    (folder / "broken.png").write_text("not an image")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("ignored: not an image extension")
    return folder


def test_good_processed_broken_reported_none_lost(mixed_folder, tmp_path, manager):
    inputs = images_in(mixed_folder)
    assert [p.name for p in inputs] == ["broken.png", "empty.jpg", "good0.png", "good1.png", "good2.png"]
    seen = []
    result = process_batch(inputs, model_manager=manager, output_dir=tmp_path / "out", model_name="realesr-animevideov3",
                           outscale=2, make_zip=True, on_item=lambda d, t, n: seen.append((d, t)))
    assert result.summary() == "3 successful, 2 failed"
    status = {item.input_path.name: item for item in result.items}
    assert "not an image" in status["broken.png"].error and "empty" in status["empty.jpg"].error
    assert all(Image.open(status[f"good{i}.png"].output_path).size == (64, 48) for i in range(3))
    assert seen[-1] == (5, 5)
    import zipfile
    assert sorted(zipfile.ZipFile(result.zip_path).namelist()) == ["good0_out.png", "good1_out.png", "good2_out.png"]


def test_resume_redoes_nothing(mixed_folder, tmp_path, manager):
    inputs = [p for p in images_in(mixed_folder) if p.name.startswith("good")]
    out = tmp_path / "out"
    first = process_batch(inputs[:2], model_manager=manager, output_dir=out, model_name="realesr-animevideov3", outscale=1)
    stamps = {item.output_path: item.output_path.stat().st_mtime_ns for item in first.items}
    again = process_batch(inputs, model_manager=manager, output_dir=out, model_name="realesr-animevideov3", outscale=1,
                          resume=True)
    assert [item.status for item in again.items] == ["skipped", "skipped", "ok"]
    assert all(path.stat().st_mtime_ns == stamp for path, stamp in stamps.items())


def test_cancel_stops_between_items(mixed_folder, tmp_path, manager):
    inputs = [p for p in images_in(mixed_folder) if p.name.startswith("good")]
    done = []
    result = process_batch(inputs, model_manager=manager, output_dir=tmp_path / "out", model_name="realesr-animevideov3",
                           outscale=1, on_item=lambda d, t, n: done.append(d), should_cancel=lambda: len(done) >= 2)
    assert len(result.items) == 1 and result.items[0].status == "ok"


@pytest.mark.parametrize("outside", ["..", "../..", "/etc", "sub/../../x"])
def test_server_folders_outside_the_input_directory_are_refused(tmp_path, outside):
    root = tmp_path / "inputs"
    (root / "sub").mkdir(parents=True)
    with pytest.raises(InvalidInput, match="outside the input folder"):
        folder_inside(root, outside)
    assert folder_inside(root, "sub") == (root / "sub").resolve()


def test_symlink_escaping_the_input_directory_is_refused(tmp_path):
    root = tmp_path / "inputs"
    root.mkdir()
    (root / "escape").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(InvalidInput, match="outside"):
        folder_inside(root, "escape")


def test_batch_command(mixed_folder, tmp_path, cli_env):
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "batch", str(mixed_folder), "-o",
                             str(tmp_path / "out"), "-n", "realesr-animevideov3", "-s", "1"], env=cli_env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "3 successful, 2 failed" in result.stdout
    errors = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(errors) == 2 and all(ln.startswith("error: ") for ln in errors)
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == [
        "good0_out.png", "good1_out.png", "good2_out.png"]


def test_analyze_command_prints_the_json(cli_env, skimage_dir):
    import json
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "analyze", str(skimage_dir / "coffee.png")],
                            env=cli_env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"settings", "reasoning", "analysis"} and data["analysis"]["resolution"] == "600x400"
    assert np.isfinite(data["analysis"]["noise_sigma"])


def solid(path, colour, size=(24, 16)):
    Image.new("RGB", size, colour).save(path)
    return path


def test_resume_knows_a_result_by_content_not_by_name(tmp_path, manager):
    """Another photo with the same name is new work; the same photo under its name is done."""
    out = tmp_path / "out"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    red = solid(tmp_path / "a" / "photo.png", "red")
    first = process_batch([red], model_manager=manager, output_dir=out, model_name="realesr-animevideov3", outscale=1)
    blue = solid(tmp_path / "b" / "photo.png", "blue")
    again = process_batch([blue], model_manager=manager, output_dir=out, model_name="realesr-animevideov3",
                          outscale=1, resume=True, overwrite=False)
    assert again.items[0].status == "ok" and again.items[0].output_path != first.items[0].output_path
    assert np.asarray(Image.open(again.items[0].output_path))[8, 12].argmax() == 2  # blue, not the red result
    same = process_batch([red], model_manager=manager, output_dir=out, model_name="realesr-animevideov3",
                         outscale=1, resume=True)
    assert same.items[0].status == "skipped" and same.items[0].output_path == first.items[0].output_path
    other_settings = process_batch([red], model_manager=manager, output_dir=out, model_name="realesr-animevideov3",
                                   outscale=2, resume=True, overwrite=False)
    assert other_settings.items[0].status == "ok"


def test_inputs_sharing_a_stem_get_a_result_each(tmp_path, manager):
    png = solid(tmp_path / "pic.png", "red")
    gif = tmp_path / "pic.gif"
    Image.new("P", (24, 16), 3).save(gif)
    result = process_batch([png, gif], model_manager=manager, output_dir=tmp_path / "out",
                           model_name="realesr-animevideov3", outscale=1)
    assert sorted(i.output_path.name for i in result.items) == ["pic-gif_out.png", "pic-png_out.png"]
    assert np.asarray(Image.open(tmp_path / "out" / "pic-png_out.png"))[8, 12].argmax() == 0


def test_cli_upscale_two_inputs_with_one_stem(tmp_path, cli_env):
    solid(tmp_path / "pic.png", "red")
    solid(tmp_path / "pic.jpg", "blue")
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "upscale", str(tmp_path / "pic.png"),
                             str(tmp_path / "pic.jpg"), "-o", str(tmp_path / "out"), "-n", "realesr-animevideov3",
                             "-s", "1"], env=cli_env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    made = {p.name: np.asarray(Image.open(p).convert("RGB"))[8, 12] for p in (tmp_path / "out").iterdir()}
    assert sorted(made) == ["pic-jpg_out.jpg", "pic-png_out.png"]
    assert made["pic-png_out.png"].argmax() == 0 and made["pic-jpg_out.jpg"].argmax() == 2


def test_resume_never_hands_back_a_result_overwritten_since(tmp_path, manager):
    """Red photo.png, then blue photo.png into the same folder (overwriting the red result), then red
    again with resume: the red result is gone, so the red photo is enhanced anew."""
    out = tmp_path / "out"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    red, blue = solid(tmp_path / "a" / "photo.png", "red"), solid(tmp_path / "b" / "photo.png", "blue")
    options = dict(model_manager=manager, output_dir=out, model_name="realesr-animevideov3", outscale=1)
    process_batch([red], **options)
    process_batch([blue], resume=True, **options)
    again = process_batch([red], resume=True, **options)
    assert again.items[0].status == "ok"
    assert np.asarray(Image.open(again.items[0].output_path))[8, 12].argmax() == 0


def test_resume_knows_equal_settings_however_they_were_passed(tmp_path, manager):
    image = solid(tmp_path / "x.png", "green")
    options = dict(model_manager=manager, output_dir=tmp_path / "out", model_name="realesr-animevideov3")
    process_batch([image], outscale=1, **options)
    assert process_batch([image], outscale=1.0, quality=95, resume=True, **options).items[0].status == "skipped"


def test_a_batch_template_must_name_each_image_after_itself(tmp_path, manager):
    images = [solid(tmp_path / "a.png", "red"), solid(tmp_path / "b.png", "blue")]
    for template in ("result.{ext}", "{model}_{scale}.{ext}", "{stem}/../x.{ext}"):
        with pytest.raises(InvalidInput, match=r"\{stem\}|not a folder"):
            process_batch(images, model_manager=manager, output_dir=tmp_path / "out", model_name="realesr-animevideov3",
                          outscale=1, name_template=template)
    assert not (tmp_path / "out").exists()


def test_the_time_limit_stops_a_batch_but_keeps_what_it_finished(tmp_path, manager):
    from engine.jobs.job_control import JobControl
    images = [solid(tmp_path / f"{n}.png", "red") for n in "abc"]
    clock = {"now": 0.0}

    def starting(index: int, _total: int, _name: str) -> None:  # each image "takes" 2 s on this clock
        clock["now"] = 2.0 * index
    # the check also runs inside every forward, so the clock moves per image, not per check: the first
    # image fits in the limit, the second passes it (and stops inside its forward)
    control = JobControl(time_limit_s=1.5, clock=lambda: clock["now"])
    result = process_batch(images, model_manager=manager, output_dir=tmp_path / "out", model_name="realesr-animevideov3",
                           outscale=1, should_cancel=control, make_zip=True, on_item=starting)
    assert [i.status for i in result.items] == ["ok"] and "limit" in result.summary()
    assert result.zip_path is not None and result.items[0].output_path.is_file()
