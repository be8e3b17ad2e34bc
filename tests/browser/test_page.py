"""The training dashboard in Chromium, used the way a person uses it: keyboard on the sliders, clicks on the
buttons, and assertions on what the page shows (including the player's curves as the browser holds them)."""
import time

import pytest
from playwright.sync_api import expect

from tools import ROOT
from tools.browser import (
    PLAYER,
    TRACK_RUNS,
    accuracy_chart,
    button,
    click,
    errors_on_page,
    open_app,
    player_progress,
    player_speed,
    press_keys,
    script_state,
    set_epochs,
    slider,
    slider_text,
    wait_ready,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
SHOTS = ROOT / "out" / "browser"  # /out/ is git-ignored; scripts/screenshots.py writes the ones in docs/

# Samples the page every 50 ms in the browser itself, so a busy 2-core machine can't make the test miss a redraw.
RECORD = """() => {
  window.__samples = [];
  window.__recorder = setInterval(() => {
    const chart = window.__accuracy();
    const bar = document.querySelector('[data-testid=digitviz-player] .dvp-progress-text');
    window.__samples.push({points: chart ? chart.points : 0, progress: bar ? bar.innerText.trim() : null,
                           state: document.querySelector('[data-testid=stApp]').dataset.testScriptState});
  }, 50);
}"""
STOP_RECORDING = "() => { clearInterval(window.__recorder); return window.__samples; }"


def status_line(page):
    """The markdown line above the progress bar: model, loss, lr, ... and where the run stands."""
    return page.locator("[data-testid=stMain] [data-testid=stMarkdownContainer]").filter(has_text="model, ").first


def test_page_loads_with_the_lessons_defaults(app):
    assert errors_on_page(app) == []
    expect(app.get_by_role("heading", name="Watch a model learn to tell 3s from 7s")).to_be_visible()
    expect(app.get_by_text("then press Train")).to_be_visible()
    defaults = {"Learning rate": "1.0", "Epochs": "30", "Batch size": "256", "Init std": "1.00"}
    for label, value in defaults.items():
        assert slider(app, label).get_attribute("aria-valuetext") == value, label
        assert slider_text(app, label) == value, label
    assert accuracy_chart(app) is None  # no run yet


def test_training_redraws_live_and_beats_the_baseline(app):
    set_epochs(app, 200)
    assert press_keys(app, "Learning rate", "ArrowRight") == "3.0"  # one step up the slider: 1 -> 3
    assert slider_text(app, "Learning rate") == "3.0" and slider_text(app, "Epochs") == "200"
    app.evaluate(RECORD)
    click(app, button(app, "Train"))
    samples = app.evaluate(STOP_RECORDING)
    assert errors_on_page(app) == []
    during = [s for s in samples if s["state"] == "running"]
    counts = [s["points"] for s in during if s["points"]]
    progress = [s["progress"] for s in during if s["progress"]]
    assert len(set(counts)) >= 2, f"the accuracy chart was drawn with only {sorted(set(counts))} points while training"
    assert counts == sorted(counts), "the curve lost points while training"
    assert len(set(progress)) >= 2, f"the progress bar only ever said {set(progress)}"
    final = accuracy_chart(app)
    assert final["points"] == 200 and final["epochs"] == list(range(1, 201))
    expect(player_progress(app)).to_have_text("epoch 200 of 200")
    assert final["dash"] == "dash" and 0.9 < final["baseline"] < 1
    assert final["valid"][-1] > final["baseline"], "after 200 epochs the model should beat the mean-image baseline"
    expect(status_line(app)).to_contain_text("lr 3")
    expect(status_line(app)).to_contain_text("done")


# The two-layer net at batch size 1: an epoch is 12,396 SGD steps of 30 hidden units (0.1 s here), so a 1,000-epoch
# run needs minutes and is still training whenever the test presses Stop, on any machine. The lesson's linear model
# in the kernel takes 10 ms an epoch at batch size 1: its 1,000 epochs once ended before a loaded machine's Stop.
SLOW_RUN = "?epochs=1000&batch_size=1&model=two_layer"


def test_stop_keeps_the_partial_curve_then_step_and_reset(page, app_url):
    app = open_app(page, app_url + SLOW_RUN)
    began = time.monotonic()
    button(app, "Train").click()
    # stop about a second into a run that needs minutes, once some epochs are on the chart
    app.wait_for_function("() => { const a = window.__accuracy(); return a && a.points > 0; }", polling=50)
    player_speed(app, "as it trains")  # the player keeps up with training: what it shows is what has trained
    time.sleep(max(0.0, 1 - (time.monotonic() - began)))
    button(app, "Stop").click()
    expect(status_line(app)).to_contain_text("paused", timeout=30_000)
    wait_ready(app)
    stopped = accuracy_chart(app)
    assert stopped is not None and 0 < stopped["points"] < 1000, stopped and stopped["points"]
    assert stopped["epochs"] == list(range(1, stopped["points"] + 1))
    assert errors_on_page(app) == []

    click(app, button(app, "Step"))
    stepped = accuracy_chart(app)
    # exactly one more: test_step_after_stop_adds_exactly_one_epoch; here, that the curve goes on unbroken
    assert stepped["points"] > stopped["points"] and stepped["epochs"] == list(range(1, stepped["points"] + 1))
    expect(status_line(app)).to_contain_text("paused")  # one epoch on, still short of the 1,000 it is heading for

    click(app, button(app, "Reset"))
    assert accuracy_chart(app) is None
    expect(app.get_by_test_id("stAlertContentInfo").filter(has_text="then press Train")).to_be_visible()
    assert script_state(app) == "notRunning"


def stop_right_after_a_redraw(page):
    """Press Stop just after the page redrew (the moment a person is most likely to react to what they see)."""
    shown = player_progress(page).inner_text()
    page.wait_for_function("t => document.querySelector('[data-testid=digitviz-player] .dvp-progress-text')"
                           "?.innerText !== t", arg=shown, polling=10)
    button(page, "Stop").click()
    expect(status_line(page)).to_contain_text("paused", timeout=30_000)
    wait_ready(page)


def test_step_after_stop_adds_exactly_one_epoch(page, app_url):
    """Stop, Step, Resume, three times over: each Step adds exactly one epoch to what the page showed."""
    app = open_app(page, app_url + SLOW_RUN)
    button(app, "Train").click()
    app.wait_for_function("() => { const a = window.__accuracy(); return a && a.points > 0; }", polling=50)
    player_speed(app, "as it trains")
    for attempt in range(3):
        stop_right_after_a_redraw(app)
        stopped = accuracy_chart(app)
        time.sleep(0.5)  # a person reads the chart before pressing Step
        click(app, button(app, "Step"))
        stepped = accuracy_chart(app)
        assert stepped["points"] == stopped["points"] + 1, (
            f"Stop showed {stopped['points']} epochs, then Step showed {stepped['points']} (attempt {attempt + 1}). "
            "With runner.fastReruns, Stop starts a new script thread at once and the interrupted one keeps "
            "training, appending epochs to the same Run, until its next redraw (up to REDRAW_SECONDS later): "
            "the paused page shows fewer epochs than the run has.")
        button(app, "Resume").click()
        expect(status_line(app)).to_contain_text("training", timeout=30_000)
    stop_right_after_a_redraw(app)


def horizontal_overflow(page):
    """[(what, scrollWidth, width)] for the main area and the document if they scroll sideways, else []."""
    return page.evaluate("""() => {
      const main = document.querySelector('[data-testid=stMain]');
      const out = [];
      if (main.scrollWidth > main.clientWidth + 1) out.push(['stMain', main.scrollWidth, main.clientWidth]);
      const doc = document.scrollingElement;
      if (doc.scrollWidth > window.innerWidth + 1) out.push(['document', doc.scrollWidth, window.innerWidth]);
      return out;
    }""")


def covering_element(page, locator):
    """What the browser hits at the centre of the element: None when it is the element itself (nothing on top)."""
    return locator.evaluate("""el => {
      const r = el.getBoundingClientRect();
      const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
      return hit && (el === hit || el.contains(hit)) ? null : (hit ? hit.outerHTML.slice(0, 200) : 'nothing');
    }""")


def set_sidebar(page, open_):
    """Open or close the sidebar with its header buttons (on a narrow screen Streamlit starts it collapsed).
    Returns whether it was open before."""
    sidebar = page.get_by_test_id("stSidebar")
    was_open = sidebar.get_attribute("data-collapsed") == "false"
    if open_ != was_open:
        toggle = page.get_by_test_id("stExpandSidebarButton") if open_ else \
            page.get_by_test_id("stSidebarCollapseButton").get_by_role("button")
        toggle.click()
        expect(sidebar).to_have_attribute("data-collapsed", "false" if open_ else "true")
        page.wait_for_timeout(600)  # the slide animation
    return was_open


def charts_outside(page, width):
    """Bounding boxes of the main area's shown charts and pictures (Plotly's, the player's, the baseline's; not those
    in a closed tab) that stick out of a screen `width` pixels wide."""
    charts = page.locator("[data-testid=stMain] .js-plotly-plot, [data-testid=stMain] canvas.dvp-canvas, "
                          "[data-testid=stMain] .dv-baseline img")
    boxes = [charts.nth(i).bounding_box() for i in range(charts.count())]
    return [b for b in boxes if b and (b["x"] < -1 or b["x"] + b["width"] > width + 1)]


@pytest.mark.parametrize("name, width, height", [("phone", 390, 844), ("projector", 1920, 1080)])
def test_the_page_fits_phone_and_projector_screens(new_context, app_url, name, width, height):
    page = new_context(viewport={"width": width, "height": height}).new_page()
    page.add_init_script(TRACK_RUNS)
    page.set_default_timeout(30_000)
    open_app(page, app_url)
    assert errors_on_page(page) == [] and horizontal_overflow(page) == []

    was_open = set_sidebar(page, True)
    assert was_open == (name == "projector"), "the sidebar starts collapsed on a phone only"
    train = button(page, "Train")
    train.scroll_into_view_if_needed()
    assert train.is_visible()
    box = train.bounding_box()
    assert 0 <= box["x"] and box["x"] + box["width"] <= width and 0 <= box["y"] and box["y"] + box["height"] <= height
    assert covering_element(page, train) is None, f"something covers the Train button: {covering_element(page, train)}"
    click(page, train)  # and a person can press it: the run appears
    assert accuracy_chart(page)["points"] == 30 and errors_on_page(page) == []
    set_sidebar(page, was_open)

    assert horizontal_overflow(page) == []
    assert page.locator(f"{PLAYER} canvas").count() == 4  # accuracy, loss, the weights and their change
    assert page.locator("[data-testid=stMain] .dv-baseline img").count() == 3  # the baseline's mean images
    assert charts_outside(page, width) == []
    if name == "projector":  # curves and weight map on one screen, the page scrolled to the top: no scrolling
        page.evaluate("() => { window.scrollTo(0, 0); document.querySelector('[data-testid=stMain]').scrollTo(0, 0); }")
        for canvas in page.locator(f"{PLAYER} canvas").all():
            box = canvas.bounding_box()
            assert box["y"] >= 0 and box["y"] + box["height"] <= height, box
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(width // 2, 8)  # off the buttons: no tooltip in the picture
    page.screenshot(path=str(SHOTS / f"{name}.png"))
