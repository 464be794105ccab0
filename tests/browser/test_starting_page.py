"""`python main.py` as a user starts it: the address answers before the app's imports are done,
and a browser opened on the starting page turns into the app by itself (ui/starting_page.py)."""
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tests.app_server import app_config_for, free_port, running_app
from tests.browser.conftest import BROWSER_MARKS, DESKTOP, TIMEOUT_MS, shot
from tests.conftest import ROOT
from tests.environment import isolated_env
from ui.starting_page import StartingPage

pytestmark = BROWSER_MARKS


def answer(url: str, server: subprocess.Popen, limit_s: float = 600) -> int:
    """The status of the first HTTP answer on `url` (polled, bounded in time)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited before answering"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            time.sleep(0.02)
    raise AssertionError("the server never answered")


def test_main_answers_before_its_imports_are_done_then_serves_the_app(tmp_path, weights_dir):
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("REALESRGAN_")},
           **isolated_env(tmp_path, weights_dir, REALESRGAN_SERVER_PORT=str(port), REALESRGAN_WARM_UP="false")}
    server = subprocess.Popen([sys.executable, str(ROOT / "main.py")], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        assert answer(url, server) == 503  # the starting page: Gradio is not even imported yet
        deadline = time.monotonic() + 600
        while (status := answer(url, server)) == 503 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status == 200
    finally:
        server.terminate()
        server.wait(60)


def test_a_browser_on_the_starting_page_lands_in_the_app(tmp_path, weights_dir, browser):
    config = app_config_for(tmp_path, weights_dir)
    starting = StartingPage("127.0.0.1", config.SERVER_PORT)
    assert starting.start()
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"http://127.0.0.1:{config.SERVER_PORT}/")
        assert page.title() == "Real-ESRGAN Ultimate is starting"
        shot(page, "starting-page")
        starting.stop()  # what `serve` does just before Gradio binds the address
        with running_app(config):
            # no navigation by the test: the page's own script reloads it into the app
            page.locator("#enhance.settings-loaded").wait_for(state="attached")
            assert page.title() != "Real-ESRGAN Ultimate is starting"
            shot(page, "starting-page-became-the-app")
    finally:
        starting.stop()
        context.close()
