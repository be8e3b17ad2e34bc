"""Screenshots of the Inside SGD views for docs/, from the real server in headless Chromium.

    .venv/bin/python -m scripts.screenshots_inside [--out docs] [--theme light|dark] [--width 1400] [--height 1000]

Writes inside-threshold.png, inside-step.png, inside-accuracy.png, inside-finder.png and inside-sweep.png: each
the Inside SGD panel after a 5-epoch Train, with the view opened and used (a threshold dragged, two batches
stepped and a ledger row clicked, a pixel clicked, the finder run, the sweep trained). A dark theme or another
size adds a suffix (inside-step-dark.png, inside-step-390.png). Needs Chromium (/usr/bin/chromium).
"""
import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

from scripts.screenshots import open_page, train
from tools import ROOT
from tools import browser as h

PANEL = ".st-key-inside-panel"




def open_view(page, label):
    h.click(page, page.locator(PANEL).get_by_role("radio", name=label, exact=True))


def use(page, view):
    """What a student does first in each view."""
    panel = page.locator(PANEL)
    if view == "threshold":
        thumb = panel.locator('input[type=range]').first
        since = h.script_runs(page)
        thumb.focus()
        for _ in range(15):
            thumb.press("ArrowRight")
        h.wait_ready(page, since=since)
    elif view == "step":
        for _ in range(2):
            h.click(page, panel.get_by_role("button", name="Next batch"))
        click_cell(page, panel.get_by_test_id("stDataFrame").first, row=0)
    elif view == "accuracy":
        chart = panel.locator(".js-plotly-plot").first
        chart.scroll_into_view_if_needed()
        box = chart.locator(".heatmaplayer image").first.bounding_box()  # the 28x28 weights as drawn
        since = h.script_runs(page)
        page.mouse.click(box["x"] + box["width"] * 11.5 / 28, box["y"] + box["height"] * 16.5 / 28)
        h.wait_ready(page, since=since)
    elif view == "finder":
        h.click(page, panel.get_by_role("button", name="Run the finder"))
    elif view == "sweep":
        h.click(page, panel.get_by_role("button", name="Train at all 12 learning rates"), timeout=300_000)


def click_cell(page, frame, row):
    """Click the row-selection box of a row in a Glide data grid: its canvas has no per-cell elements."""
    frame.scroll_into_view_if_needed()
    box = frame.bounding_box()
    since = h.script_runs(page)
    page.mouse.click(box["x"] + 15, box["y"] + 35 * (row + 1.5))
    h.wait_ready(page, since=since)


def shoot(page, path):
    page.mouse.move(page.viewport_size["width"] // 2, 8)
    page.wait_for_timeout(1500)  # Plotly's last redraw
    panel = page.locator(PANEL)
    panel.scroll_into_view_if_needed()
    panel.screenshot(path=str(path))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


VIEWS = {"threshold": "Threshold and sigmoid", "step": "One SGD step", "accuracy": "Why not accuracy?",
         "finder": "LR finder", "sweep": "LR sweep"}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "docs")
    p.add_argument("--theme", default="light", choices=("light", "dark"))
    p.add_argument("--width", type=int, default=1400)
    p.add_argument("--height", type=int, default=1000)
    p.add_argument("--views", nargs="*", default=list(VIEWS))
    args = p.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    suffix = ("" if args.theme == "light" else f"-{args.theme}") + ("" if args.width == 1400 else f"-{args.width}")
    # The page's own Display setting, as a link carries it: the config's light and dark tables outrank theme.base
    theme = "" if args.theme == "light" else "&theme=dark&embed_options=dark_theme"
    with sync_playwright() as pw, h.Server() as server:
        browser = pw.chromium.launch(executable_path=h.find_chromium(), args=h.CHROMIUM_ARGS)
        for view in args.views:
            page = open_page(browser, f"{server.url}/?panel=inside&epochs=5{theme}", args.width, args.height)
            train(page)
            open_view(page, VIEWS[view])
            use(page, view)
            assert h.errors_on_page(page) == [], h.errors_on_page(page)
            # a viewport as tall as the panel: Streamlit scrolls its main section, so one screen is all it shows
            height = page.evaluate(f"() => document.querySelector('{PANEL}').scrollHeight")
            page.set_viewport_size({"width": args.width, "height": min(height + 200, 5000)})
            shoot(page, out / f"inside-{view}{suffix}.png")
            page.context.close()
        browser.close()


if __name__ == "__main__":
    main()
