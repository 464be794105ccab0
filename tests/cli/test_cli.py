"""The CLI as a user runs it: a real subprocess, real files, exit codes and one-line errors."""
import subprocess
import sys

import numpy as np
from PIL import Image

from utils.images import save_image

from tests.conftest import ROOT, TESTDATA, needs_testdata


def run(args, env, timeout=300):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def assert_one_clear_line(stderr: str):
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("error: ") for ln in lines), stderr
    assert "Traceback" not in stderr


@needs_testdata
def test_anime_model_on_0014_writes_a_716px_image(tmp_path, cli_env):
    result = run(["upscale", str(TESTDATA / "realesrgan/0014.jpg"), "-o", str(tmp_path / "out"),
                  "-n", "RealESRGAN_x4plus_anime_6B"], cli_env)
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "out" / "0014_out.jpg").size == (716, 716)


def test_upscale_a_real_photo_with_flags(tmp_path, cli_env, skimage_dir):
    result = run(["upscale", str(skimage_dir / "astronaut.png"), "-o", str(tmp_path / "out"), "-n",
                  "realesr-animevideov3", "-s", "1.5", "--ext", "webp", "--suffix", "big",
                  "--tile", "128"], cli_env)
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "out" / "astronaut_big.webp").size == (768, 768)


def test_missing_input_exits_1_with_one_clear_line(tmp_path, cli_env):
    result = run(["upscale", str(tmp_path / "missing.png"), "-o", str(tmp_path / "out")], cli_env)
    assert result.returncode == 1
    assert_one_clear_line(result.stderr)
    assert "missing.png" in result.stderr and "not found" in result.stderr


def test_one_failure_does_not_stop_the_rest(tmp_path, cli_env, skimage_dir):
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    result = run(["upscale", str(broken), str(skimage_dir / "camera.png"), "-o", str(tmp_path / "out"),
                  "-n", "realesr-animevideov3", "-s", "1"], cli_env)
    assert result.returncode == 1
    assert_one_clear_line(result.stderr)
    assert (tmp_path / "out" / "camera_out.png").is_file()
    assert not (tmp_path / "out" / "broken_out.png").exists()


def test_face_enhance_without_weights_names_file_url_and_folder(tmp_path, cli_env, skimage_dir):
    result = run(["upscale", str(skimage_dir / "astronaut.png"), "-o", str(tmp_path / "out"), "-n",
                  "realesr-animevideov3", "-s", "1", "--face-enhance"], cli_env)
    assert result.returncode == 1
    assert_one_clear_line(result.stderr)
    assert "GFPGANv1.4.pth" in result.stderr and "https://github.com/TencentARC/GFPGAN" in result.stderr
    assert cli_env["REALESRGAN_WEIGHTS_DIR"] in result.stderr


def test_usage_errors_exit_2(cli_env):
    assert run(["upscale"], cli_env).returncode == 2
    assert run(["upscale", "x.png", "--ext", "gif"], cli_env).returncode == 2
    assert run(["frobnicate"], cli_env).returncode == 2


def test_bad_configuration_stops_with_one_line(cli_env):
    result = run(["models", "list"], {**cli_env, "REALESRGAN_SERVER_PORT": "eighty"})
    assert result.returncode == 2
    assert_one_clear_line(result.stderr)
    assert "REALESRGAN_SERVER_PORT" in result.stderr and "eighty" in result.stderr


def test_models_list_and_verify(tmp_path, cli_env):
    listing = run(["models", "list"], cli_env)
    assert listing.returncode == 0
    assert "RealESRGAN_x4plus " in listing.stdout and "bundled" in listing.stdout and "GFPGANv1.4" in listing.stdout
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "RealESRGAN_x4plus.pth").write_bytes(b"tampered")
    verify = run(["models", "verify"], {**cli_env, "REALESRGAN_WEIGHTS_DIR": str(weights)})
    assert verify.returncode == 1 and "RealESRGAN_x4plus.pth" in verify.stderr


def test_models_download_of_an_unknown_model(cli_env):
    result = run(["models", "download", "no-such-model"], cli_env)
    assert result.returncode == 1 and "unknown model" in result.stderr


@needs_testdata
def test_video_preview_from_the_cli(tmp_path, cli_env):
    result = run(["video", str(TESTDATA / "realesrgan/video/onepiece_demo.mp4"), "-o", str(tmp_path / "out"),
                  "-s", "1", "--max-seconds", "0.25"], cli_env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "onepiece_demo_out.mp4").is_file()


def test_video_that_is_not_a_video_exits_1(tmp_path, cli_env):
    fake = tmp_path / "clip.mp4"
    fake.write_text("not a video")
    result = run(["video", str(fake), "-o", str(tmp_path / "out")], cli_env)
    assert result.returncode == 1
    assert_one_clear_line(result.stderr)


def test_blend_and_double_pass_from_the_cli(tmp_path, cli_env):
    source = tmp_path / "small.png"
    rng = np.random.default_rng(3)
    save_image(source, rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), "png")
    result = run(["upscale", str(source), "-o", str(tmp_path / "out"), "-n", "realesr-animevideov3", "-s", "3",
                  "--double-pass", "--blend-model", "RealESRGAN_x4plus_anime_6B", "--blend-weight", "0.4"], cli_env)
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "out" / "small_out.png").size == (288, 216)
    assert "realesr-animevideov3 60% + RealESRGAN_x4plus_anime_6B 40%, double pass" in result.stdout


def test_double_pass_over_the_pixel_limit_says_so(tmp_path, cli_env, skimage_dir):
    env = {**cli_env, "REALESRGAN_MAX_OUTPUT_PIXELS": "40000000"}
    result = run(["upscale", str(skimage_dir / "astronaut.png"), "-o", str(tmp_path / "out"),
                  "-n", "realesr-animevideov3", "--double-pass"], env)
    assert result.returncode == 1
    assert_one_clear_line(result.stderr)
    assert "8192x8192 (67 MP), over the 40 MP output limit" in result.stderr and "double pass" in result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_device_flag(tmp_path, cli_env, skimage_dir):
    result = run(["upscale", str(skimage_dir / "camera.png"), "-o", str(tmp_path / "out"), "-n",
                  "realesr-animevideov3", "-s", "1", "--device", "cpu"], cli_env)
    assert result.returncode == 0, result.stderr
    bad = run(["upscale", str(skimage_dir / "camera.png"), "--device", "tpu"], cli_env)
    assert bad.returncode == 2 and "Unknown device 'tpu'" in bad.stderr
