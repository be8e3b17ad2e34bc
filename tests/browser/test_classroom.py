"""The classroom features in Chromium: a shared link restores the settings in a new browser, and a run
posted to the class board shows up on a classmate's page."""
import re
from urllib.parse import parse_qs, quote, urlparse

import pytest
from playwright.sync_api import expect

from digitviz.text import WORD_JOINER
from tests.unit.test_export import GOOD
from tools.browser import (
    PLAYER,
    PROJECTED_BOARD,
    button,
    click,
    errors_on_page,
    open_app,
    open_board,
    player_progress,
    press_keys,
    script_runs,
    set_epochs,
    slider,
    slider_text,
    wait_ready,
)

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


def post_a_run(app, epochs, name):
    """A student trains a run, opens the class board below the dashboard and posts the run under `name`."""
    set_epochs(app, epochs)
    click(app, button(app, "Train"))
    click(app, app.get_by_role("radio", name="Class board"))
    box = app.get_by_role("textbox", name="Your name on the board")
    box.fill(name)
    box.press("Enter")
    click(app, app.get_by_role("button", name="Post my run"))
    expect(app.get_by_text("Posted: your run is on the board.")).to_be_visible()


def projected_board(browser, url):
    """The teacher's projector: a `?panel=board` link in a new browser context shows the board alone."""
    from tools.browser import TRACK_RUNS
    page = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
    page.add_init_script(TRACK_RUNS)
    page.set_default_timeout(30_000)
    return open_board(page, f"{url}/?panel=board")


def test_a_posted_run_appears_on_a_classmates_board(page, app_url, browser):
    post_a_run(open_app(page, app_url), 3, "Ada Lovelace")
    classmate = fresh_page(browser, app_url)
    click(classmate, classmate.get_by_role("radio", name="Class board"))
    board = classmate.get_by_test_id("stDataFrame").first
    expect(board).to_be_visible()
    expect(board.get_by_text("Ada Lovelace").first).to_be_attached()
    assert errors_on_page(classmate) == []


def test_a_projected_board_shows_new_posts_by_itself(page, app_url, browser):
    """The teacher's projected board, opened first, shows a student's post within seconds, with no reload."""
    projector = projected_board(browser, app_url)
    expect(projector.get_by_text("Every experiment on this server.")).to_be_visible()
    post_a_run(open_app(page, app_url), 2, "Grace Hopper")
    board = projector.locator(PROJECTED_BOARD).get_by_test_id("stTable").first
    expect(board.get_by_text("Grace Hopper").first).to_be_visible(timeout=20_000)
    assert errors_on_page(projector) == []


def test_a_student_with_the_board_link_gets_to_the_training_page_in_one_click(page, app_url):
    app = open_board(page, f"{app_url}/?panel=board")
    click(app, app.get_by_role("button", name="Open the training page"))
    expect(button(app, "Train")).to_be_visible()
    expect(app.get_by_role("radio", name="Class board")).to_have_attribute("aria-checked", "true")
    expect(app.get_by_role("textbox", name="Your name on the board")).to_be_visible()
    assert errors_on_page(app) == []


def test_a_refresh_keeps_the_students_runs(page, app_url):
    """The browser remembers the runs' settings; after a reload the page trains them again, same numbers."""
    app = open_app(page, f"{app_url}/?epochs=3")
    click(app, button(app, "Train"))
    accuracy = app.locator(f"{PLAYER} .dvp-value").first
    expect(player_progress(app)).to_have_text("epoch 3 of 3")
    before = accuracy.inner_text()
    # The run is remembered at the end of its script run, a moment after its last epoch is drawn: a reload in
    # between (as CI once did, under load) finds nothing to restore.
    app.wait_for_function("() => (localStorage.getItem('digitviz-runs-v1') || '').includes('\"number\"')")
    app.reload()
    expect(player_progress(app)).to_have_text("epoch 3 of 3", timeout=60_000)
    expect(accuracy).to_have_text(before)
    expect(app.get_by_text("Run 1,")).to_be_visible()
    assert errors_on_page(app) == []


def test_a_first_visit_is_one_script_run_and_its_run_is_still_remembered(page, app_url):
    """A browser that remembers no runs hands nothing back, so a new page is one script run (it was two: the memory
    component's empty answer reran it); what the student then trains is remembered all the same."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    asked = []  # what the browser asked the server to run: the page's first run, then any other

    def sent(payload):
        msg = BackMsg()
        if isinstance(payload, bytes):
            msg.ParseFromString(payload)
            asked.append(msg.WhichOneof("type"))

    page.on("websocket", lambda ws: ws.on("framesent", sent))
    app = open_app(page, f"{app_url}/?epochs=3")
    app.wait_for_timeout(1_500)  # time enough for an answer to come
    assert asked.count("rerun_script") == 1, asked
    click(app, button(app, "Train"))
    app.wait_for_function("() => (localStorage.getItem('digitviz-runs-v1') || '').includes('\"number\"')")
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
    # the link and the style are two components' doing: wait for the style, which may land a moment later
    app.wait_for_function("() => getComputedStyle(document.documentElement).fontSize === '22px'", timeout=10_000)
    assert errors_on_page(app) == []


PHISHING = "[Sign in](https://evil.example)"
TRACKER = "![x](http://x/y.png)"


def outside_requests(page, app_url):
    """Every request the page makes over the network to anywhere but its own server, recorded from now on (blob:
    and data: addresses are the page's own memory)."""
    made, home = [], urlparse(app_url).netloc
    page.on("request", lambda r: made.append(r.url) if urlparse(r.url).scheme in ("http", "https", "ws", "wss")
            and urlparse(r.url).netloc != home else None)
    return made


def shown_text(locator):
    """What a person reads in these elements: their text, less the invisible word joiners that keep Markdown
    from making links of it (digitviz.text.plain_markdown)."""
    return " ".join(locator.all_inner_texts()).replace(WORD_JOINER, "")


def no_link_or_image_from(page, *hosts):
    """No <a> pointing at, and no <img> (or any src) loaded from, any of `hosts` anywhere on the page."""
    found = page.evaluate("""hosts => [...document.querySelectorAll('a[href], [src]')]
        .map(e => e.getAttribute('href') || e.getAttribute('src')).filter(u => hosts.some(h => u.includes(h)))""",
                          hosts)
    return found == []


def test_markdown_in_a_link_is_shown_as_plain_text(page, app_url):
    """A shared link's values are quoted in the notes, never rendered: no live link, no image fetched from outside."""
    made = outside_requests(page, app_url)
    app = open_app(page, f"{app_url}/?lr={quote(PHISHING)}&epochs={quote(TRACKER)}")
    expect(app.get_by_test_id("stAlertContentWarning").first).to_be_visible()
    notes = shown_text(app.get_by_test_id("stAlertContentWarning"))
    # As typed, up to the note's cut of a long value (digitviz.settings quotes at most 30 characters).
    assert f"Ignored lr={PHISHING[:30]}…" in notes and f"Ignored epochs={TRACKER} " in notes, notes
    assert no_link_or_image_from(app, "evil.example", "x/y.png")
    assert made == [], made
    assert errors_on_page(app) == []


def test_markdown_in_an_uploaded_model_name_is_shown_as_plain_text(page, app_url):
    """The model uploader quotes the file's name, which the student's own computer chose: plain text too."""
    made = outside_requests(page, app_url)
    app = open_app(page, f"{app_url}/?panel=files")
    name = f"{TRACKER}{PHISHING}.npz"
    since = script_runs(app)
    app.locator(".st-key-model_file input[type=file]").set_input_files(
        files=[{"name": name, "mimeType": "application/octet-stream", "buffer": GOOD}])
    wait_ready(app, since=since)
    expect(app.get_by_test_id("stAlertContentSuccess")).to_be_visible()
    assert f"Loaded {name} " in shown_text(app.get_by_test_id("stAlertContentSuccess"))
    assert no_link_or_image_from(app, "evil.example", "x/y.png")
    assert made == [], made
    assert errors_on_page(app) == []
