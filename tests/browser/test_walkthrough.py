"""A teacher's walk-through in Chromium (issue 23, point 5): a phone trains by touch from the first screen, the
page shows the frame a run fills before the first Train, and the board link projects the board alone."""
import numpy as np
import pytest
from playwright.sync_api import expect

from digitviz.config import TrainConfig
from digitviz.models import initial_params
from digitviz.records import weight_map
from tools.browser import (
    PLAYER,
    PROJECTED_BOARD,
    TRACK_RUNS,
    accuracy_chart,
    button,
    errors_on_page,
    open_app,
    open_board,
    script_runs,
    wait_ready,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
PHONE = dict(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
DESKTOP = dict(viewport={"width": 1400, "height": 900})


def opened(new_context, url, context):
    page = new_context(**context).new_page()
    page.add_init_script(TRACK_RUNS)
    page.set_default_timeout(30_000)
    return page, url


def main_area(page):
    return page.get_by_test_id("stMain")


def tap(page, locator):
    """A finger's tap, then wait for the script run it starts to finish."""
    since = script_runs(page)
    locator.tap()
    wait_ready(page, since=since)


def on_first_screen(locator, height):
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


def test_a_phone_trains_by_touch_from_the_first_screen(new_context, app_url):
    page, _ = opened(new_context, app_url, PHONE)
    open_app(page, f"{app_url}/?only=lr,epochs")
    sidebar = page.get_by_test_id("stSidebar")
    assert sidebar.get_attribute("data-collapsed") == "true"  # Streamlit's own choice on a narrow screen
    train = main_area(page).get_by_role("button", name="Train", exact=True)
    expect(train).to_be_visible()
    assert on_first_screen(train, 844), train.bounding_box()
    # the hint names what the student sees: a Settings button right above it, not a sidebar behind `>>`
    hint = main_area(page).get_by_test_id("stAlertContentInfo").filter(has_text="then press Train")
    expect(hint).to_contain_text("Set the learning rate and epochs under Settings")
    settings = main_area(page).get_by_role("button", name="Settings: Learning rate, Epochs", exact=True)
    expect(settings).to_be_visible()
    assert on_first_screen(settings, 844)

    settings.tap()  # what the link leaves open, one tap away
    expect(sidebar).to_have_attribute("data-collapsed", "false")
    thumb = sidebar.locator('input[type=range][aria-label="Learning rate"]')
    expect(thumb).to_be_visible()
    # the slider as the link set it, before a key moves it: a sidebar just opened has been seen at its first choice
    expect(thumb).to_have_attribute("aria-valuetext", "1.0")
    since = script_runs(page)
    thumb.focus()
    thumb.press("ArrowRight")
    wait_ready(page, since=since)
    expect(thumb).to_have_attribute("aria-valuetext", "3.0")
    page.get_by_test_id("stSidebarCollapseButton").get_by_role("button").tap()
    expect(sidebar).to_have_attribute("data-collapsed", "true")

    tap(page, train)
    run = accuracy_chart(page)
    assert run is not None and run["points"] == 30, run
    expect(page.get_by_text("lr 3").first).to_be_attached()  # the run trained at the rate set on the phone
    assert errors_on_page(page) == []


def test_a_wide_screen_keeps_the_controls_in_the_sidebar_only(new_context, app_url):
    page, _ = opened(new_context, app_url, DESKTOP)
    open_app(page, app_url)
    expect(button(page, "Train")).to_be_visible()
    expect(main_area(page).get_by_role("button", name="Train", exact=True)).to_be_hidden()
    expect(page.get_by_text("then press Train")).to_contain_text("under Settings")


def player_pixels(page, panel):
    """How many of a player canvas's pixels are coloured (not grey, not the background), and how many are the
    baseline's dashed grey (#7f7f7f)."""
    return page.locator(f"{PLAYER} .dvp-{panel} canvas").evaluate("""c => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let coloured = 0, grey = 0;
      for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3] < 200) continue;
        const [r, g, b] = [d[i], d[i + 1], d[i + 2]];
        if (Math.max(r, g, b) - Math.min(r, g, b) > 40) coloured++;
        if (Math.abs(r - 127) < 3 && Math.abs(g - 127) < 3 && Math.abs(b - 127) < 3) grey++;
      }
      return {coloured, grey};
    }""")


def test_before_any_train_the_page_shows_the_frame_the_run_fills(new_context, app_url):
    page, _ = opened(new_context, app_url, DESKTOP)
    open_app(page, f"{app_url}/?seed=5&init_std=0.5")
    player = page.locator(PLAYER)
    expect(player).to_have_attribute("data-start", "true", timeout=30_000)
    assert accuracy_chart(page) is None  # no run: no curve, only its frame
    expect(player.locator(".dvp-progress-text")).to_have_text("epoch 0 of 30")
    # the starting weights, as the lesson draws them: those the run will start from (seed 5, init std 0.5)
    maps = player.locator(".dvp-map canvas")
    expect(maps).to_have_attribute("aria-label", "Starting weights, random: blue pushes → 3, red → 7")
    shown = np.array(player.evaluate("el => Array.from(el.__player.a.map_last)")).reshape(28, 28)
    start = weight_map(initial_params(TrainConfig(seed=5, init_std=0.5)))
    assert np.allclose(shown, start, atol=1e-6)
    assert player_pixels(page, "map")["coloured"] > 2000  # drawn, not just sent
    # empty axes with the baseline's dashed line
    accuracy = player.locator(".dvp-accuracy canvas")
    expect(accuracy).to_have_attribute(
        "aria-label", "Accuracy at epoch 0: no run yet, dashed: the mean-image baseline 95.1%")
    before = player_pixels(page, "accuracy")
    assert before["grey"] > 100 and before["coloured"] < 150  # the dashes; of colour, only the legend's two keys
    box = accuracy.bounding_box()
    assert box["width"] > 250 and box["height"] > 250

    since = script_runs(page)
    button(page, "Train").click()
    wait_ready(page, since=since)
    assert accuracy_chart(page)["points"] == 30
    expect(player).to_have_attribute("data-start", "false")
    assert page.evaluate("() => window.__digitvizPlayers") == 1  # the same player grew into the run
    after = player_pixels(page, "accuracy")
    assert after["coloured"] > 4 * before["coloured"], (before, after)  # the curves, in the frame already seen
    assert errors_on_page(page) == []


@pytest.mark.parametrize("context", [dict(viewport={"width": 1920, "height": 1080}), DESKTOP])
def test_the_board_link_projects_the_board_alone_at_the_top(new_context, app_url, context):
    page, _ = opened(new_context, app_url, context)
    open_board(page, f"{app_url}/?panel=board")
    board = page.locator(PROJECTED_BOARD)
    # at the top of the screen, not 1,500 px down; given a moment to settle (seen once at 119 px in a full run,
    # right after the page's first script run, on a loaded machine)
    settled = page.wait_for_function("""() => {
      const b = document.querySelector('.st-key-projected-board');
      return b && b.getBoundingClientRect().y < 80;
    }""", timeout=10_000, polling=100)
    box = board.bounding_box()
    assert settled and box["y"] < 80, box
    expect(board.get_by_role("heading", name="Class board")).to_be_visible()
    tables = board.get_by_test_id("stTable")
    expect(tables).to_have_count(2)
    assert on_first_screen(tables.first, context["viewport"]["height"])
    size = float(tables.first.locator("td").first.evaluate("el => getComputedStyle(el).fontSize").removesuffix("px"))
    assert size >= 24, f"{size} px: too small to read from the back of a room"
    # and so it stays while it refreshes itself (every 5 s): sampled in the browser every 50 ms for 6 s
    samples = page.evaluate("""() => new Promise(done => {
      const seen = [], timer = setInterval(() => {
        const board = document.querySelector('.st-key-projected-board'), cell = board && board.querySelector('td');
        seen.push([board ? Math.round(board.getBoundingClientRect().y) : null,
                   cell ? parseFloat(getComputedStyle(cell).fontSize) : null]);
      }, 50);
      setTimeout(() => { clearInterval(timer); done(seen); }, 6000);
    })""")
    assert all(y is not None and y < 80 and font >= 24 for y, font in samples), sorted(set(map(tuple, samples)))
    # the board alone: no dashboard, no classifier, no sidebar
    assert page.get_by_role("button", name="Train", exact=True).count() == 0 and page.locator(PLAYER).count() == 0
    assert page.get_by_test_id("stSidebar").count() == 0
    assert page.get_by_text("Classify your own digit").count() == 0
    assert errors_on_page(page) == []
