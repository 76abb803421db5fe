"""End to end: ``emomv-train reproduce`` on EmoMV-C (1 seed, few epochs) and ``evaluate`` on its saved models."""

from __future__ import annotations

import json

import pytest
import torch

from emomv_desktop.engine.model import load_model
from training.cli import main
from training.data import load_pairs, load_retrieval
from training.experiments import retrieval_similarity
from training.metrics import retrieval_metrics
from training.report import Record, comparison_markdown

RECORD_KEYS = ["dataset", "table", "task", "variant", "model", "direction", "metric", "mean", "std", "min", "max",
               "seeds", "paper"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def reproduction(emomv_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    threads = torch.get_num_threads()
    code = main(["reproduce", "--data", str(emomv_data), "--datasets", "A,C", "--seeds", "1",
                 "--max-epochs", "8", "--out", str(out), "--save-models"])
    assert code == 0
    assert torch.get_num_threads() == threads  # main() restores the caller's setting
    return out


def test_reproduce_writes_every_table_with_floors(reproduction):
    records = json.loads((reproduction / "results.json").read_text())
    assert records and all(list(r) == RECORD_KEYS for r in records)
    assert {r["dataset"] for r in records} == {"C"}
    models_by_table = {}
    for r in records:
        models_by_table.setdefault(r["table"], set()).add(r["model"])
    assert sorted(models_by_table, key=int) == ["8", "9", "10", "11", "12", "13"]
    for table, models in models_by_table.items():
        floor = "always matched" if table in ("8", "9") else "constant ranking"
        assert {"ours", "baseline", floor} <= models, table

    def one(**match):
        found = [r for r in records if all(r[k] == v for k, v in match.items())]
        assert len(found) == 1, match
        return found[0]

    ours = one(table="10", model="ours", metric="mAP")
    assert ours["paper"] == 41.64 and ours["seeds"] == 1 and ours["direction"] == "v2m"
    assert ours["min"] == ours["mean"] == ours["max"] and ours["std"] == 0.0
    assert one(table="11", model="constant ranking", metric="mAP")["mean"] == pytest.approx(45.2139, abs=1e-3)
    assert one(table="8", model="always matched", metric="f1")["mean"] == pytest.approx(2 / 3)
    assert one(table="8", model="ours", task="emotion", metric="music_emotion_accuracy")["paper"] == 50.00
    assert one(table="12", model="ours", metric="cb_mAP")["paper"] is None


def test_reproduce_report_params_plots_and_models(reproduction):
    report = (reproduction / "report.md").read_text()
    for table in range(8, 14):
        assert f"### Table {table}:" in report
    assert "## Skipped" in report and "SlowFast_DS1_TRAIN_MATCH_MISMATCH.h5" in report
    assert "paper vs our seed range" in report and " ± " in report
    params = json.loads((reproduction / "params.json").read_text())
    assert params["seeds"] == [1] and params["protocol"] == "paper" and params["train"]["max_epochs"] == 8
    assert params["train"]["weight_decay"] == 0.1 and "A" in params["skipped"]
    for name in ("roc_C_multi", "roc_C_single", "pr_C_multi", "pr_C_single", "confusion_C_multi"):
        assert (reproduction / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
    assert (reproduction / "models" / "C-retrieval-multi-seed1.card.json").is_file()


def test_evaluate_a_saved_model_matches_in_process_metrics(reproduction, emomv_data, capsys):
    model_file = reproduction / "models" / "C-retrieval-multi-seed1.pt"
    capsys.readouterr()
    assert main(["evaluate", "--model", str(model_file), "--data", str(emomv_data), "--dataset", "C",
                 "--split", "retrieval", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    records = json.loads((reproduction / "results.json").read_text())
    in_reproduce = {(r["direction"], r["metric"]): r["mean"] for r in records if r["model"] == "ours" and r["table"]
                    in ("10", "11")}
    for direction in ("v2m", "m2v"):
        for metric, value in result["directions"][direction].items():
            assert value == pytest.approx(in_reproduce[direction, metric], abs=1e-9), (direction, metric)
    assert result["floors"]["v2m"]["constant ranking"]["mAP"] == pytest.approx(45.2139, abs=1e-3)
    # and against a fresh in-process computation from the loaded model
    model, _ = load_model(model_file)
    items = load_retrieval(emomv_data, "C")
    direct = retrieval_metrics(retrieval_similarity(model, items).T, items.labels, items.labels)
    assert result["directions"]["m2v"]["mAP"] == pytest.approx(100 * direct["mAP"], abs=1e-9)


def test_evaluate_on_a_pair_split_uses_each_sides_label(reproduction, emomv_data, capsys):
    model_file = reproduction / "models" / "C-retrieval-single-seed1.pt"
    capsys.readouterr()
    assert main(["evaluate", "--model", str(model_file), "--data", str(emomv_data), "--dataset", "C",
                 "--split", "val"]) == 0
    text = capsys.readouterr().out
    assert "96 items" in text and "v2m constant ranking" in text
    model, _ = load_model(model_file)
    val = load_pairs(emomv_data, "C", "val")
    direct = retrieval_metrics(retrieval_similarity(model, val), val.video_emotion, val.music_emotion)
    assert f"{100 * direct['mAP']:9.2f}" in text


def test_evaluate_known_errors_are_one_line_exit_1(reproduction, emomv_data, tmp_path, capsys):
    capsys.readouterr()
    assert main(["evaluate", "--model", str(tmp_path / "none.pt"), "--data", str(emomv_data), "--dataset", "C"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.pt" in err[0] and "not found" in err[0]
    model_file = reproduction / "models" / "C-retrieval-multi-seed1.pt"
    assert main(["evaluate", "--model", str(model_file), "--data", str(emomv_data), "--dataset", "B",
                 "--split", "train"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "SlowFast_DS2_TRAIN_MATCH_MISMATCH.h5" in err[0]


def test_protocols_side_by_side_table(reproduction):
    records = [Record(**r) for r in json.loads((reproduction / "results.json").read_text())]
    lines = comparison_markdown({"paper": records, "clean": records})
    assert sum(line.startswith("#### EmoMV-C, table") for line in lines) == 6
    table10 = lines[lines.index("#### EmoMV-C, table 10: retrieval video → music, multi-task"):]
    assert table10[2].split(" | ")[1:] == ["top1 (%)", "top3 (%)", "top5 (%)", "mAP (%)", "cb_mAP (%) |"]
    assert table10[4] == "| ours: paper | 33.33 | 63.54 | 75.00 | 41.64 | — |"
    assert table10[5].startswith("| ours: `paper` protocol | ") and table10[6].startswith("| ours: `clean` protocol")
    assert any(line.startswith("| constant ranking | 34.38 | 34.38 | 34.38 | 45.21 | 30.51 |") for line in table10)
