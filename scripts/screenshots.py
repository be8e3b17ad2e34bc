"""Screenshots of the page's main states for docs/, taken from the real server in headless Chromium.

    .venv/bin/python scripts/screenshots.py [--out docs]

Writes
  trained.png    after a default 30-epoch Train, 1400 wide, the whole page (the viewport is made as tall as
                 the page: Streamlit scrolls its main section, not the document, so Playwright's full_page
                 would only capture one screen);
  diverged.png   learning rate 1000 (End on its slider), Train: the divergence note, 1400x1000;
  phone.png      390x844 with touch, after a tap on the Train at the top of the page (a phone's own);
  projector.png  1920x1080 after a Train;
  dark.png       1920x1080 after a Train, with the page's Display set to dark (as a link carries it);
  board.png      1920x1080, the class board alone as `?panel=board` projects it, after three students posted.
Needs Chromium (/usr/bin/chromium).
"""
import argparse
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from tools import ROOT
from tools import browser as h

MAX_HEIGHT = 6000  # px: a whole-page shot taller than this is cut there


def open_page(browser, url, width, height):
    phone = width <= 768  # where Streamlit starts the sidebar collapsed, the page has its own Train on top
    page = browser.new_context(viewport={"width": width, "height": height}, has_touch=phone, is_mobile=phone).new_page()
    page.add_init_script(h.TRACK_RUNS)
    page.set_default_timeout(60_000)
    return h.open_app(page, url)


def train(page):
    """Press Train (on a narrow screen, tap the one at the top of the page); wait for the last redraw."""
    if page.get_by_test_id("stSidebar").get_attribute("data-collapsed") == "true":
        since = h.script_runs(page)
        page.get_by_test_id("stMain").get_by_role("button", name="Train", exact=True).tap()
        h.wait_ready(page, since=since)
    else:
        h.click(page, h.button(page, "Train"))
    h.accuracy_chart(page)  # waits for the player to have played the whole run


def post(page, name):
    """Post the page's run to the class board under `name`, from the panel below the dashboard."""
    h.click(page, page.get_by_role("radio", name="Class board"))
    box = page.get_by_role("textbox", name="Your name on the board")
    box.fill(name)
    box.press("Enter")
    h.click(page, page.get_by_role("button", name="Post my run"))


def shoot(page, path):
    """Screenshot with the mouse parked over empty header space, so that no tooltip is left showing."""
    size = page.viewport_size
    page.mouse.move(size["width"] // 2, 8)
    page.wait_for_timeout(400)
    page.screenshot(path=str(path))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} ({size['width']}x{size['height']})")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "docs")
    args = p.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    chromium = h.find_chromium()
    if not chromium:
        sys.exit(h.MISSING_CHROMIUM)
    with sync_playwright() as pw, h.start_server() as server:
        browser = pw.chromium.launch(executable_path=chromium, args=h.CHROMIUM_ARGS)

        page = open_page(browser, server.url, 1400, 1000)
        train(page)
        height = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
        page.set_viewport_size({"width": 1400, "height": min(max(height, 1000), MAX_HEIGHT)})
        page.wait_for_timeout(1000)  # charts re-lay out to the new size
        height = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
        page.set_viewport_size({"width": 1400, "height": min(max(height, 1000), MAX_HEIGHT)})
        page.wait_for_timeout(500)
        shoot(page, out / "trained.png")
        page.context.close()

        page = open_page(browser, server.url, 1400, 1000)
        assert h.press_keys(page, "Learning rate", "End") == "1000.0"
        train(page)
        page.get_by_test_id("stAlertContentError").filter(has_text="diverged").wait_for()
        shoot(page, out / "diverged.png")
        page.context.close()

        for name, width, height in (("phone", 390, 844), ("projector", 1920, 1080)):
            page = open_page(browser, server.url, width, height)
            train(page)
            shoot(page, out / f"{name}.png")
            page.context.close()
        # the page's own Display choice, as a student's link carries it (Streamlit reads embed_options at load)
        page = open_page(browser, f"{server.url}/?theme=dark&embed_options=dark_theme", 1920, 1080)
        train(page)
        shoot(page, out / "dark.png")
        page.context.close()

        for name, query in (("Ada", "epochs=100"), ("Grace", "lr=0.1"), ("Alan", "epochs=60&lr=3")):
            page = open_page(browser, f"{server.url}/?{query}", 1400, 1000)
            train(page)
            post(page, name)
            page.context.close()
        page = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
        page.add_init_script(h.TRACK_RUNS)
        h.open_board(page, f"{server.url}/?panel=board")
        shoot(page, out / "board.png")
        page.context.close()
        browser.close()


if __name__ == "__main__":
    main()
