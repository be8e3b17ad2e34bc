"""The classroom features in Chromium: a shared link restores the settings in a new browser, and a run
posted to the class board shows up on a classmate's page."""
import re
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tools.browser import button, click, errors_on_page, open_app, press_keys, set_epochs, slider, slider_text

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def fresh_page(browser, url):
    """A new browser context: another person, another Streamlit session, no cookies in common."""
    from tools.browser import TRACK_RUNS
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.add_init_script(TRACK_RUNS)
    page.set_default_timeout(30_000)
    return open_app(page, url)


def test_a_copied_link_restores_the_settings_elsewhere(page, app_url, browser):
    app = open_app(page, f"{app_url}/?lr=10&epochs=50")
    assert slider_text(app, "Learning rate") == "10.0" and slider_text(app, "Epochs") == "50"
    press_keys(app, "Learning rate", "ArrowLeft")  # one choice down the log scale: 3
    expect(app).to_have_url(re.compile(r"lr=3"))
    query = parse_qs(urlparse(app.url).query)
    assert query["lr"] == ["3"] and query["epochs"] == ["50"]
    elsewhere = fresh_page(browser, app.url)  # the address as a student would paste it
    assert slider_text(elsewhere, "Learning rate") == "3.0" and slider_text(elsewhere, "Epochs") == "50"
    assert errors_on_page(elsewhere) == []


def test_a_garbled_link_gets_notes_not_a_traceback(page, app_url):
    app = open_app(page, f"{app_url}/?lr=abc&epochs=5000&model=cnn")
    notes = app.get_by_test_id("stAlertContentWarning")
    expect(notes.filter(has_text="Ignored lr=abc")).to_be_visible()
    expect(notes.filter(has_text="epochs=5000 in the link is above the largest allowed")).to_be_visible()
    assert slider(app, "Epochs").get_attribute("aria-valuetext") == "1000"
    assert errors_on_page(app) == []


def test_a_posted_run_appears_on_a_classmates_board(page, app_url, browser):
    app = open_app(page, f"{app_url}/?panel=board")
    set_epochs(app, 3)
    click(app, button(app, "Train"))
    name = app.get_by_role("textbox", name="Your name on the board")
    name.fill("Ada Lovelace")
    name.press("Enter")
    click(app, app.get_by_role("button", name="Post my run"))
    expect(app.get_by_text("Posted: your run is on the board.")).to_be_visible()
    classmate = fresh_page(browser, f"{app_url}/?panel=board")
    board = classmate.get_by_test_id("stDataFrame").first
    expect(board).to_be_visible()
    expect(board.get_by_text("Ada Lovelace").first).to_be_attached()
    assert errors_on_page(classmate) == []


def test_a_projected_board_shows_new_posts_by_itself(page, app_url, browser):
    """The teacher's projected board, opened first, shows a student's post within seconds, with no reload."""
    projector = fresh_page(browser, f"{app_url}/?panel=board")
    expect(projector.get_by_text("Every experiment on this server.")).to_be_visible()
    app = open_app(page, f"{app_url}/?panel=board")
    set_epochs(app, 2)
    click(app, button(app, "Train"))
    name = app.get_by_role("textbox", name="Your name on the board")
    name.fill("Grace Hopper")
    name.press("Enter")
    click(app, app.get_by_role("button", name="Post my run"))
    expect(app.get_by_text("Posted: your run is on the board.")).to_be_visible()
    board = projector.get_by_test_id("stDataFrame").first
    expect(board.get_by_text("Grace Hopper").first).to_be_attached(timeout=20_000)
    assert errors_on_page(projector) == []


def test_a_refresh_keeps_the_students_runs(page, app_url):
    """The browser remembers the runs' settings; after a reload the page trains them again, same numbers."""
    app = open_app(page, f"{app_url}/?epochs=3")
    click(app, button(app, "Train"))
    expect(app.get_by_text("epoch 3 of 3")).to_be_visible()
    before = app.get_by_test_id("stMetricValue").first.inner_text()
    app.reload()
    expect(app.get_by_text("epoch 3 of 3")).to_be_visible(timeout=60_000)
    assert app.get_by_test_id("stMetricValue").first.inner_text() == before
    expect(app.get_by_text("Run 1,")).to_be_visible()
    assert errors_on_page(app) == []


def test_a_student_picks_dark_and_projector_text_and_the_link_keeps_them(page, app_url):
    app = open_app(page, f"{app_url}/?epochs=12")
    app.get_by_text("Display", exact=True).click()
    app.get_by_role("radio", name="dark", exact=True).click()  # reloads the page in the dark theme
    expect(app).to_have_url(re.compile(r"embed_options=dark_theme"), timeout=30_000)
    expect(app).to_have_url(re.compile(r"theme=dark"), timeout=30_000)
    app.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]")
    background = app.evaluate("getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor")
    assert sum(map(int, re.findall(r"\d+", background)[:3])) < 200, background  # dark
    assert slider_text(app, "Epochs") == "12", "the settings came through the reload"
    app.get_by_text("Display", exact=True).click()
    app.get_by_text("Projector text").click()
    expect(app).to_have_url(re.compile(r"text=projector"))
    size = app.evaluate("getComputedStyle(document.documentElement).fontSize")
    assert size == "22px"
    assert errors_on_page(app) == []
