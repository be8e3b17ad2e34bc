"""The player in Chromium: it animates at the display's frame rate, and play, pause, scrub, speed and the
keyboard work in the browser alone, starting no script run."""
import pytest
from playwright.sync_api import expect

from tools.browser import (
    PLAYER,
    accuracy_chart,
    button,
    click,
    open_app,
    player_progress,
    player_speed,
    script_runs,
    set_epochs,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

# Notes the player's data-epoch now and at every change (a MutationObserver sees each), with its time.
WATCH = """() => {
  const root = document.querySelector('[data-testid=digitviz-player]');
  window.__epochs = [[performance.now(), Number(root.dataset.epoch), root.dataset.playing]];
  window.__watch = new MutationObserver(() => {
    const last = window.__epochs[window.__epochs.length - 1], epoch = Number(root.dataset.epoch);
    if (!last || last[1] !== epoch) window.__epochs.push([performance.now(), epoch, root.dataset.playing]);
  });
  window.__watch.observe(root, {attributes: true, attributeFilter: ['data-epoch']});
}"""
STOP_WATCHING = "() => { window.__watch.disconnect(); return window.__epochs; }"


def shown_epoch(page):
    return int(page.get_attribute(PLAYER, "data-epoch"))


def trained(page, epochs):
    """A finished run of `epochs` epochs, played to its end."""
    set_epochs(page, epochs)
    click(page, button(page, "Train"))
    assert accuracy_chart(page, settle_timeout=60_000)["points"] == epochs


def test_a_300_epoch_run_plays_at_30_distinct_epochs_a_second(app):
    trained(app, 300)
    # the run reached the browser in several updates, each fed to the one player: none was mounted afresh
    assert app.evaluate("() => window.__digitvizPlayers") == 1
    player_speed(app, "100")
    app.wait_for_function(f"() => document.querySelector('{PLAYER}').dataset.playing === 'false'")
    app.evaluate(WATCH)
    app.locator(PLAYER).get_by_role("button", name="Play").click()  # from epoch 1 again, at 100 epochs a second
    app.wait_for_function(f"() => document.querySelector('{PLAYER}').dataset.playing === 'true'")
    app.wait_for_function(f"() => document.querySelector('{PLAYER}').dataset.playing === 'false'", timeout=30_000)
    changes = app.evaluate(STOP_WATCHING)[1:]  # from the jump back to epoch 1
    times = [t for t, _, _ in changes]
    seconds = (times[-1] - times[0]) / 1000
    distinct = len({e for _, e, _ in changes})
    assert changes[0][1] <= 3 and changes[-1][1] == 300 and seconds > 1
    assert distinct / seconds >= 30, f"{distinct} epochs shown in {seconds:.2f} s"
    print(f"{distinct} distinct epochs in {seconds:.2f} s: {distinct / seconds:.0f} a second")


# Notes what the player holds after each payload it is given: whether it was a part, how many epochs the run had, and
# the epochs whose maps (raw and change) the player keeps.
KEEP_WATCH = """() => {
  const p = document.querySelector('[data-testid=digitviz-player]').__player, update = p.update.bind(p);
  window.__kept = [];
  p.update = data => {
    update(data);
    window.__kept.push({part: data.meta.part, count: data.meta.count, map: p.maps.map.epochs.slice(),
                        change: p.maps.change.epochs.slice()});
  };
}"""


def test_while_a_run_trains_the_player_gets_only_new_maps_and_keeps_every_epochs(page, app_url):
    """A run's redraws after the first send only the maps of the epochs since the last one (parts): the player,
    given them one by one, holds every epoch's map, as it would from the whole run. A seed no other test trains:
    a run from the server's run cache comes whole, at once."""
    app = open_app(page, f"{app_url}/?seed=31")
    app.evaluate(KEEP_WATCH)
    trained(app, 300)
    kept = app.evaluate("() => window.__kept")
    parts = [k for k in kept if k["part"] is not None]
    assert parts, f"no part came: {[(k['part'], k['count']) for k in kept]}"
    for k in kept[next(i for i, k in enumerate(kept) if k["count"]):]:  # after the start frames, before Train
        every = list(range(1, k["count"] + 1))
        assert k["map"] == every and k["change"] == every, (k["part"], k["count"], k["map"][-3:])
    assert kept[-1]["part"] is None and kept[-1]["count"] == 300  # and last, the whole run


# Drops the first whole run the player is given, as Streamlit's frontend may when payloads come at once (it passes on
# the newest), and notes after each later payload which epoch's map the player would show at the run's first epoch.
LOSE_THE_BASE = """() => {
  const p = document.querySelector('[data-testid=digitviz-player]').__player, update = p.update.bind(p);
  let lost = false;
  window.__early = [];
  p.update = data => {
    if (!lost && data.meta.count && data.meta.part === null) { lost = true; return; }
    update(data);
    if (data.meta.count) window.__early.push({part: data.meta.part,
                                             shown: p.image(1, "map") ? p.maps.map.epochs[0] : null});
  };
}"""


def test_a_player_that_missed_the_whole_run_shows_no_wrong_map(page, app_url):
    """Parts build on the whole run sent first. A player that missed it has no map for the early epochs: it shows
    none there (not a later epoch's), until the whole run comes, when the run stops."""
    app = open_app(page, f"{app_url}/?seed=32")
    app.evaluate(LOSE_THE_BASE)
    trained(app, 300)
    early = app.evaluate("() => window.__early")
    parts = [e for e in early if e["part"] is not None]
    assert parts and all(e["shown"] is None for e in parts), early
    assert early[-1] == {"part": None, "shown": 1}


def test_pausing_and_scrubbing_start_no_script_run(app):
    trained(app, 40)
    runs = script_runs(app)
    player = app.locator(PLAYER)
    player.get_by_role("button", name="Play").click()
    app.wait_for_timeout(300)
    player.get_by_role("button", name="Pause").click()
    paused = shown_epoch(app)
    assert 1 <= paused < 40
    app.wait_for_timeout(300)
    assert shown_epoch(app) == paused, "a paused player moved on"
    scrub = player.get_by_role("slider", name="Epoch shown")
    box = scrub.bounding_box()
    app.mouse.click(box["x"] + 2, box["y"] + box["height"] / 2)  # the far left: epoch 1
    app.wait_for_timeout(200)
    assert shown_epoch(app) == 1
    first = app.evaluate(f"() => document.querySelector('{PLAYER}').__player.a.seconds[0]")
    # epoch 1's time per epoch is its own time, not divided by every epoch of the run (issue 13)
    expect(player.locator(".dvp-delta").nth(2)).to_have_text(f"{1000 * first:.1f} ms an epoch")
    scrub.fill("2")
    app.wait_for_timeout(200)
    assert shown_epoch(app) == 2 and accuracy_chart(app)["points"] == 2
    expect(player.locator("canvas").nth(2)).to_have_attribute("aria-label", "Weights after epoch 2: blue pushes "
                                                              "→ 3, red → 7")
    expect(player_progress(app)).to_have_text("epoch 2 of 40")
    app.wait_for_timeout(500)
    assert script_runs(app) == runs, "the player started a script run"


def test_the_keyboard_operates_the_player(app):
    trained(app, 20)
    runs = script_runs(app)
    app.locator(PLAYER).get_by_role("button", name="Play").focus()
    app.keyboard.press("Shift+Tab")  # from whatever is before the player, Tab reaches its first control
    app.keyboard.press("Tab")
    assert app.evaluate("() => document.activeElement.textContent").endswith("Play")
    app.keyboard.press("Space")  # play from epoch 1
    app.wait_for_function(f"() => document.querySelector('{PLAYER}').dataset.playing === 'true'")
    app.keyboard.press("Space")  # pause
    app.wait_for_function(f"() => document.querySelector('{PLAYER}').dataset.playing === 'false'")
    app.keyboard.press("Home")
    app.keyboard.press("ArrowRight")
    app.keyboard.press("ArrowRight")
    app.wait_for_timeout(100)
    assert shown_epoch(app) == 3
    app.keyboard.press("ArrowLeft")
    app.wait_for_timeout(100)
    assert shown_epoch(app) == 2
    app.keyboard.press("Tab")  # to the scrubber, where the arrows move it
    assert app.evaluate("() => document.activeElement.getAttribute('aria-label')") == "Epoch shown"
    app.keyboard.press("ArrowRight")
    app.wait_for_timeout(100)
    assert shown_epoch(app) == 3
    app.keyboard.press("End")
    app.wait_for_timeout(100)
    assert shown_epoch(app) == 20
    app.keyboard.press("Tab")  # to the speeds: Enter or Space picks one
    app.keyboard.press("Tab")
    app.keyboard.press("Enter")
    assert app.evaluate("() => document.activeElement.getAttribute('aria-pressed')") == "true"
    app.wait_for_timeout(300)
    assert script_runs(app) == runs, "the keyboard started a script run"
