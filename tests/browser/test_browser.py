"""The web UI in a real Chromium (Debian's package) driven by Playwright, against the real app."""
from PIL import Image

from tests.browser.conftest import BROWSER_MARKS, download, set_number, shot, small_image, upload, upload_and_wait

pytestmark = BROWSER_MARKS


def test_upload_accept_recommendations_enhance_and_download(page, tmp_path):
    source = small_image(tmp_path)
    upload_and_wait(page, source)
    page.locator("#apply-recommendations").click()
    shot(page, "1-analysed")
    page.locator("#enhance").click()
    page.locator("#result-slider img").first.wait_for()
    page.locator("#status").get_by_text("Saved as").wait_for()
    shot(page, "2-enhanced")
    saved = download(page, "#result-file a", tmp_path / "downloaded")
    width, height = Image.open(source).size
    assert Image.open(saved).size == (width * 4, height * 4)
    assert "Enhanced size" in page.locator("#metrics").inner_text()


def test_compare_models_grid(page, tmp_path):
    upload_and_wait(page, small_image(tmp_path))
    page.locator("#compare").get_by_text("Compare models on a region").click()
    boxes = page.locator("#compare-models")
    if boxes.get_by_label("RealESRGAN_x4plus", exact=True).is_checked():
        boxes.get_by_label("RealESRGAN_x4plus", exact=True).uncheck()  # the slow one: not needed here
    page.locator("#compare-run").click()
    page.locator("#compare-grid img").first.wait_for()
    page.locator("#compare-timings").get_by_text("realesr-animevideov3").wait_for()
    page.locator("#compare").scroll_into_view_if_needed()
    shot(page, "compare-grid")


def test_blend_two_models_and_the_double_pass_warning(page, tmp_path):
    source = small_image(tmp_path)
    width, height = Image.open(source).size
    upload_and_wait(page, source)
    page.locator("#blend").get_by_text("Blend two models, double pass").click()
    set_number(page, "#image-outscale", 8)
    page.locator("#double-pass input").check()
    page.locator("#size-note").get_by_text("over the 100 MP output limit").wait_for()
    assert "turn off the double pass" in page.locator("#size-note").inner_text()
    shot(page, "double-pass-warning")
    page.locator("#double-pass input").uncheck()
    page.locator("#size-note").get_by_text(f"Result: {width * 8}x{height * 8}").wait_for()
    set_number(page, "#image-outscale", 2)
    page.locator("#blend-model input").click()
    page.get_by_role("option").filter(has_text="RealESRGAN_x4plus_anime_6B").first.click()
    set_number(page, "#blend-weight", 0.3)
    page.locator("#enhance").click()
    page.locator("#status").get_by_text("Saved as").wait_for()
    assert "+ RealESRGAN_x4plus_anime_6B 30%" in page.locator("#status").inner_text()
    page.locator("#blend").scroll_into_view_if_needed()
    shot(page, "blend")


def test_every_tab_opens(page):
    for tab, marker in [("Video", "#video-run"), ("Batch", "#batch-run"), ("Train", "#train-run"),
                        ("History", "#history-table"), ("Presets", "#preset-apply"), ("System", "#models-table"),
                        ("Image", "#enhance")]:
        page.get_by_role("tab", name=tab).click()
        page.locator(marker).wait_for(state="visible")
        shot(page, f"tab-{tab.lower()}")
    page.get_by_role("tab", name="System").click()
    page.locator("#models-table [data-testid^='cell-']").filter(has_text="RealESRGAN_x4plus_anime_6B").first.wait_for()


def test_save_apply_and_delete_a_preset(page):
    page.get_by_role("tab", name="Presets").click()
    page.locator("#preset-name textarea, #preset-name input").first.fill("Browser preset")
    page.locator("#preset-save").click()
    page.locator("#preset-status").get_by_text("Saved Browser preset").wait_for()
    page.locator("#preset-apply").click()
    page.locator("#enhance").wait_for(state="visible")  # the Image tab is shown again
    page.get_by_role("tab", name="Presets").click()
    page.locator("#preset-delete").click()
    page.locator("#preset-confirm-delete").click()
    page.locator("#preset-status").get_by_text("Deleted Browser preset").wait_for()
    shot(page, "presets")


def test_bad_upload_shows_a_clear_error_and_the_page_keeps_working(page, tmp_path):
    fake = tmp_path / "holiday.png"
    fake.write_text("not really a picture")
    upload(page, fake)
    page.get_by_text("is not an image we can read").first.wait_for()
    shot(page, "bad-upload")
    upload_and_wait(page, small_image(tmp_path))
