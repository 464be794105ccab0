"""The Image and History features of issue 19 that came last, in a real Chromium at 1400x1000: models
whose weights are missing, "Run again" bringing the input back, zoom on the before/after slider,
several images in the Image tab. The app here may download (from a local mirror that serves one
model) into a weights folder of its own, so no other test module sees that download."""
from pathlib import Path

import pytest
from PIL import Image

from tests.app_server import app_config_for, running_app
from tests.browser.conftest import BROWSER_MARKS, RunningApp, set_number, shot, upload_and_wait
from tests.http_server import serve_files

pytestmark = BROWSER_MARKS
MISSING = "RealESRNet_x4plus"  # not bundled, no published checksum: the mirror's bytes are accepted


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("image-features")
    weights = tmp_path_factory.mktemp("image-features-weights")
    with serve_files({f"{MISSING}.pth": b"weights served by the test mirror"}) as mirror:
        config = app_config_for(root, weights, REALESRGAN_ALLOW_DOWNLOADS="true", REALESRGAN_MODEL_MIRROR=mirror)
        with running_app(config) as url:
            yield RunningApp(url, config)


def tiny_image(path: Path, side: int = 32, top: int = 100, left: int = 180) -> Path:
    """A tiny crop of a real photo (fast with any model)."""
    from skimage import data
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(data.chelsea()[top:top + side, left:left + side]).save(path)
    return path


def options_of(page, element: str) -> list[str]:
    """The option labels of the dropdown `element` (opened, read, closed again)."""
    page.locator(f"{element} input").click()
    options = page.get_by_role("option")
    options.first.wait_for()
    labels = [" ".join(label.replace("✓", "").split()) for label in options.all_inner_texts()]
    page.locator(f"{element} input").blur()
    options.first.wait_for(state="detached")
    return labels


def choose(page, element: str, option: str) -> None:
    page.locator(f"{element} input").click()
    page.get_by_role("option").filter(has_text=option).first.click()


def test_a_model_without_weights_is_marked_everywhere_explained_in_one_sentence_and_refreshed_after_a_download(
        page, tmp_path):
    assert f"{MISSING} (not downloaded)" in options_of(page, "#model")
    choose(page, "#model", MISSING)
    note = page.locator("#model-note")
    note.get_by_text("is not on this server yet").wait_for()
    text = note.inner_text()
    assert text.strip() == f"⚠️ {MISSING} is not on this server yet; download it in the System tab, then try again."
    upload_and_wait(page, tiny_image(tmp_path / "tiny.png"))
    page.locator("#enhance").click()
    toast = page.locator("[data-testid='toast-body']").filter(has_text=MISSING).first
    toast.wait_for()
    assert "/" not in toast.inner_text() and "weights folder" not in toast.inner_text()
    shot(page, "issue19-10-missing-model")
    page.get_by_role("tab", name="Batch").click()
    assert f"{MISSING} (not downloaded)" in options_of(page, "#batch-model")
    page.get_by_role("tab", name="Video").click()
    assert f"{MISSING} (not downloaded)" in options_of(page, "#video-model")
    page.get_by_role("tab", name="Image").click()
    page.locator("#compare").get_by_text("Compare models on a region").click()
    compare = page.locator("#compare-models")
    compare.get_by_text(f"{MISSING} (not downloaded)").wait_for()
    assert not compare.get_by_label(f"{MISSING} (not downloaded)").is_checked()  # only models that can run
    page.get_by_role("tab", name="System").click()
    choose(page, "#download-choice", MISSING)
    page.locator("#download-model").click()
    # no published checksum: the one it came with is recorded, and the note does not claim "verified"
    page.get_by_text(f"Downloaded {MISSING} (it has no published checksum").wait_for()
    page.get_by_role("tab", name="Image").click()  # no reload: the lists follow the download
    note.wait_for(state="hidden")  # nothing to say any more
    assert f"{MISSING} (downloaded)" in options_of(page, "#model")
    page.get_by_role("tab", name="Batch").click()
    assert f"{MISSING} (downloaded)" in options_of(page, "#batch-model")
    shot(page, "issue19-10-after-download")


def shows_file(page, element: str, name: str) -> None:
    """Wait until the file box `element` lists `name` (Gradio writes its stem and extension apart)."""
    page.wait_for_function(f"document.querySelector('{element}').innerText.replace(/\\s/g, '').includes('{name}')")


def test_run_again_brings_the_jobs_image_and_settings_back_into_the_image_tab(page, tmp_path):
    source = tiny_image(tmp_path / "again.png", side=24)
    upload_and_wait(page, source)
    choose(page, "#model", "realesr-animevideov3")
    set_number(page, "#image-outscale", 2)
    page.locator("#enhance").click()
    page.locator("#status").get_by_text("Saved as").wait_for()
    # the user moves on: another model and size, the upload cleared
    choose(page, "#model", "RealESRGAN_x4plus_anime_6B")
    set_number(page, "#image-outscale", 3)
    page.locator("#image-upload button[aria-label='Clear']").first.click()
    page.get_by_role("tab", name="History").click()
    cell = page.locator("#history-table [data-testid^='cell-']").filter(has_text="again_out.png").first
    cell.wait_for()
    cell.click()
    page.locator("#history-note").get_by_text("again_out.png").wait_for()
    page.locator("#history-again").click()
    page.locator("#status").get_by_text("image (again.png) and settings are in the Image tab").wait_for()
    shows_file(page, "#image-upload", "again.png")
    page.locator("#recommendation").get_by_text("Recommended:").wait_for()  # analysed like an upload
    page.wait_for_function("document.querySelector('#input-preview img')?.naturalWidth === 24")
    assert "realesr-animevideov3" in page.locator("#model input").input_value()
    assert page.locator("#image-outscale input[type=number]").input_value() == "2"
    shot(page, "issue19-6-run-again")
    page.locator("#enhance").click()
    page.locator("#status").get_by_text("Saved as").wait_for()
    assert page.locator("#status code").first.inner_text() == "again_out.png"


SIDES = """els => els.filter(e => e.getBoundingClientRect().width > 0).map(e => {
  const box = e.getBoundingClientRect();
  return {scale: new DOMMatrix(getComputedStyle(e).transform).a, left: box.left, top: box.top, width: box.width};
})"""


def slider_sides(page) -> list[dict]:
    """Each side of the before/after slider as drawn: its transform's scale and its box on screen."""
    return page.locator("#result-slider img").evaluate_all(SIDES)


def wait_for_zoom(page, low: float, high: float) -> list[dict]:
    page.wait_for_function(f"""() => {{
        const sides = ({SIDES})([...document.querySelectorAll('#result-slider img')]);
        return sides.length === 2 && sides.every(s => s.scale >= {low} && s.scale <= {high});
    }}""")
    # the zoom is animated: measure once no transition runs and the boxes hold still for two frames
    page.wait_for_function("""async () => {
        const images = [...document.querySelectorAll('#result-slider img')];
        if (images.some(image => image.getAnimations().length)) return false;
        const boxes = () => images.map(image => JSON.stringify(image.getBoundingClientRect()));
        const before = boxes();
        await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
        return JSON.stringify(boxes()) === JSON.stringify(before);
    }""")
    return slider_sides(page)


def test_the_before_after_slider_zooms_both_sides_together(page, tmp_path):
    upload_and_wait(page, tiny_image(tmp_path / "zoom.png", side=48))
    choose(page, "#model", "realesr-animevideov3")
    page.locator("#enhance").click()
    page.locator("#status").get_by_text("Saved as").wait_for()
    fit = wait_for_zoom(page, 0.999, 1.001)
    before, after = fit
    assert before["width"] == after["width"] > 100
    slider = page.locator("#result-slider")
    slider.scroll_into_view_if_needed()
    slider.screenshot(path=str(tmp_path / "fit.png"))
    frame, picture = slider.bounding_box(), page.locator("#result-slider img").first.bounding_box()
    fit_centre = (picture["x"] + picture["width"] / 2 - frame["x"], picture["y"] + picture["height"] / 2 - frame["y"])
    box = page.locator("#result-slider img").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.4)
    for _ in range(10):  # ten notches of the mouse wheel: 1.05 ** 10 = 1.63
        page.mouse.wheel(0, -100)
    zoomed = wait_for_zoom(page, 1.6, 1.7)
    assert zoomed[0] == zoomed[1]  # the same transform and box on both sides: they stay aligned
    assert abs(zoomed[0]["width"] / before["width"] - zoomed[0]["scale"]) < 0.01
    page.locator("#result-slider-zoom-fit").click()
    fitted = wait_for_zoom(page, 0.999, 1.001)  # back where it was (the page may have scrolled)
    assert [(s["left"], s["width"]) for s in fitted] == [(s["left"], s["width"]) for s in fit]
    page.locator("#result-slider-zoom-in").click()
    zoomed = wait_for_zoom(page, 2.0, 2.2)
    assert zoomed[0] == zoomed[1] and abs(zoomed[0]["width"] / before["width"] - zoomed[0]["scale"]) < 0.01
    slider.screenshot(path=str(tmp_path / "zoomed.png"))
    shot(page, "issue19-zoom-slider")
    # the displayed pixels are magnified about the centre: the zoomed screenshot matches the middle of
    # the unzoomed one enlarged by the scale (Pillow), far better than the unzoomed one itself
    import numpy as np
    fit_shot = Image.open(tmp_path / "fit.png").convert("L")
    zoomed_shot = Image.open(tmp_path / "zoomed.png").convert("L")
    width, height = fit_shot.size
    scale = zoomed[0]["scale"]
    centre_x, centre_y = fit_centre
    middle = fit_shot.crop((centre_x - centre_x / scale, centre_y - centre_y / scale,
                            centre_x + (width - centre_x) / scale, centre_y + (height - centre_y) / scale))
    expected = np.asarray(middle.resize((width, height), Image.BICUBIC), dtype=np.float64)
    shown = np.asarray(zoomed_shot, dtype=np.float64)
    unzoomed = np.asarray(fit_shot, dtype=np.float64)
    assert np.abs(shown - expected).mean() < 0.5 * np.abs(shown - unzoomed).mean()
    page.locator("#result-slider-zoom-out").click()
    wait_for_zoom(page, 0.999, 1.001)


def test_several_images_a_strip_switches_between_them_and_each_is_enhanced(page, tmp_path):
    import zipfile
    sources = [tiny_image(tmp_path / "set" / f"{name}.png", side=side, top=80 + side, left=150 + side)
               for name, side in (("one", 24), ("two", 40), ("three", 32))]
    page.locator("#image-files input[type=file]").set_input_files([str(p) for p in sources])
    strip = page.locator("#image-strip")
    page.wait_for_function("document.querySelectorAll('#image-strip img').length === 3")
    page.locator("#recommendation").get_by_text("24x24").first.wait_for()  # the first is chosen and analysed
    strip.locator("img").nth(1).click()
    page.locator("#recommendation").get_by_text("40x40").first.wait_for()  # the second's own analysis
    page.wait_for_function("document.querySelector('#input-preview img')?.naturalWidth === 40")
    shows_file(page, "#image-upload", "two.png")
    shot(page, "issue19-several-images")
    choose(page, "#model", "realesr-animevideov3")
    set_number(page, "#image-outscale", 2)
    page.locator("#enhance").click()
    page.locator("#status").get_by_text("Saved as").wait_for()
    assert page.locator("#status code").first.inner_text() == "two_out.png"
    with page.expect_download() as got:
        page.locator("#result-file a").first.click()
    got.value.save_as(tmp_path / "two_out.png")
    assert Image.open(tmp_path / "two_out.png").size == (80, 80)
    page.locator("#enhance-all").get_by_text("Enhance all 3 images").wait_for()
    page.locator("#enhance-all").click()
    page.locator("#status").get_by_text("3 successful, 0 failed").wait_for()
    with page.expect_download() as got:
        page.locator("#result-file a").first.click()
    got.value.save_as(tmp_path / "all.zip")
    with zipfile.ZipFile(tmp_path / "all.zip") as archive:
        assert sorted(archive.namelist()) == ["one_out.png", "three_out.png", "two_out.png"]
        sizes = {name: Image.open(archive.open(name)).size for name in archive.namelist()}
    assert sizes == {"one_out.png": (48, 48), "two_out.png": (80, 80), "three_out.png": (64, 64)}
    shot(page, "issue19-several-images-all")


def test_on_a_phone_several_images_are_picked_with_a_button_under_enhance(phone_page, tmp_path):
    page = phone_page
    sources = [tiny_image(tmp_path / f"p{i}.png", side=16 + 8 * i, top=90 + 9 * i) for i in range(3)]
    assert not page.locator("#image-files").is_visible()  # no dragging on a phone: no drop box either
    button = page.locator("#image-files-button")
    assert button.is_visible() and button.bounding_box()["y"] > page.locator("#enhance").bounding_box()["y"]
    with page.expect_file_chooser() as chooser:  # what a tap on the button opens
        button.click()
    assert chooser.value.is_multiple()
    chooser.value.set_files([str(p) for p in sources])
    page.wait_for_function("document.querySelectorAll('#image-strip img').length === 3")
    page.locator("#recommendation").get_by_text("16x16").first.wait_for()
    page.locator("#image-strip img").nth(2).click()
    page.locator("#recommendation").get_by_text("32x32").first.wait_for()
    assert page.locator("#enhance-all").is_visible()
    shot(page, "issue19-several-images-phone")
