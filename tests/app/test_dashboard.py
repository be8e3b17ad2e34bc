"""How a training loop draws its run (digitviz/ui/dashboard.py's Redraws), read back as the player keeps it."""
import numpy as np

from digitviz import TrainConfig, train
from digitviz.player import decode, run_payload
from digitviz.runs import start_run
from digitviz.ui import dashboard


def test_redraws_send_the_run_whole_then_parts_that_miss_no_epoch(data, monkeypatch):
    """The first redraw sends the whole run, each later one the maps since the last. A record another thread adds
    while a redraw is drawing is not in that redraw: the next part must still bring its map."""
    config = TrainConfig(epochs=12, seed=5)
    records = list(train(config, data))
    run = start_run([], config, (3, 7))
    run.status, sent = "running", []

    def draw(run, view, baseline, after=None):
        sent.append(decode(run_payload(run, 0.95, after=after)))
        if len(run.records) < len(records):  # the worker's next record lands meanwhile
            run.records.append(records[len(run.records)])

    monkeypatch.setattr(dashboard, "draw", draw)
    redraws = dashboard.Redraws(view=None, baseline=None)
    for count in (1, 3, 4, 8, 11, 12):  # the records in by each redraw; one more lands during each
        run.records[:] = records[:max(count, len(run.records))]
        redraws(run)
    assert [meta["part"] for meta, _ in sent] == [None, 1, 3, 4, 8, 11]

    kept = {}  # as the player keeps maps: by epoch, a part's added to what it has
    for meta, arrays in sent:
        kept.update(zip(meta["map"]["epochs"], arrays["map_codes"]))
    whole_meta, whole = decode(run_payload(run, 0.95))
    assert sorted(kept) == whole_meta["map"]["epochs"] == list(range(1, 13))
    for epoch, codes in zip(whole_meta["map"]["epochs"], whole["map_codes"]):
        assert np.array_equal(kept[epoch], codes), epoch
