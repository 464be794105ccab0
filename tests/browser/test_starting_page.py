"""`serve` as `python main.py` runs it: the address answers while the app is being built (its
imports and Blocks), and a browser opened on the starting page turns into the app by itself
(ui/starting_page.py)."""
import threading

from tests.app_server import app_config_for, http_status, running_app
from tests.browser.conftest import BROWSER_MARKS, DESKTOP, TIMEOUT_MS, shot
from ui.starting_page import StartingPage

pytestmark = BROWSER_MARKS


def test_serve_answers_while_the_app_is_built_then_serves_the_app(tmp_path, weights_dir, monkeypatch, root_logging):
    """`serve` as `python main.py` runs it, held inside building the app (where the imports and the
    Blocks take seconds) for as long as the test needs: the address answers 503 all that time."""
    import ui.app
    config = app_config_for(tmp_path, weights_dir, REALESRGAN_WARM_UP="false")
    building, release, served = threading.Event(), threading.Event(), {}
    create_app = ui.app.create_app

    def held_create_app(config):
        building.set()
        assert release.wait(600), "the test never let the app be built"
        return create_app(config)

    monkeypatch.setattr(ui.app, "create_app", held_create_app)
    starting = threading.Thread(target=lambda: served.update(demo=ui.app.serve(config, block=False)))
    starting.start()
    url = f"http://127.0.0.1:{config.SERVER_PORT}/"
    try:
        assert building.wait(600)
        assert http_status(url) == 503  # the starting page, while the app is being built
        release.set()
        starting.join(600)
        assert http_status(url) == 200  # the app itself, on the same address
    finally:
        release.set()
        starting.join(600)
        if "demo" in served:
            served["demo"].close()
            served["demo"].rest_api.state.jobs.shutdown()


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
