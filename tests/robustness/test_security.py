"""Exposure warnings, authentication, the upload size cap and Pillow's pixel limit."""
import pytest
from PIL import Image

from config import AppConfig
from ui.app import exposure_warnings

from tests.app_server import app_config_for, running_app

pytestmark = pytest.mark.slow


def config_with(**env) -> AppConfig:
    return AppConfig.from_env({f"REALESRGAN_{k}": v for k, v in env.items()}, env_file="")


def test_loud_warnings_when_exposed_without_auth():
    assert exposure_warnings(config_with()) == []
    assert any("0.0.0.0" in w for w in exposure_warnings(config_with(SERVER_NAME="0.0.0.0")))
    assert any("public link" in w for w in exposure_warnings(config_with(SHARE="true")))
    assert exposure_warnings(config_with(SERVER_NAME="0.0.0.0", SHARE="true", AUTH="ann:secret")) == []


def test_auth_is_required_when_configured(tmp_path_factory, weights_dir, skimage_dir):
    from gradio_client import Client, handle_file
    config = app_config_for(tmp_path_factory.mktemp("auth"), weights_dir, REALESRGAN_AUTH="ann:s3cret-pass")
    with running_app(config) as url:
        with pytest.raises(Exception):
            Client(url, verbose=False).predict(handle_file(str(skimage_dir / "camera.png")), api_name="/analyze_image")
        client = Client(url, auth=("ann", "s3cret-pass"), verbose=False)
        assert client.predict(handle_file(str(skimage_dir / "camera.png")), api_name="/analyze_image")[0]


def test_uploads_over_the_limit_are_refused_and_pixels_are_capped(tmp_path_factory, weights_dir, tmp_path):
    from gradio_client import Client, handle_file
    config = app_config_for(tmp_path_factory.mktemp("limits"), weights_dir, REALESRGAN_MAX_UPLOAD_MB="1",
                            REALESRGAN_MAX_IMAGE_PIXELS="3000000")
    big = tmp_path / "big.bmp"
    Image.new("RGB", (800, 800)).save(big)  # about 1.9 MB
    with running_app(config) as url:
        assert Image.MAX_IMAGE_PIXELS == 3_000_000
        with pytest.raises(Exception) as caught:
            Client(url, verbose=False).predict(handle_file(str(big)), api_name="/analyze_image")
        assert "large" in str(caught.value).lower() or "413" in str(caught.value) or "size" in str(caught.value).lower()
