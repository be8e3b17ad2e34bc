"""`python -m digitviz` as a user types it."""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from digitviz.cli import main


@pytest.mark.slow
def test_train_prints_the_lessons_table_from_a_real_process():
    out = subprocess.run([sys.executable, "-m", "digitviz", "train", "--epochs", "30", "--every", "10"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    lines = [line for line in out.splitlines() if line.startswith("Accuracy after")]
    assert [line.split(":")[0] for line in lines] == [f"Accuracy after {n} epochs" for n in (10, 20, 30)]
    assert 0.96 < float(lines[-1].split(": ")[1]) < 1.0
    assert "mean-image baseline 0.9514" in out


def test_baseline_prints_the_lessons_numbers(capsys):
    assert main(["baseline"]) == 0
    out = capsys.readouterr().out
    assert "L1 distance: 3s 0.9168  7s 0.9854  overall 0.9514" in out
    assert "L2 distance" in out


def test_csv_and_saved_parameters(tmp_path, capsys):
    rows_path, saved = tmp_path / "run.csv", tmp_path / "weights.npz"
    args = ["train", "--epochs", "5", "--lr", "0.5", "--shuffle", "--csv", str(rows_path), "--save", str(saved)]
    assert main(args) == 0
    rows = list(csv.DictReader(rows_path.open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5]
    assert {"train_loss", "valid_loss", "valid_acc", "seconds", "diverged"} <= set(rows[0])
    with np.load(saved) as z:
        assert z["weights"].shape == (784, 1) and z["bias"].shape == (1,)
        assert json.loads(str(z["config"]))["lr"] == 0.5 and list(z["digits"]) == [3, 7]


def test_diverging_run_says_so_and_exits_cleanly(capsys):
    assert main(["train", "--lr", "1000", "--epochs", "20"]) == 0
    out = capsys.readouterr().out
    assert "The run diverged at epoch 2" in out and "Try the lesson's 1" in out


@pytest.mark.parametrize("args, words", [
    (["--lr", "0"], "lr must be a finite number > 0, got 0.0"),
    (["--epochs", "20000"], "epochs must be a whole number from 1 to 10,000, got 20000"),
    (["--batch-size", "100000"], "batch_size must be from 1 to 12,396"),
    (["--init-std", "-1"], "init_std must be a finite number >= 0"),
    (["--pair", "3", "3"], "pair must be two different digits"),
])
def test_bad_arguments_get_the_configs_message(args, words, capsys):
    assert main(["train", *args]) == 2
    assert words in capsys.readouterr().err


def test_argparse_rejects_unknown_choices(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--loss", "mse"])
    assert e.value.code == 2 and "invalid choice: 'mse'" in capsys.readouterr().err


def test_missing_data_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["baseline", "--source", str(tmp_path / "nowhere")]) == 1
    assert "nowhere/train/3: no PNG images" in capsys.readouterr().err


@pytest.mark.slow
def test_all_ten_digits(capsys):
    assert main(["train", "--all-digits", "--model", "softmax", "--loss", "cross_entropy", "--shuffle",
                 "--epochs", "2", "--every", "1"]) == 0
    out = capsys.readouterr().out
    assert "Accuracy after 2 epochs: 0.8" in out or "Accuracy after 2 epochs: 0.9" in out
    assert main(["baseline", "--all-digits"]) == 0
    assert "0s 0." in capsys.readouterr().out
