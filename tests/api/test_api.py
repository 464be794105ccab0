"""The named API endpoints through gradio_client against a running server, and what it serves."""
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.app_server import app_config_for, http_status, running_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory, weights_dir):
    root = tmp_path_factory.mktemp("app")
    config = app_config_for(root, weights_dir)
    with running_app(config) as url:
        yield url, config


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client
    return Client(server[0], verbose=False)


def test_named_endpoints_exist(client):
    names = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/enhance_image", "/analyze_image", "/process_batch"} <= set(names)


def test_enhance_image_with_only_the_image(client, skimage_dir, server):
    from gradio_client import handle_file
    result = client.predict(handle_file(str(skimage_dir / "coffee.png")), api_name="/enhance_image")
    output = result[0]
    assert Image.open(output).size == (2400, 1600)  # the default model, realesr-animevideov3, at x4
    config = server[1]
    made = list(config.OUTPUT_DIR.rglob("coffee_out.png"))  # in this job's own folder
    assert [p.relative_to(config.OUTPUT_DIR).parts[0] for p in made] == ["local"] and Path(output).name == made[0].name


def test_enhance_image_with_settings(client, skimage_dir):
    from gradio_client import handle_file
    result = client.predict(handle_file(str(skimage_dir / "camera.png")), model_name="realesr-animevideov3",
                            scale=1.5, fmt="webp", api_name="/enhance_image")
    image = Image.open(result[0])
    assert image.size == (768, 768) and image.format == "WEBP"


def test_analyze_image_returns_the_seed_json(client, skimage_dir):
    from gradio_client import handle_file
    result = client.predict(handle_file(str(skimage_dir / "astronaut.png")), api_name="/analyze_image")
    analysis = result[0]
    assert set(analysis) == {"settings", "reasoning", "analysis"}
    assert analysis["analysis"]["resolution"] == "512x512" and analysis["reasoning"]


def test_bad_upload_is_a_clear_error_and_the_server_keeps_serving(client, tmp_path, skimage_dir):
    from gradio_client import handle_file
    fake = tmp_path / "notes.png"
    fake.write_text("these are my notes, not a picture")
    with pytest.raises(Exception) as caught:
        client.predict(handle_file(str(fake)), api_name="/enhance_image")
    assert "not an image we can read" in str(caught.value)
    assert client.predict(handle_file(str(skimage_dir / "camera.png")), scale=1, api_name="/enhance_image")[0]


def test_only_the_output_folder_is_served(server, weights_dir, anime_video_model):
    url, config = server  # anime_video_model: its converted weights file is in weights_dir, whatever ran before
    assert http_status(f"{url}/gradio_api/file=/etc/passwd", 10) in (403, 404)
    weights = next((weights_dir / "bundled").glob("*.safetensors"))
    assert http_status(f"{url}/gradio_api/file={weights}", 10) in (403, 404)
    config.SETTINGS_FILE.parent.mkdir(parents=True, exist_ok=True)
    config.SETTINGS_FILE.write_text("{}")
    assert http_status(f"{url}/gradio_api/file={config.SETTINGS_FILE}", 10) in (403, 404)
    served = config.OUTPUT_DIR / "probe.png"
    Image.new("RGB", (2, 2)).save(served)
    assert http_status(f"{url}/gradio_api/file={served}", 10) == 200


def test_process_batch_endpoint(client, tmp_path, skimage_dir):
    from gradio_client import handle_file
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    summary, table, *_ = client.predict([handle_file(str(skimage_dir / "camera.png")), handle_file(str(broken))],
                                        "", "realesr-animevideov3", 1, False, api_name="/process_batch")
    assert "1 successful, 1 failed" in summary
    rows = table["data"]
    assert sorted(r[1] for r in rows) == ["failed", "ok"]


def test_enhance_image_blended_double_pass(client, skimage_dir):
    from gradio_client import handle_file
    output, _, metrics, status = client.predict(
        handle_file(str(skimage_dir / "camera.png")), model_name="realesr-animevideov3", scale=1, double=True,
        second_model="RealESRGAN_x4plus_anime_6B", second_visibility=0.25, strip=True, api_name="/enhance_image")
    assert Image.open(output).size == (512, 512)
    assert "realesr-animevideov3 75% + RealESRGAN_x4plus_anime_6B 25%, double pass" in status


def test_enhance_image_on_a_chosen_device(client, skimage_dir):
    from gradio_client import handle_file
    *_, metrics, status = client.predict(handle_file(str(skimage_dir / "camera.png")), scale=1, device_name="cpu",
                                         api_name="/enhance_image")
    assert ["Device", "cpu"] in metrics["data"]
    if not torch.cuda.is_available():
        with pytest.raises(Exception, match="cuda:0 is not in the list of choices"):  # only real devices offered
            client.predict(handle_file(str(skimage_dir / "camera.png")), scale=1, device_name="cuda:0",
                           api_name="/enhance_image")


def test_process_batch_mirrors_a_folder_tree_with_a_template(client, server, skimage_dir):
    import shutil
    import zipfile
    config = server[1]
    tree = config.INPUT_DIR / "scans"
    (tree / "1998" / "summer").mkdir(parents=True)
    shutil.copyfile(skimage_dir / "camera.png", tree / "top.png")
    shutil.copyfile(skimage_dir / "camera.png", tree / "1998" / "summer" / "deep.png")
    summary, _, _, archive = client.predict(
        [], "scans", "realesr-animevideov3", 1, False, subfolders=True, name_template="{stem}-{scale}.{ext}",
        never_overwrite=True, api_name="/process_batch")
    assert "2 successful, 0 failed" in summary
    names = sorted(zipfile.ZipFile(archive).namelist())
    assert names == ["1998/summer/deep-1x.png", "top-1x.png"]


def test_history_sees_the_jobs(client, skimage_dir):
    from gradio_client import handle_file
    image = handle_file(str(skimage_dir / "camera.png"))
    client.predict(image, scale=1, api_name="/enhance_image")
    client.predict([image], "", "realesr-animevideov3", 1, False, api_name="/process_batch")
    rows = client.predict("all", "all", "camera", api_name="/history")["data"]
    kinds = [row[2] for row in rows[:2]]  # newest first: the batch item, then the image
    assert kinds == ["batch-item", "image"] and all(row[3] == "camera.png" for row in rows[:2])
