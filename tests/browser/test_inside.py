"""Inside SGD in Chromium: drag the threshold, step batches and click a ledger row, click a weight to sweep it,
run the learning-rate finder and use a suggestion, sweep the learning rates and open the runs to compare."""
import re

import pytest
from playwright.sync_api import expect

from digitviz import TrainConfig, train
from digitviz.mechanics import threshold_view
from tools.browser import button, click, errors_on_page, open_app, script_runs, set_epochs, slider_text, wait_ready

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
PANEL = ".st-key-inside-panel"
TITLES = """() => [...document.querySelectorAll('.st-key-inside-panel .js-plotly-plot')].map(el => ({
  title: ((el.layout.title && el.layout.title.text) || '').replace(/<[^>]*>/g, ''),
  x: [el.layout.xaxis, el.layout.xaxis2].map(a => (a && a.title && a.title.text) || '').join(' '),
  points: el.data.reduce((n, t) => n + (t.x ? t.x.length : 0), 0)}))"""


def inside(page, app_url, view, epochs=3):
    """The page with the Inside SGD panel open, after a short Train, with `view` opened by one click."""
    app = open_app(page, f"{app_url}/?panel=inside")
    set_epochs(app, epochs)
    click(app, button(app, "Train"))
    click(app, app.locator(PANEL).get_by_role("radio", name=view, exact=True))
    expect(app.locator(PANEL).get_by_text(f"Using run 1 at epoch {epochs}.")).to_be_visible()
    return app


def charts(page, at_least=1):
    """The panel's charts once Plotly has drawn at least `at_least` of them, and each it shows: its script loads when
    a page shows its first chart (the page above shows none), and it draws a moment after the script run ends."""
    page.wait_for_function("""n => {
      const boxes = [...document.querySelectorAll('.st-key-inside-panel [data-testid=stPlotlyChart]')];
      const drawn = box => { const el = box.querySelector('.js-plotly-plot'); return el && el.layout && el.data; };
      return boxes.length >= n && boxes.every(drawn); }""", arg=at_least)
    page.wait_for_timeout(300)
    return page.evaluate(TITLES)


def compared(page):
    """The runs the Compare runs chart overlays, by the start of their legend labels."""
    names = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(el => "
                          "el.data.filter(t => t.showlegend !== false).map(t => t.name || ''))")
    return [n.split(":")[0] for n in names if n.startswith("Run ")]


def test_dragging_the_threshold_recomputes_accuracy(page, app_url, data):
    app = inside(page, app_url, "Threshold and sigmoid")
    (record,) = [r for r in train(TrainConfig(epochs=3), data)][-1:]
    assert f"Accuracy at this threshold: {record.valid_acc:.2%}" in [c["title"] for c in charts(app)]
    threshold = app.locator(PANEL).locator(".st-key-threshold")  # not the epoch slider above it
    thumb = threshold.locator("input[type=range]").first
    box = threshold.get_by_test_id("stSlider").first.bounding_box()
    handle = thumb.locator("xpath=..").bounding_box()
    since = script_runs(app)
    app.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    app.mouse.down()
    app.mouse.move(box["x"] + box["width"] * 0.8, handle["y"] + handle["height"] / 2, steps=10)
    app.mouse.up()
    wait_ready(app, since=since)
    t = float(thumb.get_attribute("aria-valuetext"))
    assert t > 5, f"the drag left the threshold at {t}"
    expected = threshold_view(record.params, data, t).accuracy
    assert f"Accuracy at this threshold: {expected:.2%}" in [c["title"] for c in charts(app)]
    click(app, app.locator(PANEL).get_by_text("After the sigmoid"))
    assert any("sigmoid(output)" in c["x"] for c in charts(app))
    assert errors_on_page(app) == []


def test_stepping_batches_and_clicking_a_ledger_row(page, app_url):
    app = inside(page, app_url, "One SGD step")
    panel = app.locator(PANEL)
    expect(panel.get_by_text("Epoch 4, batch 1 of 49")).to_be_visible()
    for _ in range(2):
        click(app, panel.get_by_role("button", name="Next batch"))
    expect(panel.get_by_text("Epoch 4, batch 3 of 49")).to_be_visible()
    grid = panel.get_by_test_id("stDataFrame").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    row_height = 35 if box["height"] < 400 else 36
    for row in (2, 5):  # the checkbox column of the third, then the sixth row
        since = script_runs(app)
        app.mouse.click(box["x"] + 15, box["y"] + row_height * (row + 1.5))
        wait_ready(app, since=since)
        expect(panel.get_by_text(re.compile(rf"Example #{row + 1}'s push"))).to_be_visible()
    click(app, panel.get_by_text("Forget"))
    expect(panel.get_by_text("keeps every batch's gradient")).to_be_visible()
    assert errors_on_page(app) == []


def test_clicking_a_weight_sweeps_it(page, app_url):
    app = inside(page, app_url, "Why not accuracy?")
    picker = app.locator(PANEL).locator(".js-plotly-plot").first
    picker.scroll_into_view_if_needed()
    image = picker.locator(".heatmaplayer image").first.bounding_box()  # the 28x28 weights as drawn
    x, y = image["x"] + image["width"] * 9.5 / 28, image["y"] + image["height"] * 18.5 / 28
    app.mouse.move(x, y)
    expect(picker.locator(".hoverlayer")).to_contain_text("row 18, col 9")
    since = script_runs(app)
    app.mouse.click(x, y)
    wait_ready(app, since=since)
    assert any("weight of row 18, col 9" in c["x"] for c in charts(app))
    assert app.locator(PANEL).get_by_label("Row").input_value() == "18"
    expect(app.locator(PANEL).get_by_text(re.compile(r"stays exactly the same between \d+%"))).to_be_visible()
    assert errors_on_page(app) == []


def test_the_finder_warns_and_one_click_uses_its_suggestion(page, app_url):
    app = inside(page, app_url, "LR finder")
    panel = app.locator(PANEL)
    expect(panel.get_by_text("The lesson's batches are not shuffled")).to_be_visible()
    click(app, panel.get_by_role("button", name="Run the finder"))
    (finder,) = [c for c in charts(app) if c["title"].startswith("Learning-rate finder")]
    assert "stopped early" in finder["title"]
    use = panel.get_by_role("button", name=re.compile(r"^Use ")).first
    value = use.inner_text().removeprefix("Use ").strip()
    click(app, use)
    assert float(slider_text(app, "Learning rate")) == float(value)
    assert errors_on_page(app) == []


def test_the_sweep_trains_every_rate_and_opens_them_in_compare(page, app_url):
    app = inside(page, app_url, "LR sweep", epochs=2)
    click(app, app.locator(PANEL).get_by_role("button", name="Train at all 12 learning rates"), timeout=180_000)
    (sweep,) = [c for c in charts(app) if c["title"] == "Final validation accuracy at each learning rate"]
    assert sweep["points"] == 12
    chart = app.locator(PANEL).locator(".js-plotly-plot").last  # a click on lr 0.01's point opens it and the best
    chart.scroll_into_view_if_needed()
    best = chart.evaluate("el => { const t = el.data[0]; return t.customdata[t.y.indexOf(Math.max(...t.y))]; }")
    point = chart.locator(".scatterlayer .trace").first.locator(".point").nth(2).bounding_box()
    since = script_runs(app)
    app.mouse.click(point["x"] + point["width"] / 2, point["y"] + point["height"] / 2)
    wait_ready(app, since=since)
    expect(app.get_by_role("radio", name="Compare runs")).to_have_attribute("aria-checked", "true")
    app.wait_for_timeout(500)
    assert set(compared(app)) == {"Run 4", f"Run {best}"}, compared(app)  # lr 0.01 is run 4 (run 1 trained first)
    click(app, app.get_by_role("radio", name="Inside SGD"))
    click(app, app.locator(PANEL).get_by_role("radio", name="LR sweep"))
    click(app, app.get_by_role("button", name="Open these runs in Compare runs"))
    expect(app.get_by_role("radio", name="Compare runs")).to_have_attribute("aria-checked", "true")
    app.wait_for_timeout(500)
    assert len(compared(app)) == 12, compared(app)
    assert errors_on_page(app) == []


def test_the_pages_own_views_load_no_torch_in_its_server(page, app_server):
    """The threshold and the SGD step are computed in the page's process, in NumPy: its server, which had never
    loaded torch, still has none of it in memory (the other views compute in the workers)."""
    app = inside(page, app_server.url, "Threshold and sigmoid")
    charts(app)
    click(app, app.locator(PANEL).get_by_role("radio", name="One SGD step", exact=True))
    expect(app.locator(PANEL).get_by_text("Epoch 4, batch 1 of 49")).to_be_visible()
    click(app, app.locator(PANEL).get_by_role("button", name="Next batch"))
    expect(app.locator(PANEL).get_by_text("Epoch 4, batch 2 of 49")).to_be_visible()
    assert errors_on_page(app) == []
    assert "libtorch" not in open(f"/proc/{app_server.pid}/maps").read()
