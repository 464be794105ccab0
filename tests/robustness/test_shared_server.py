"""One server, several users and an attacker: no stored script, no mixed-up or foreign results,
limits that hold on what the model makes, downloads only on request, slowed-down logins.
Every case goes through the real HTTP server, as it was found."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest
from PIL import Image

from engine.jobs.history import History

from tests.app_server import app_config_for, running_app
from tests.conftest import ROOT, TESTDATA

pytestmark = pytest.mark.slow
MODEL = "realesr-animevideov3"


def solid_png(path, colour, size=(32, 24)):
    Image.new("RGB", size, colour).save(path)
    return path


def login(url: str, user: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60)
    response = client.post("/login", data={"username": user, "password": password})
    assert response.status_code == 200, response.text
    return client


@pytest.fixture(scope="module")
def open_server(tmp_path_factory, weights_dir):
    """A server without logins (single-user), downloads allowed from a local mirror that counts requests."""
    root = tmp_path_factory.mktemp("shared-open")
    with counting_mirror() as (mirror, hits):
        config = app_config_for(root, weights_dir, REALESRGAN_ALLOW_DOWNLOADS="true", REALESRGAN_MODEL_MIRROR=mirror)
        with running_app(config) as url:
            yield url, config, hits


@pytest.fixture(scope="module")
def users_server(tmp_path_factory, weights_dir):
    root = tmp_path_factory.mktemp("shared-users")
    (root / "users.txt").write_text("ann:ann-pass-1\nbob:bob-pass-2\n")
    config = app_config_for(root, weights_dir, REALESRGAN_AUTH_FILE=str(root / "users.txt"))
    with running_app(config) as url:
        yield url, config


class counting_mirror:
    """A 127.0.0.1 server that answers 404 to everything and counts what was asked (bounded)."""

    def __enter__(self):
        hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                if len(hits) < 100:
                    hits.append(self.path)
                self.send_error(404)

            def log_message(self, *args):
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}", hits

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


# -- no stored script in our origin -------------------------------------------------------------
@pytest.mark.parametrize("template", ["{stem}.{ext}.html", "{stem}.{ext}.svg", "{stem}.html"])
def test_a_template_cannot_choose_the_extension(open_server, tmp_path, template):
    from gradio_client import Client, handle_file
    url, config, _ = open_server
    image = solid_png(tmp_path / "x.png", "red")
    with pytest.raises(Exception, match=r"must end with \.\{ext\}"):
        Client(url, verbose=False).predict([handle_file(str(image))], "", MODEL, 1, False, name_template=template,
                                           api_name="/process_batch")
    assert not [p for p in config.OUTPUT_DIR.rglob("*") if p.suffix in (".html", ".svg")]


@pytest.mark.parametrize("name,body", [("page.html", b"<script>alert(1)</script>"),
                                       ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)'
                                                       b'</script></svg>'),
                                       ("notes.txt", b"<html><script>alert(1)</script>"),
                                       ("noext", b"<!doctype html><script>alert(1)</script>")])
def test_files_that_are_not_result_media_are_never_served_inline(open_server, name, body):
    url, config, _ = open_server
    planted = config.OUTPUT_DIR / "local" / name
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_bytes(body)
    response = httpx.get(f"{url}/gradio_api/file={planted}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == "attachment"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]


def test_an_uploaded_html_file_is_not_served_as_a_page(open_server):
    url, _, _ = open_server
    uploaded = httpx.post(f"{url}/gradio_api/upload", files={"files": ("evil.html", b"<script>alert(1)</script>",
                                                                       "text/html")})
    assert uploaded.status_code == 200
    response = httpx.get(f"{url}/gradio_api/file={uploaded.json()[0]}")
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_results_are_served_inline_with_nosniff(open_server, tmp_path):
    from gradio_client import Client, handle_file
    url, config, _ = open_server
    output = Client(url, verbose=False).predict(handle_file(str(solid_png(tmp_path / "r.png", "red"))),
                                                model_name=MODEL, scale=1, api_name="/enhance_image")[0]
    made = next(config.OUTPUT_DIR.rglob(os.path.basename(output)))
    response = httpx.get(f"{url}/gradio_api/file={made}")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert Image.open(io.BytesIO(response.content)).size == (32, 24)


def test_a_format_spec_in_a_template_is_refused_at_once(open_server, tmp_path):
    from gradio_client import Client, handle_file
    url, _, _ = open_server
    image = solid_png(tmp_path / "x.png", "red")
    for template in ("{stem:>100000000}.{ext}", "{stem:{ext}}.{ext}", "{stem.__class__}.{ext}"):
        with pytest.raises(Exception) as caught:
            Client(url, verbose=False).predict([handle_file(str(image))], "", MODEL, 1, False, name_template=template,
                                               api_name="/process_batch")
        message = str(caught.value)
        assert "format or field part" in message and "Invalid format specifier" not in message


# -- limits on what the model makes, time, disconnects, downloads -----------------------------------
def test_a_small_file_that_decodes_to_a_huge_image_is_refused_before_any_model_work(open_server, tmp_path):
    from gradio_client import Client, handle_file
    url, config, _ = open_server
    bomb = tmp_path / "zeros.png"
    Image.new("L", (7000, 7000)).save(bomb, optimize=True)  # 49 MP of zeros in about 50 KB
    assert bomb.stat().st_size < 200_000
    folders_before = set(config.OUTPUT_DIR.rglob("image-*"))
    with pytest.raises(Exception, match=r"native x4 before resizing, over the 400 MP limit"):
        Client(url, verbose=False).predict(handle_file(str(bomb)), model_name=MODEL, scale=1,
                                           api_name="/enhance_image")
    assert not list(config.OUTPUT_DIR.rglob("zeros*"))
    assert set(config.OUTPUT_DIR.rglob("image-*")) == folders_before  # not even an empty job folder


def test_compare_runs_a_model_named_many_times_once(open_server, tmp_path):
    from gradio_client import Client, handle_file
    url, _, _ = open_server
    image = solid_png(tmp_path / "c.png", "green", (48, 48))
    _, timings, _ = Client(url, verbose=False).predict(handle_file(str(image)), [MODEL] * 50, -1, -1, 32,
                                                       api_name="/compare_models")
    assert timings.count(MODEL) == 1


def test_web_jobs_never_download_weights_as_a_side_effect(open_server, tmp_path):
    from gradio_client import Client, handle_file
    url, _, hits = open_server
    face = TESTDATA / "gfpgan" / "whole_imgs" / "00.jpg"
    image = face if face.is_file() else solid_png(tmp_path / "f.png", "white", (96, 96))
    client = Client(url, verbose=False)
    client.predict(handle_file(str(image)), api_name="/analyze_image")  # would fetch the face detector
    with pytest.raises(Exception, match="System tab"):
        client.predict(handle_file(str(image)), model_name=MODEL, scale=1, face=True, api_name="/enhance_image")
    assert hits == []


def test_a_job_past_the_time_limit_is_stopped_and_leaves_nothing(tmp_path_factory, weights_dir, tmp_path):
    from gradio_client import Client, handle_file
    root = tmp_path_factory.mktemp("time-limit")
    config = app_config_for(root, weights_dir, REALESRGAN_JOB_TIME_LIMIT_S="0.001")
    image = solid_png(tmp_path / "slow.png", "red", (64, 64))
    with running_app(config) as url:
        with pytest.raises(Exception, match="ran past this server's 0.001-second limit"):
            Client(url, verbose=False).predict(handle_file(str(image)), model_name=MODEL, scale=2, tile_px=32,
                                               api_name="/enhance_image")
    assert not [p for p in config.OUTPUT_DIR.rglob("*") if p.is_file()]
    assert History(config.HISTORY_DB).jobs()[0].status == "failed"


CLIENT_THEN_VANISH = """
import sys, time
from gradio_client import Client, handle_file
from gradio_client.utils import Status
job = Client(sys.argv[1], verbose=False).submit(handle_file(sys.argv[2]), model_name="RealESRGAN_x4plus", scale=1,
                                                tile_px=32, api_name="/enhance_image")
deadline = time.monotonic() + 300
while job.status().code != Status.PROCESSING and time.monotonic() < deadline:
    time.sleep(0.05)
print("processing", flush=True)
time.sleep(3600)
"""


def test_a_job_whose_client_went_away_is_stopped(tmp_path_factory, weights_dir, tmp_path, chelsea):
    root = tmp_path_factory.mktemp("vanish")
    config = app_config_for(root, weights_dir, REALESRGAN_JOB_TIME_LIMIT_S="300")  # bounds the failure case
    image = tmp_path / "long.png"
    # 1024 tiles of x4plus, each with its 32 px overlap: hours on a CPU and many seconds on a GPU,
    # against a disconnect noticed within a tile or two
    Image.fromarray(chelsea).resize((1024, 1024)).save(image)
    with running_app(config) as url:
        client = subprocess.Popen([sys.executable, "-c", CLIENT_THEN_VANISH, url, str(image)], cwd=ROOT,
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert client.stdout.readline().strip() == "processing"
        finally:
            client.send_signal(signal.SIGKILL)
            client.wait(timeout=30)
        history = History(config.HISTORY_DB)
        deadline = time.monotonic() + 600
        while not history.jobs() and time.monotonic() < deadline:
            time.sleep(0.5)
        job = history.jobs()[0]
        assert job.status == "cancelled" and "disconnected" in job.error
    assert not [p for p in config.OUTPUT_DIR.rglob("*") if p.is_file()]


# -- each user their own results, history and resume ------------------------------------------------
def test_users_never_see_or_get_each_others_results(users_server, tmp_path):
    from gradio_client import Client, handle_file
    url, config = users_server
    (tmp_path / "ann").mkdir()
    (tmp_path / "bob").mkdir()
    ann_photo = solid_png(tmp_path / "ann" / "photo.png", (255, 0, 0))
    bob_photo = solid_png(tmp_path / "bob" / "photo.png", (0, 0, 255))
    ann = Client(url, auth=("ann", "ann-pass-1"), verbose=False)
    bob = Client(url, auth=("bob", "bob-pass-2"), verbose=False)
    args = dict(folder_name="", model_name=MODEL, scale=1, resume_flag=True, api_name="/process_batch")
    ann_summary, ann_table, ann_gallery, _ = ann.predict([handle_file(str(ann_photo))], **args)
    bob_summary, bob_table, bob_gallery, _ = bob.predict([handle_file(str(bob_photo))], **args)
    assert [r[1] for r in ann_table["data"]] == ["ok"] and [r[1] for r in bob_table["data"]] == ["ok"]
    bob_result = np.asarray(Image.open(bob_gallery[0]["image"]).convert("RGB"))
    red, _, blue = (int(v) for v in bob_result[12, 16])
    assert blue > 200 and red < 30  # Bob's blue photo, not Ann's red result
    # resume for Ann with the same photo: skipped; Bob's history never lists it
    _, again, _, _ = ann.predict([handle_file(str(ann_photo))], **args)
    assert [r[1] for r in again["data"]] == ["skipped"]
    ann_rows = ann.predict("all", "all", "", api_name="/history")["data"]
    bob_rows = bob.predict("all", "all", "", api_name="/history")["data"]
    assert len(ann_rows) == 1 and len(bob_rows) == 1 and {r[0] for r in ann_rows}.isdisjoint(r[0] for r in bob_rows)
    # Ann's result file: hers to fetch, not Bob's, not an anonymous visitor's
    ann_file = next(p for p in config.OUTPUT_DIR.rglob("photo_out.png") if "user-ann-" in str(p))
    assert login(url, "ann", "ann-pass-1").get(f"/gradio_api/file={ann_file}").status_code == 200
    assert login(url, "bob", "bob-pass-2").get(f"/gradio_api/file={ann_file}").status_code == 404
    assert httpx.get(f"{url}/gradio_api/file={ann_file}").status_code in (401, 403, 404)


def test_failed_logins_are_slowed_down_and_a_wrong_password_never_passes(users_server):
    url, _ = users_server
    with httpx.Client(base_url=url, timeout=120) as client:
        durations = []
        for _ in range(2):
            started = time.monotonic()
            response = client.post("/login", data={"username": "bob", "password": "guess"})
            durations.append(time.monotonic() - started)
            assert response.status_code == 400
        assert durations[0] >= 1.0 and durations[1] >= 2.0
        assert client.post("/login", data={"username": "bob", "password": "bob-pass-2"}).status_code == 200


# -- one sentence, never a library's text ------------------------------------------------------------
def test_a_folder_name_with_a_nul_byte_gets_a_sentence(open_server):
    from gradio_client import Client
    url, _, _ = open_server
    with pytest.raises(Exception) as caught:
        Client(url, verbose=False).predict([], "scans\x00/x", MODEL, 1, False, api_name="/process_batch")
    assert "NUL character" in str(caught.value) and "embedded null byte" not in str(caught.value)


def test_results_follow_the_umask(tmp_path, cli_env):
    for mask, mode in ((0o022, 0o644), (0o027, 0o640)):
        out = tmp_path / f"out{mask:o}"
        subprocess.run([sys.executable, str(ROOT / "main.py"), "upscale", str(solid_png(tmp_path / "u.png", "red")),
                        "-o", str(out), "-n", MODEL, "-s", "1"], env=cli_env, check=True, capture_output=True,
                       timeout=300, preexec_fn=lambda mask=mask: os.umask(mask))
        assert (out / "u_out.png").stat().st_mode & 0o777 == mode
