"""The real page in a real browser, for the browser tests, benchmarks/bench_browser.py and scripts/screenshots.py:
helpers that wait the way a person does, for the page to settle.

Chromium is Debian's (`/usr/bin/chromium`): Playwright's own browser download does not work here, so
Playwright launches it by path, with CHROMIUM_ARGS.
"""
import os
import shutil

from tools.server import Server

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
MISSING_CHROMIUM = ("Chromium not found: install it with `apt-get install -y chromium` "
                    "(scripts/test.sh does this as root)")
SERVER_START_SECONDS = 60
NOT_RUNNING = "[data-testid=stApp][data-test-script-state=notRunning]"
# Installed in every page before it loads:
# - counts the script runs the page has seen (each time stApp's script state turns to "running"), so that a
#   helper can tell "the run my click started has finished" from "no run has started yet";
# - window.__accuracy(): the player's validation curve as it is on screen (up to the epoch it shows) and the
#   dashed baseline, or null when there is no player (no run).
PLAYER = "[data-testid=digitviz-player]"
TRACK_RUNS = """
window.__stRuns = 0;
new MutationObserver(changes => {
  for (const c of changes) if (c.target.getAttribute('data-test-script-state') === 'running') window.__stRuns++;
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-test-script-state']});
window.__accuracy = () => {
  const root = document.querySelector('[data-testid=digitviz-player]');
  return root && root.__player && root.__player.meta ? root.__player.onScreen() : null;
};
"""
# Settled: the script is idle and the player has played every epoch it was sent (or there is no player).
SETTLED = """() => {
  const idle = document.querySelector('[data-testid=stApp]')?.dataset.testScriptState === 'notRunning';
  const shown = window.__accuracy();
  return idle && (shown === null || (!shown.playing && shown.points === shown.count));
}"""


# ---------------------------------------------------------------- the server

def find_chromium():
    """Debian's Chromium, or whatever `chromium` is on the PATH; None if there is none."""
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else shutil.which("chromium")


def start_server(ready_for_class=True):
    """The real server on a free loopback port, with a throwaway data folder (tools.server.Server, shared with
    the load benchmark), ready for a class unless asked not to wait; RuntimeError with the server's log if it does
    not come up."""
    return Server(timeout=SERVER_START_SECONDS, ready_for_class=ready_for_class)


# ---------------------------------------------------------------- the page

def script_state(page):
    return page.get_attribute("[data-testid=stApp]", "data-test-script-state")


def script_runs(page):
    """How many script runs this page has seen start (needs TRACK_RUNS as an init script)."""
    return page.evaluate("() => window.__stRuns || 0")


def wait_ready(page, since=None, timeout=60_000, start_timeout=None):
    """Wait until the script has run and stopped, so the page shows the result of what was just done.

    `since`: script_runs(page) read before the action; waits (up to `start_timeout` ms, default 5 s) for a
    run to start after it. Without it, gives a just-clicked script a moment (default 0.5 s) to start.
    Either way it then waits for the script state to be notRunning.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    try:
        if since is not None:
            page.wait_for_function("n => (window.__stRuns || 0) > n", arg=since, timeout=start_timeout or 5_000,
                                   polling=20)
        else:
            page.wait_for_function(
                "() => document.querySelector('[data-testid=stApp]')?.dataset.testScriptState !== 'notRunning'",
                timeout=start_timeout or 500, polling=20)
    except PlaywrightTimeout:
        pass  # nothing (new) ran, or it ran and finished between two polls: either way, now wait for the end
    page.wait_for_selector(NOT_RUNNING, state="attached", timeout=timeout)


def open_app(page, url):
    """Go to the page and wait for its first script run to finish. The page needs TRACK_RUNS (see `page`)."""
    page.goto(url)
    wait_ready(page, since=0, start_timeout=30_000)
    button(page, "Train").wait_for(state="attached")
    return page


def open_board(page, url):
    """Go to a projected class board (`?panel=board`: the board alone, no Train) and wait for its first run."""
    page.goto(url)
    wait_ready(page, since=0, start_timeout=30_000)
    page.locator(PROJECTED_BOARD).wait_for()
    return page


PROJECTED_BOARD = ".st-key-projected-board"  # the class board alone, as a teacher's link projects it


def click(page, locator, timeout=60_000):
    """Click, then wait for the script run the click starts to finish."""
    since = script_runs(page)
    locator.click()
    wait_ready(page, since=since, timeout=timeout)


def button(page, name):
    """One of the sidebar's buttons (Train, Stop, Step, Resume, Reset). Scoped to the sidebar: while a script
    runs, Streamlit's own header shows a "Stop" button too."""
    return page.get_by_test_id("stSidebar").get_by_role("button", name=name, exact=True)


def slider(page, label):
    """A sidebar slider's thumb by its label. Streamlit 1.67's sliders are React Aria ones: the thumb is an
    <input type=range> (role slider, no aria-valuenow) whose aria-valuetext is the value shown."""
    return page.locator(f'[data-testid=stSidebar] input[type=range][aria-label="{label}"]')


def slider_text(page, label):
    """What the slider shows above its thumb."""
    thumb = page.locator(f'input[type=range][aria-label="{label}"]')
    box = page.locator("[data-testid=stSidebar] [data-testid=stSlider]").filter(has=thumb)
    return box.locator("[data-testid=stSliderThumbValue]").inner_text().strip()


def press_keys(page, label, *keys):
    """Focus a slider's thumb, press the keys, and wait for the rerun that the new value starts."""
    thumb = slider(page, label)
    since = script_runs(page)
    thumb.focus()
    for key in keys:
        thumb.press(key)
    wait_ready(page, since=since)
    return thumb.get_attribute("aria-valuetext")


def set_epochs(page, epochs):
    """Epochs by keyboard: Home is 1, PageUp adds 100 (a tenth of the range), arrows add or take 1."""
    hundreds, rest = divmod(epochs - 1, 100)
    if rest > 50 and hundreds < 9:
        keys = ["Home"] + ["PageUp"] * (hundreds + 1) + ["ArrowLeft"] * (100 - rest)
    else:
        keys = ["Home"] + ["PageUp"] * hundreds + ["ArrowRight"] * rest
    if epochs == 1000:
        keys = ["End"]
    shown = press_keys(page, "Epochs", *keys)
    assert shown == str(epochs), f"the epochs slider shows {shown}, wanted {epochs}"


def accuracy_chart(page, settle_timeout=30_000):
    """The player's validation curve and baseline as it is on screen, or None when there is no player.

    The player animates at the student's pace after the records arrive, so this first waits (up to
    `settle_timeout` ms) for it to have played every epoch it was sent, and returns what is there either way.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    try:
        page.wait_for_function(SETTLED, timeout=settle_timeout, polling=50)
    except PlaywrightTimeout:
        pass  # the caller's assertions say what is wrong
    return page.evaluate("() => window.__accuracy()")


def player_speed(page, label):
    """Pick the player's pace ("10", "15", "30", "100" epochs a second, or "as it trains"): a click in the
    browser, no script run. The player remembers it for the page's later runs."""
    page.locator(PLAYER).get_by_role("button", name=label, exact=True).click()


def player_progress(page):
    """The player's "epoch N of M" as it is on screen."""
    return page.locator(f"{PLAYER} .dvp-progress-text")


def errors_on_page(page):
    """Texts of every exception or error alert the page shows."""
    return page.locator("[data-testid=stException], [data-testid=stAlertContentError]").all_inner_texts()
