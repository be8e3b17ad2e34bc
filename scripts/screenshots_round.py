"""Screenshots of a class round for docs/, from a real server in headless Chromium: a class votes, then the reveal.

    .venv/bin/python -m scripts.screenshots_round [--out docs]

Writes round-vote.png (a student's question, 1400 wide), round-phone.png (the same on a phone, 390x844) and
round-reveal.png (the reveal after a first and a second vote, from the round's heading to the player: the votes,
the class's sketches behind the true curve, the student's own vote, the explanation and the run). Eight simulated
students vote through digitviz.rounds on the server's own database. Needs Chromium (/usr/bin/chromium).
"""
import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

from digitviz.board import Board
from digitviz.questions import BANK
from digitviz.rounds import Rounds
from scripts.screenshots import shoot
from tools import ROOT
from tools import browser as h
from tools.server import Server

PASS = "screenshots"
FIRST, SECOND = [2, 2, 0, 1, 2, 1, 0, 1], [2, 2, 2, 1, 2, 2, 0, 2]  # the class, before and after discussing


def open_round(browser, url, width, height, touch=False):
    page = browser.new_context(viewport={"width": width, "height": height}, has_touch=touch,
                               is_mobile=touch).new_page()
    page.add_init_script(h.TRACK_RUNS)
    page.set_default_timeout(60_000)
    page.goto(url)
    h.wait_ready(page, since=0, start_timeout=60_000)
    page.get_by_text("predict, then watch").wait_for()
    return page


def whole(page, width):
    """Make the viewport as tall as Streamlit's scrolling main section, so one screenshot holds it all."""
    for _ in range(2):  # charts re-lay out to the new size
        height = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
        page.set_viewport_size({"width": width, "height": min(max(height, 900), 4000)})
        page.wait_for_timeout(800)


def reveal(page, path):
    """From the round's heading to the end of the player: the reveal, the explanation and the run."""
    top = page.get_by_text("predict, then watch").bounding_box()
    bottom = page.get_by_test_id("digitviz-player").bounding_box()
    main = page.get_by_test_id("stMainBlockContainer").bounding_box()
    clip = {"x": main["x"], "y": top["y"] - 20, "width": main["width"],
            "height": bottom["y"] + bottom["height"] - top["y"] + 40}
    page.mouse.move(700, 8)
    page.screenshot(path=str(path), clip=clip)
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
          f"({clip['width']:.0f}x{clip['height']:.0f})")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "docs")
    out = p.parse_args().out.resolve()
    with Server(extra_env={"DIGITVIZ_BOARD_PASSPHRASE": PASS}) as server, sync_playwright() as pw:
        board = Board(f"sqlite:///{server.data_dir.name}/board.sqlite3")  # the server's own (ServerConfig)
        rounds = Rounds(board)
        code = rounds.open(BANK["lr_10"], PASS, PASS)
        for i, option in enumerate(FIRST):
            rounds.vote(code, "vote", f"student{i}", option,
                        sketch=[(0, 0.5), (0.2, 0.55 + 0.04 * i), (1, 0.62 + 0.045 * i)])
        browser = pw.chromium.launch(executable_path=h.find_chromium(), args=h.CHROMIUM_ARGS)
        url = f"{server.url}/?round={code}"
        page = open_round(browser, url, 1400, 900)
        shoot(page, out / "round-vote.png")
        page.context.close()
        page = open_round(browser, url, 390, 844, touch=True)
        shoot(page, out / "round-phone.png")
        page.context.close()

        page = open_round(browser, url, 1400, 900)
        page.get_by_text("It ends above lr 1's 97%.").click()
        h.click(page, page.get_by_role("button", name="Vote"))
        rounds.advance(code, "vote_again", PASS, PASS)
        for i, option in enumerate(SECOND):
            rounds.vote(code, "vote_again", f"student{i}", option)
        rounds.advance(code, "reveal", PASS, PASS)
        page.get_by_text("That was right.").wait_for(timeout=60_000)  # the page's own poll saw the reveal
        h.accuracy_chart(page)  # the player has played the whole run
        whole(page, 1400)
        reveal(page, out / "round-reveal.png")
        browser.close()
        board.engine.dispose()


if __name__ == "__main__":
    main()
