"""What every browser test shares: the real app on 127.0.0.1 (one per test module), Debian's
Chromium driven by Playwright, a page at desktop or phone size, and the screenshot helper."""
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from config import AppConfig
from tests.app_server import app_config_for, running_app
from tests.conftest import ROOT, TESTDATA

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT_MS = 120_000
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}
BROWSER_MARKS = [pytest.mark.browser, pytest.mark.slow,
                 pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")]


@dataclass
class RunningApp:
    url: str
    config: AppConfig
    manager: Any = None  # the server's ModelManager (in this process): its cached networks, their speed


@pytest.fixture(scope="module")
def app(tmp_path_factory, weights_dir):
    """The app with this module's own folders; a module sets `APP_ENV` (a dict) for more variables."""
    from ui.app import create_app
    root = tmp_path_factory.mktemp("browser-app")
    config = app_config_for(root, weights_dir, REALESRGAN_MAX_OUTPUT_PIXELS="100000000")
    demo = create_app(config)
    with running_app(config, demo) as url:
        yield RunningApp(url, config, demo.manager)


@pytest.fixture(scope="module")
def app_url(app):
    return app.url


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield instance
        instance.close()


def open_page(browser, url: str, viewport: dict):
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    # the page-load events have answered (the remembered settings are in): a test acting before
    # them would see its changes overwritten, on a busy machine only
    page.locator("#enhance.settings-loaded").wait_for(state="attached")
    return context, page


@pytest.fixture
def page(browser, app_url):
    context, page = open_page(browser, app_url, DESKTOP)
    yield page
    context.close()


@pytest.fixture
def phone_page(browser, app_url):
    context, page = open_page(browser, app_url, PHONE)
    yield page
    context.close()


def small_image(tmp_path) -> Path:
    """A small real image: the labelled cartoon when the test data is present, else a photo crop."""
    if (TESTDATA / "realesrgan/0014.jpg").is_file():
        return TESTDATA / "realesrgan/0014.jpg"
    from skimage import data
    path = tmp_path / "cat.png"
    Image.fromarray(data.chelsea()[80:170, 150:270]).save(path)
    return path


def shot(page, name: str, folder: Path = ARTIFACTS) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def upload(page, path: Path) -> None:
    clear = page.locator("#image-upload button[aria-label='Clear']")
    if clear.count():
        clear.first.click()
    page.locator("#image-upload input[type=file]").set_input_files(str(path))


def upload_and_wait(page, path: Path) -> None:
    """Upload an image to the Image tab and wait for its analysis."""
    upload(page, path)
    page.locator("#recommendation").get_by_text("Recommended:").wait_for()


def download(page, link: str, target: Path) -> Path:
    """Click the download link `link` and save what comes to `target`."""
    with page.expect_download() as download_info:
        page.locator(link).first.click()
    download_info.value.save_as(target)
    return target


def set_number(page, element: str, value: float) -> None:
    box = page.locator(f"{element} input[type=number]")
    box.fill(str(value))
    box.press("Enter")
    page.wait_for_function(f"document.querySelector('{element} input[type=number]').value === '{value}'")


def open_more_settings(page) -> None:
    """Open the Image tab's "More settings" and wait until its fields are drawn and have settled:
    Gradio draws a fold's fields when it first opens, and a value typed while they are being drawn
    is drawn over (a test is faster than any hand)."""
    page.locator("#more-settings").get_by_text("More settings").click()
    page.locator("#tile input[type=number]").wait_for(state="visible")
    page.wait_for_function("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))")
