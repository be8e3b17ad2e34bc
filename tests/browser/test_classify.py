"""'Classify your own digit', in Chromium: draw a 7 with the mouse, upload a real validation 3, upload a
file that is not an image. Written against the section's contract:

- below the dashboard, a "Classify your own digit" header with tabs "Draw" and "Upload";
- the Draw tab holds streamlit-drawable-canvas with key "canvas". Version 0.13 is a Streamlit
  components-v2 element: it renders in an open shadow root inside `.st-key-canvas` (no iframe), which
  Playwright's CSS selectors pierce. Older versions render in an iframe titled
  "...streamlit_drawable_canvas..."; `drawing_canvas` handles both;
- the Upload tab holds `st.file_uploader(key="upload")`;
- the verdict is in `st.container(key="verdict")`: "The model says **7**" (bold), or an error alert.
"""
import io
import re

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tools.browser import errors_on_page, script_runs, wait_ready

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
CANVAS = ".st-key-canvas canvas.upper-canvas"
CANVAS_IFRAME = 'iframe[title*="streamlit_drawable_canvas"]'


def drawing_canvas(page):
    """The canvas a person draws on (fabric.js's upper canvas), in the page or in the component's iframe."""
    page.locator(f"{CANVAS}, {CANVAS_IFRAME}").first.wait_for()
    if page.locator(CANVAS_IFRAME).count():
        return page.frame_locator(CANVAS_IFRAME).first.locator("canvas.upper-canvas")
    return page.locator(CANVAS)


def verdict(page):
    return page.locator(".st-key-verdict")


def tab(page, name):
    return page.get_by_role("tab", name=name, exact=True)


def draw_a_seven(page, canvas):
    """A 7 in one stroke: a bar across the top, then down to the left. It keeps clear of the canvas's edges
    (0.13's toolbar floats over the top-right corner; older versions put theirs bottom-left)."""
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()

    def at(fx, fy):
        return box["x"] + fx * box["width"], box["y"] + fy * box["height"]

    page.mouse.move(*at(0.25, 0.25))
    page.mouse.down()
    page.mouse.move(*at(0.72, 0.25), steps=12)
    page.mouse.move(*at(0.45, 0.8), steps=16)
    page.mouse.up()


def png_bytes(image):
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def validation_three():
    """The first validation digit as a PNG, as a student would save it: white ink on black, 28x28."""
    from digitviz import load_digits
    d = load_digits()
    assert d.valid_y[0].item() == 1  # 1 means the pair's first digit: a 3
    return png_bytes((d.valid_x[0].view(28, 28).numpy() * 255).round().astype(np.uint8))


def upload(page, name, mime, data):
    """Open the Upload tab and choose a file, as a person does through the file dialog."""
    tab(page, "Upload").click()
    since = script_runs(page)
    page.locator(".st-key-upload input[type=file]").set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}])
    wait_ready(page, since=since)


def test_the_section_is_below_the_dashboard(app):
    heading = app.get_by_role("heading", name="Classify your own digit")
    expect(heading).to_be_attached()
    tabs = app.get_by_test_id("stTabs").filter(has=tab(app, "Draw"))
    assert [t.strip() for t in tabs.get_by_role("tab").all_inner_texts()] == ["Draw", "Upload"]
    dashboard = app.get_by_role("heading", name="The lesson's baseline").bounding_box()
    assert heading.bounding_box()["y"] > dashboard["y"]


def test_drawing_a_seven_gets_a_verdict(app):
    canvas = drawing_canvas(app)
    expect(canvas).to_be_visible()
    since = script_runs(app)
    draw_a_seven(app, canvas)
    wait_ready(app, since=since)
    expect(verdict(app)).to_contain_text("The model says", timeout=20_000)
    text = verdict(app).inner_text()
    assert re.search(r"The model says [37]\b", text), text
    assert "The model says 7" in text, f"a clear 7 should be called a 7: {text}"
    assert errors_on_page(app) == []


def test_uploading_a_validation_three(app, validation_three):
    upload(app, "three.png", "image/png", validation_three)
    expect(verdict(app)).to_contain_text("The model says 3", timeout=20_000)
    assert verdict(app).locator("strong", has_text=re.compile(r"^3$")).count() >= 1, "the digit is shown in bold"
    assert errors_on_page(app) == []


def test_uploading_a_text_file_named_png_says_it_is_not_an_image(app):
    upload(app, "digit.png", "image/png", b"this is a text file, not a picture of a digit\n")
    alert = app.locator("[data-testid=stAlertContentError], [data-testid=stAlert]").filter(has_text="not an image")
    expect(alert.first).to_be_visible(timeout=20_000)
    assert app.get_by_test_id("stException").count() == 0
    assert app.locator("[data-testid=digitviz-player] canvas").count() == 4, "the rest of the page is still there"
    assert app.locator(".dv-baseline img").count() == 3
    expect(app.get_by_role("heading", name="The lesson's baseline")).to_be_visible()
