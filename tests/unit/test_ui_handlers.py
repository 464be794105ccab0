"""The UI tabs' handlers called as plain functions, without a browser or a server: the values a
tab's widgets hold go in, what the widgets show comes out (results read back with Pillow, PyAV,
zipfile and json, not with our code)."""
import dataclasses
import json
import zipfile
from pathlib import Path

import av
import gradio as gr
import pytest
from PIL import Image

from engine.jobs.naming import KEEP_NAME_TEMPLATE
from engine.request import EnhanceRequest
from ui.services import CancelToken, Services
from ui.tabs import batch, compare, history, image, image_set, presets, system, video
from utils.errors import InvalidInput

from tests.video_samples import make_video

MODEL = "realesr-animevideov3"  # bundled and small: any model will do
NOT_HERE = "RealESRGAN_x2plus"  # not in the bundled pack, and downloads are off
IMAGE_FIELDS = ["model", "outscale", "size", "tile", "precision", "face_enhance", "face_restorer", "face_fidelity",
                "denoise_strength", "alpha_upsampler", "output_format", "quality", "strip_metadata", "blend_model",
                "blend_weight", "double_pass"]  # the Image tab's widgets, in the /enhance_image API's order


@pytest.fixture
def services(app_config, manager) -> Services:
    """The services the app builds (ui/app.py), sharing the session's model cache."""
    app_config.ensure_directories()
    return dataclasses.replace(Services.from_config(app_config), manager=manager)


@pytest.fixture
def progress_calls():
    """A stand-in for gr.Progress that remembers each call's description."""
    calls: list[str] = []

    def progress(fraction, desc=""):
        calls.append(desc)
    progress.calls = calls
    return progress


def message_of(raised: pytest.ExceptionInfo) -> str:
    """The sentence a user reads; it must be one sentence, never a traceback or a library's text."""
    assert isinstance(raised.value, gr.Error)
    text = raised.value.message
    assert "\n" not in text and "Traceback" not in text and text.rstrip().endswith((".", ")"))
    return text


def written(services: Services) -> list:
    """The files under the output folder (a refused job writes none)."""
    return [p for p in services.config.OUTPUT_DIR.rglob("*") if p.is_file()]


def small_image(path, chelsea, width=16, height=12):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(chelsea[100:100 + height, 200:200 + width]).save(path)
    return path


# -- Batch ---------------------------------------------------------------------------------------------

def run_batch(services, files=None, folder="", **options):
    return batch.run_batch(services, files, folder, options.pop("model_name", MODEL), options.pop("scale", 1),
                           False, CancelToken(), **options)


@pytest.mark.parametrize("folder", ["../elsewhere", "/etc", "scans/../../x"])
def test_batch_refuses_a_folder_outside_the_input_folder(services, folder):
    (services.config.INPUT_DIR.parent / "elsewhere").mkdir(parents=True, exist_ok=True)
    with pytest.raises(gr.Error) as raised:
        run_batch(services, folder=folder)
    assert "outside the input folder" in message_of(raised)
    assert written(services) == []


def test_batch_asks_for_images_and_refuses_a_template_without_stem_before_any_work(services, tmp_path, chelsea):
    with pytest.raises(gr.Error) as raised:
        run_batch(services, files=[], folder="  ")
    assert message_of(raised) == "Add images or name a folder first."
    picture = small_image(tmp_path / "pic.png", chelsea)
    with pytest.raises(gr.Error) as raised:
        run_batch(services, files=[str(picture)], name_template="{model}.{ext}")
    assert "{stem}" in message_of(raised)
    with pytest.raises(gr.Error) as raised:
        run_batch(services, files=[str(picture)], scale=20)
    assert "8" in message_of(raised)
    assert written(services) == []


def test_batch_request_carries_each_choice_over_the_server_defaults(app_config, weights_dir):
    from config import AppConfig
    defaults = Services.from_config(app_config).settings.defaults
    job = batch.batch_request(defaults, MODEL, 2, "{stem}_{model}.{ext}", True, True, "cpu")
    assert (job.model, job.outscale, job.name_template, job.overwrite, job.strip_metadata, job.device) == (
        MODEL, 2.0, "{stem}_{model}.{ext}", False, True, "cpu")
    assert job.precision == "auto" and job.quality == EnhanceRequest().quality
    assert batch.batch_request(defaults, MODEL, 4, "", False, False, "default").device is None
    assert batch.batch_template("  ", keep=False) == "" and batch.batch_template("x", keep=True) == KEEP_NAME_TEMPLATE
    fp32 = AppConfig.from_env({"REALESRGAN_WEIGHTS_DIR": str(weights_dir), "REALESRGAN_FP32": "true"}, env_file="")
    fp32_defaults = Services.from_config(fp32).settings.defaults
    assert batch.batch_request(fp32_defaults, MODEL, 2, "", False, False, None).precision == "fp32"


def test_batch_of_a_folder_tree_mirrors_it_zips_it_and_records_each_image(services, chelsea, progress_calls):
    scans = services.config.INPUT_DIR / "scans"
    small_image(scans / "a.png", chelsea)
    small_image(scans / "1998" / "b.png", chelsea, width=10, height=8)
    (scans / "notes.txt").write_text("not an image")
    summary, table, shown, archive = run_batch(services, folder="scans", scale=2, subfolders=True,
                                               name_template="{stem}_{scale}.{ext}", progress=progress_calls)
    assert summary == "**2 successful, 0 failed**"
    assert [row[:3] for row in table] == [["b.png", "ok", "b_2x.png"], ["a.png", "ok", "a_2x.png"]]
    sizes = {Path(p).name: Image.open(p).size for p in shown}
    assert sizes == {"b_2x.png": (20, 16), "a_2x.png": (32, 24)}
    assert any(p.endswith("1998/b_2x.png") for p in shown)  # the tree is mirrored
    with zipfile.ZipFile(archive) as zipped:
        assert sorted(zipped.namelist()) == ["1998/b_2x.png", "a_2x.png"]
    assert any(call.startswith("image 1/2") for call in progress_calls.calls)
    recorded = services.history.jobs(kind="batch-item")
    assert len(recorded) == 2 and {j.settings["name_template"] for j in recorded} == {"{stem}_{scale}.{ext}"}


# -- Video ---------------------------------------------------------------------------------------------

def run_video(services, path, **options):
    return video.run_video(services, path, options.pop("model_name", MODEL), options.pop("scale", 1), "h264", 18,
                           options.pop("seconds", 0), CancelToken(), None, **options)


def test_video_refuses_no_upload_and_a_missing_file(services, tmp_path):
    with pytest.raises(gr.Error) as raised:
        run_video(services, None)
    assert message_of(raised) == "Upload a video first."
    with pytest.raises(gr.Error) as raised:
        run_video(services, str(tmp_path / "gone.mp4"))
    assert message_of(raised) == "gone.mp4: file not found."
    assert written(services) == []


def test_video_request_reads_the_widgets_over_the_video_defaults(services):
    job = video.video_request(services, None, None, "vp9", 30.0, 0, "cpu")
    assert (job.model, job.outscale, job.codec, job.crf, job.max_seconds, job.device) == (
        MODEL, 2.0, "vp9", 30, None, "cpu")
    assert video.video_request(services, MODEL, 1.5, "h264", 18, 2.5, "default").max_seconds == 2.5
    with pytest.raises(InvalidInput):
        video.video_request(services, MODEL, 2, "divx", 18, 0, None)


def test_video_of_three_frames_comes_out_whole(services, tmp_path, progress_calls):
    source = make_video(tmp_path / "clip.mp4", frames=3)
    path, status = run_video(services, str(source), progress=progress_calls)
    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    assert len(frames) == 3 and frames[0].shape == (48, 64, 3)
    assert path.endswith("clip_out.mp4") and "Saved as `clip_out.mp4`" in status
    assert progress_calls.calls
    assert [j.kind for j in services.history.jobs()] == ["video"]


# -- Presets -------------------------------------------------------------------------------------------

def test_presets_save_apply_delete_round_trip(services):
    settings, available = services.settings, services.manager.upscaler_names()
    chosen = EnhanceRequest(model=MODEL, outscale=2, quality=80, strip_metadata=True, blend_weight=0.3)
    values = image.values_for(IMAGE_FIELDS, chosen, available)
    choices, saved, note = presets.save_preset(settings, IMAGE_FIELDS, "  My   look ", values)
    assert saved == "My look" and saved in choices and note == "Saved **My look**."
    on_disk = json.loads(services.config.PRESETS_FILE.read_text())
    assert "My look" in json.dumps(on_disk) and '"quality": 80' in json.dumps(on_disk)
    assert presets.preset_details(settings, "My look")["outscale"] == 2
    applied, note = presets.apply_preset(settings, available, IMAGE_FIELDS, "My look")
    assert applied == values and note == "Applied **My look**."
    assert image.request_from(IMAGE_FIELDS, applied) == chosen
    choices, note = presets.delete_preset(settings, "My look")
    assert "My look" not in choices and note == "Deleted **My look**."
    assert presets.preset_details(settings, "My look") is None
    with pytest.raises(gr.Error) as raised:
        presets.apply_preset(settings, available, IMAGE_FIELDS, "My look")
    message_of(raised)


def test_a_face_preset_leaves_face_enhancement_off_without_a_face_restorer(services):
    settings, available = services.settings, services.manager.upscaler_names()
    applied, note = presets.apply_preset(settings, available, IMAGE_FIELDS, "Old photo with faces", face_ok=False)
    assert applied[IMAGE_FIELDS.index("face_enhance")] is False
    assert applied[IMAGE_FIELDS.index("outscale")] == 2 and "Face enhancement stays off" in note
    applied, note = presets.apply_preset(settings, available, IMAGE_FIELDS, "Old photo with faces", face_ok=True)
    assert applied[IMAGE_FIELDS.index("face_enhance")] is True and note == "Applied **Old photo with faces**."


def test_presets_refuse_a_bad_value_and_deleting_a_built_in_one(services):
    settings = services.settings
    values = image.values_for(IMAGE_FIELDS, EnhanceRequest(), services.manager.upscaler_names())
    values[IMAGE_FIELDS.index("quality")] = 500
    with pytest.raises(gr.Error) as raised:
        presets.save_preset(settings, IMAGE_FIELDS, "Too good", values)
    assert "Quality 500" in message_of(raised)
    assert "Too good" not in settings.preset_names()
    with pytest.raises(gr.Error) as raised:
        presets.delete_preset(settings, "Photo")
    message_of(raised)
    assert "Photo" in settings.preset_names()
    assert presets.preset_details(settings, "Photo")["model"] == "RealESRGAN_x4plus"


# -- History -------------------------------------------------------------------------------------------

def record(services, status="ok", kind="image", model=MODEL, **settings):
    return services.history.record(kind=kind, input_path=None, settings={"model": model, **settings}, model=model,
                                   device="cpu", started_at=1.0, status=status, error=None if status == "ok" else "bad")


def test_run_again_turns_a_recorded_job_into_the_image_tabs_values(services):
    available = services.manager.upscaler_names()
    job_id = record(services, outscale=2, quality=70, blend_model="", double_pass=True, retired_option=True)
    values, note, source = history.run_again(services.history_of(None), available, IMAGE_FIELDS, str(job_id))
    again = dict(zip(IMAGE_FIELDS, values))
    assert (again["model"], again["outscale"], again["quality"], again["double_pass"], again["blend_model"]) == (
        MODEL, 2.0, 70, True, image.NO_SECOND_MODEL)
    assert note.startswith(f"Job #{job_id}'s settings are in the Image tab") and source is None
    filled = image.fill_image_tab(values, note)
    assert filled[:len(values)] == values and filled[-1] == note and isinstance(filled[-2], gr.Tabs)


def test_run_again_refuses_an_unknown_job_and_a_model_no_longer_there(services):
    mine = services.history_of(None)
    with pytest.raises(gr.Error) as raised:
        history.run_again(mine, services.manager.upscaler_names(), IMAGE_FIELDS, 99)
    assert message_of(raised) == "There is no job #99 in your history; pick a number from the table."
    with pytest.raises(gr.Error) as raised:
        history.run_again(mine, services.manager.upscaler_names(), IMAGE_FIELDS, "not a number")
    assert "no job #0" in message_of(raised)
    gone = record(services, model="custom/removed")
    with pytest.raises(gr.Error) as raised:
        history.run_again(mine, services.manager.upscaler_names(), IMAGE_FIELDS, gone)
    assert message_of(raised) == f"Job #{gone} used custom/removed, which is no longer available."


def test_run_again_brings_back_the_input_kept_in_the_owners_job_folder_and_says_when_it_is_gone(
        services, tmp_path, chelsea):
    picture = small_image(tmp_path / "upload" / "holiday.png", chelsea, width=20, height=14)
    values = image.values_for(IMAGE_FIELDS, EnhanceRequest(model=MODEL, outscale=2), services.manager.upscaler_names())
    image.enhance(services, IMAGE_FIELDS, str(picture), values, CancelToken(), None, None, None)
    job = services.history.jobs(kind="image")[0]
    mine, root = services.history_of(None), services.owner_root(None)
    again, note, source = history.run_again(mine, services.manager.upscaler_names(), IMAGE_FIELDS, job.id,
                                            owner_root=root)
    assert dict(zip(IMAGE_FIELDS, again))["outscale"] == 2.0
    assert note == f"Job #{job.id}'s image (`holiday.png`) and settings are in the Image tab; press Enhance."
    assert Path(source).read_bytes() == picture.read_bytes() and Path(source).name == "holiday.png"
    assert Path(source).parent.parent == Path(job.output_path).parent  # beside its result, in the job's folder
    picture.unlink()  # the upload is cleaned up: the kept copy is what comes back
    again = history.run_again(mine, services.manager.upscaler_names(), IMAGE_FIELDS, job.id, owner_root=root)
    assert again[2] == source
    # another user's folder is never read, even for a job recorded with a path there
    assert history.run_again(mine, services.manager.upscaler_names(), IMAGE_FIELDS, job.id,
                             owner_root=services.config.OUTPUT_DIR / "user-bob-0123456789")[2] is None
    from engine.jobs.job_folders import keep_input
    disguised = tmp_path / "upload" / "page.html"  # a real PNG with a name that would be served as a page
    disguised.write_bytes(Path(source).read_bytes())
    assert keep_input(disguised, tmp_path / "job") is None and not (tmp_path / "job").exists()
    Path(source).unlink()  # cleaned up: the settings only, and the note says so in one sentence
    again, note, source = history.run_again(mine, services.manager.upscaler_names(), IMAGE_FIELDS, job.id,
                                            owner_root=root)
    assert source is None and dict(zip(IMAGE_FIELDS, again))["outscale"] == 2.0
    assert note == (f"Job #{job.id}'s settings are in the Image tab, but its image `holiday.png` was not kept on "
                    "the server (or was removed since); upload it (or another image) and Enhance.")


def test_with_keep_inputs_off_no_image_is_kept_and_run_again_says_so(app_config, manager, tmp_path, chelsea):
    app_config.ensure_directories()
    services = dataclasses.replace(Services.from_config(app_config.replace(KEEP_INPUTS=False)), manager=manager)
    picture = small_image(tmp_path / "upload" / "private.png", chelsea, width=20, height=14)
    values = image.values_for(IMAGE_FIELDS, EnhanceRequest(model=MODEL, outscale=2), services.manager.upscaler_names())
    image.enhance(services, IMAGE_FIELDS, str(picture), values, CancelToken(), None, None, None)
    job = services.history.jobs(kind="image")[0]
    assert Path(job.output_path).is_file()
    assert not any(p.name == "private.png" for p in services.config.OUTPUT_DIR.rglob("*"))  # only the result
    _, note, source = history.run_again(services.history_of(None), services.manager.upscaler_names(), IMAGE_FIELDS,
                                        job.id, owner_root=services.owner_root(None))
    assert source is None and "`private.png` was not kept on the server" in note


def test_history_rows_follow_the_filters(services):
    ok = record(services)
    failed = record(services, status="failed", kind="video", model="RealESRGAN_x4plus")
    mine = services.history_of(None)
    assert [row[0] for row in history.job_rows(mine, "all", "all", "")] == [str(failed), str(ok)]
    assert [row[0] for row in history.job_rows(mine, "video", "all", None)] == [str(failed)]
    assert [row[0] for row in history.job_rows(mine, "all", "ok", "")] == [str(ok)]
    assert [row[0] for row in history.job_rows(mine, "all", "all", "x4plus")] == [str(failed)]


# -- System --------------------------------------------------------------------------------------------

def test_system_snapshot_lists_every_model_and_the_missing_ones(services):
    info, table, missing = system.snapshot(services)
    by_name = {row[0]: row for row in table}
    assert by_name[MODEL][1:3] == ["upscaler", "bundled"]
    assert {"RealESRGAN_x4plus", "RealESRGAN_x4plus_anime_6B", NOT_HERE, "GFPGANv1.4"} <= set(by_name)
    assert NOT_HERE in missing and MODEL not in missing
    assert "**PyTorch:**" in info and str(services.config.OUTPUT_DIR) in info


def test_system_download_refuses_no_choice_and_an_unknown_model(services):
    with pytest.raises(gr.Error) as raised:
        system.download(services, None)
    assert message_of(raised) == "Choose a model to download."
    with pytest.raises(gr.Error) as raised:
        system.download(services, "SuperModel_x9")
    assert message_of(raised) == "Unknown model; choose one from the list."
    *snapshot, note = system.download(services, MODEL)  # bundled: found here, nothing fetched
    assert note == f"Downloaded and verified **{MODEL}**." and MODEL not in snapshot[2]


# -- Models without weights ---------------------------------------------------------------------------

def test_every_model_list_marks_a_model_without_weights_and_choosing_it_says_what_to_do(services, tmp_path,
                                                                                        chelsea):
    from ui.formatting import model_choices
    from ui.services import model_note
    labels = dict((name, label) for label, name in model_choices(services.manager.list_models(("upscaler",))))
    assert labels[NOT_HERE] == f"{NOT_HERE}  (not downloaded)" and labels[MODEL] == f"{MODEL}  (bundled)"
    boxes = dict((name, label) for label, name in compare.model_boxes(services.manager.list_models(("upscaler",))))
    assert boxes[NOT_HERE] == f"{NOT_HERE}  (not downloaded)" and boxes[MODEL] == MODEL  # the Compare checkboxes
    assert model_note(services, MODEL) == "" and model_note(services, "custom/mine") == ""
    note = model_note(services, NOT_HERE)  # downloads are off in the test config
    assert note == (f"⚠️ {NOT_HERE} is not on this server and downloads are off; choose another model, or ask "
                    f"the administrator to put {NOT_HERE}.pth in the weights folder.")
    assert str(services.config.WEIGHTS_DIR) not in note and "/" not in note
    downloading = dataclasses.replace(services, config=dataclasses.replace(services.config, ALLOW_DOWNLOADS=True))
    assert model_note(downloading, NOT_HERE) == (f"⚠️ {NOT_HERE} is not on this server yet; download it in the "
                                                 "System tab, then try again.")
    picture = small_image(tmp_path / "in" / "pic.png", chelsea)
    with pytest.raises(gr.Error) as raised:  # one sentence before any image, not one long error per image
        run_batch(services, [str(picture)], model_name=NOT_HERE)
    text = message_of(raised)
    assert text.startswith(f"{NOT_HERE} is not on this server and downloads are off") and "/" not in text
    assert written(services) == [] and services.history.jobs(kind="batch-item") == []


# -- Compare and Image ---------------------------------------------------------------------------------

def test_compare_region_is_the_centre_unless_placed():
    assert compare.region_of(100, 80, -1, -1, compare.DEFAULT_REGION_PX) is None
    assert compare.region_of(100, 80, -1, None, 64) == (18, 8, 64, 64)
    assert compare.region_of(100, 80, 5, 6, 32) == (5, 6, 32, 32)
    assert compare.region_of(40, 30, -1, -1, 64) == (0, 0, 64, 64)


def test_compare_runs_the_models_here_and_names_the_others(services, tmp_path, chelsea):
    with pytest.raises(gr.Error) as raised:
        compare.compare(services, None, [MODEL], -1, -1, 16)
    assert message_of(raised) == "Upload an image first."
    picture = small_image(tmp_path / "pic.png", chelsea, width=24, height=20)
    grid, timings, ran = compare.compare(services, str(picture), [MODEL, NOT_HERE], 4, 2, 16)
    assert ran == [MODEL] and isinstance(grid, Image.Image) and grid.width >= 2 * 16 * 4
    assert f"| {NOT_HERE} | not available: {NOT_HERE} is not on this server" in timings and f"| {MODEL} | " in timings
    assert str(services.config.WEIGHTS_DIR) not in timings and "http" not in timings


def test_image_enhance_refuses_no_upload_and_a_bad_value_without_writing_anything(services, tmp_path, chelsea):
    values = image.values_for(IMAGE_FIELDS, EnhanceRequest(model=MODEL, outscale=1), services.manager.upscaler_names())
    with pytest.raises(gr.Error) as raised:
        image.enhance(services, IMAGE_FIELDS, None, values, CancelToken(), None, None, None)
    assert message_of(raised) == "Upload an image first."
    values[IMAGE_FIELDS.index("outscale")] = 20
    picture = small_image(tmp_path / "pic.png", chelsea)
    with pytest.raises(gr.Error) as raised:
        image.enhance(services, IMAGE_FIELDS, str(picture), values, CancelToken(), None, None, None)
    message_of(raised)
    assert written(services) == []
    assert image.analyze(services, None)[1] == "Upload an image to get recommended settings."


# -- Exact size ----------------------------------------------------------------------------------------

def test_size_widgets_write_the_size_field_and_read_it_back():
    assert image.size_text("width", 1920, None) == "1920x" and image.size_text("height", 5, 1080) == "x1080"
    assert image.size_text("fit", 1920, 1080) == "1920x1080" and image.size_text("fit", 1920, None) == ""
    assert image.size_text("scale", 1920, 1080) == "" and image.size_text("width", 0, None) == ""
    for text in ("1920x", "x1080", "1920x1080"):
        assert image.size_text(*image.size_fields(text)) == text
    assert image.size_fields("") == ("scale", None, None) and image.size_fields("big") == ("scale", None, None)


def test_the_result_size_note_follows_an_exact_size():
    from ui.formatting import result_size_markdown
    assert result_size_markdown([100, 50], 4, False, 10**8) == "Result: 400x200 (0.1 MP)."
    assert result_size_markdown([100, 50], 4, False, 10**8, "x200") == "Result: 400x200 (0.1 MP)."
    assert result_size_markdown([100, 50], 4, True, 10**8, "300x300").startswith("Result: 300x150")
    assert "already larger" in result_size_markdown([100, 50], 4, False, 10**8, "50x")


def test_a_chosen_history_job_shows_its_result_only_inside_the_output_folder(services, tmp_path):
    output_dir = services.config.OUTPUT_DIR
    output_dir.mkdir(parents=True, exist_ok=True)
    inside = output_dir / "kept_out.png"
    Image.new("RGB", (8, 8)).save(inside)
    outside = tmp_path / "elsewhere.png"
    Image.new("RGB", (8, 8)).save(outside)
    kept = services.history.record(kind="image", input_path=None, settings={"model": MODEL}, model=MODEL,
                                   device="cpu", started_at=1.0, status="ok", output_path=inside)
    moved = services.history.record(kind="image", input_path=None, settings={"model": MODEL}, model=MODEL,
                                    device="cpu", started_at=1.0, status="ok", output_path=outside)
    owned = services.history_of(None)
    assert history.job_result(owned, history.chosen_job([str(kept), "when"]), output_dir)[:2] == (kept, str(inside))
    number, path, note = history.job_result(owned, moved, output_dir)
    assert (number, path) == (moved, None) and "no result" in note
    assert history.job_result(owned, 999, output_dir)[:2] == (0, None)


def test_video_summary_counts_the_preview_frames_and_estimates_only_from_a_measured_speed():
    from fractions import Fraction

    from utils.video_probe import VideoInfo
    info = VideoInfo(format_name="mp4", width=640, height=360, codec="h264", fps=Fraction(25), time_base=Fraction(1, 25),
                     frames=250, duration_s=10.0)
    text = video.video_summary(info, 5, 2, None)
    assert "640x360, 10.0 s" in text and "preview (first 5 s) is 125 frames" in text and "about" in text
    assert "once the first frames are done" in text
    # 125 frames of 1280x720 at 921,600 output pixels/s: 125 s
    assert "about **2 min 05 s**" in video.video_summary(info, 5, 2, 921_600)
    assert "all 250 frames" in video.video_summary(info, 0, 2, None)


def test_the_output_folder_is_shown_only_on_a_local_server_without_logins(app_config, weights_dir, tmp_path):
    import dataclasses as dc
    local = Services.from_config(app_config)
    assert str(tmp_path / "job") in image.local_folder_note(local, tmp_path / "job" / "a_out.png")
    for change in ({"SERVER_NAME": "0.0.0.0"}, {"AUTH": "ann:secret-pass-1"}, {"SHARE": True}):
        shared = dc.replace(local, config=dc.replace(app_config, **change))
        assert image.local_folder_note(shared, tmp_path / "job" / "a_out.png") == ""


# -- Several images in the Image tab -------------------------------------------------------------------

def test_several_images_show_as_a_strip_and_the_chosen_one_becomes_the_tabs_image(services, tmp_path, chelsea):
    files = [str(small_image(tmp_path / f"{n}.png", chelsea, width=w, height=h)) for n, w, h in
             (("a", 16, 12), ("b", 200, 150), ("c", 10, 30))]
    (tmp_path / "d.png").write_text("not a picture")
    strip, chosen, all_button = image_set.images_added(services, [*files, str(tmp_path / "d.png")])
    tiles = strip["value"]
    assert [caption for _, caption in tiles] == ["a.png", "b.png", "c.png", "d.png (cannot be read)"]
    assert [tile.size for tile, _ in tiles] == [(16, 12), (160, 120), (10, 30), (160, 160)]  # never enlarged
    assert strip["visible"] and chosen == files[0]
    assert all_button["visible"] and all_button["value"] == "Enhance all 4 images"
    assert image_set.images_added(services, files[:1])[2]["visible"] is False  # one image: Enhance is enough
    hidden, unchanged, _ = image_set.images_added(services, None)
    assert hidden["visible"] is False and unchanged == gr.update()
    assert image_set.chosen_image(files, 1) == files[1]
    assert image_set.chosen_image(files, 7) == gr.update() and image_set.chosen_image(None, 0) == gr.update()
    with pytest.raises(gr.Error) as raised:  # none is decoded: the Batch tab is for many
        image_set.images_added(services, files * (image_set.MAX_IMAGES // 3 + 1))
    assert message_of(raised) == (f"{3 * (image_set.MAX_IMAGES // 3 + 1)} images are more than the Image tab takes "
                                  f"at once ({image_set.MAX_IMAGES}); use the Batch tab for more.")


def test_enhance_all_runs_every_image_as_one_batch_job_with_the_tabs_settings(services, tmp_path, chelsea):
    files = [str(small_image(tmp_path / "in" / f"{n}.png", chelsea, width=w, height=h)) for n, w, h in
             (("a", 16, 12), ("b", 10, 8))]
    with pytest.raises(gr.Error) as raised:
        image_set.enhance_all(services, [], None, lambda: EnhanceRequest(model=MODEL), CancelToken())
    assert message_of(raised) == "Add several images first (the box under the image)."
    chosen = tmp_path / "tab-copy" / "b.png"  # the tab holds its own copy of the chosen file
    chosen.parent.mkdir()
    chosen.write_bytes(Path(files[1]).read_bytes())
    archive, pair, status = image_set.enhance_all(services, files, str(chosen),
                                                  lambda: EnhanceRequest(model=MODEL, outscale=3), CancelToken())
    assert status.startswith("**2 successful, 0 failed**.") and Path(archive).name in status
    with zipfile.ZipFile(archive) as zipped:
        sizes = {name: Image.open(zipped.open(name)).size for name in zipped.namelist()}
    assert sizes == {"a_out.png": (48, 36), "b_out.png": (30, 24)}
    before, after = pair
    assert before.size == after.size == (30, 24)  # the chosen image's before/after
    assert {j.input_name for j in services.history.jobs(kind="batch-item")} == {"a.png", "b.png"}
    with pytest.raises(gr.Error) as raised:
        image_set.enhance_all(services, files, None, lambda: EnhanceRequest(model=NOT_HERE), CancelToken())
    assert message_of(raised).startswith(f"{NOT_HERE} is not on this server")
