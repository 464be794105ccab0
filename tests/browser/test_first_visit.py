"""A new user's first visit, one test per rough edge of issue 19 (worst first), in a real Chromium at
1400x1000 and, where layout matters, at 390x844. The app runs without face weights and without
downloads, as a fresh install with downloads off does."""
import json

from tests.browser.conftest import BROWSER_MARKS, shot, small_image, upload

pytestmark = BROWSER_MARKS


def apply_preset(page, name: str) -> None:
    page.get_by_role("tab", name="Presets").click()
    page.locator("#preset-choice input").click()
    page.get_by_role("option", name=name, exact=True).click()
    page.locator("#preset-apply").click()
    page.locator("#enhance").wait_for(state="visible")


def test_1_a_face_preset_leaves_unavailable_faces_off_and_enhance_works(page, tmp_path):
    assert page.locator("#face-enhance input").is_disabled()  # no face weights in this app
    apply_preset(page, "Old photo with faces")
    page.wait_for_function("document.querySelector('#image-outscale input[type=number]').value === '2'")
    assert not page.locator("#face-enhance input").is_checked()
    upload(page, small_image(tmp_path))
    page.locator("#recommendation").get_by_text("Recommended:").wait_for()
    page.locator("#model input").click()
    page.get_by_role("option").filter(has_text="realesr-animevideov3").first.click()
    page.locator("#enhance").click()
    page.locator("#status").get_by_text("Saved as").wait_for()
    shot(page, "issue19-1-face-preset")
