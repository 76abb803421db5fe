"""Loaders against the real EmoMV files, and the layouts and errors real users will meet."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from emomv_desktop.engine.emotions import Emotion
from training.data import (
    BOTH, DataFormatError, MissingDataError, MissingExtraError, Modality, dataset_spec, grouped_holdout, load_pairs,
    load_retrieval, pair_groups,
)
from training.experiments import Protocol, load_bundle, stopping_split

PROJECT = Path(__file__).resolve().parents[2]

# the release's pair counts: total = matched / mismatched
COUNTS = {("A", "train"): (4110, 2208), ("A", "val"): (556, 310), ("B", "train"): (496, 248),
          ("B", "val"): (120, 60), ("C", "train"): (360, 180), ("C", "val"): (96, 48)}
VIDEO_PRESENT = {("B", "val"), ("C", "train"), ("C", "val")}


@pytest.mark.parametrize("dataset,split", sorted(COUNTS))
def test_pair_splits_row_counts_and_invariants(emomv_data, dataset, split):
    modalities = BOTH if (dataset, split) in VIDEO_PRESENT else (Modality.MUSIC,)
    pairs = load_pairs(emomv_data, dataset, split, modalities)
    total, matched = COUNTS[dataset, split]
    assert len(pairs) == total and int(pairs.match.sum()) == matched
    assert pairs.music.shape == (total, 128) and pairs.music.dtype == torch.float32
    assert (pairs.video is None) == ((dataset, split) not in VIDEO_PRESENT)
    same = pairs.video_emotion == pairs.music_emotion
    assert torch.equal(same, pairs.match.bool())
    assert torch.all(pairs.match[:matched] == 1) and torch.all(pairs.match[matched:] == 0)


def test_label_mapping_title_case_and_integer_columns(emomv_data):
    c_train = load_pairs(emomv_data, "C", "train", modalities=())
    # DS3 spells labels in Title case: "...,rp1lHx8vCgc_02,1,Exciting,Exciting,0,0" and the last row
    # "...,3pYNd0MSVXs_02_PAIR_ekZTW2r4vb4_07,0,Relax,Tense,4,2"
    assert c_train.ids[0] == "rp1lHx8vCgc_02" and c_train.video_emotion[0] == Emotion.EXCITING
    assert c_train.ids[-1] == "3pYNd0MSVXs_02_PAIR_ekZTW2r4vb4_07"
    assert (c_train.video_emotion[-1], c_train.music_emotion[-1], c_train.match[-1]) == (
        Emotion.RELAXING, Emotion.TENSE, 0)
    # DS2 retrieval: 4 columns, the label is the integer column ("...,0q21VWmQ9lI,relax,4")
    b = load_retrieval(emomv_data, "B")
    assert b.labels[b.ids.index("0q21VWmQ9lI")] == Emotion.RELAXING
    assert torch.bincount(b.labels).tolist() == [44, 12, 14, 24, 26]
    c = load_retrieval(emomv_data, "C")
    assert torch.bincount(c.labels).tolist() == [33, 7, 11, 22, 23]
    assert c.video.shape == (96, 2304) and c.music.shape == (96, 128)


def test_feature_rows_follow_csv_rows(emomv_data):
    """The retrieval set's first half is feature-identical to the matched val rows (a property of the release)."""
    val, retrieval = load_pairs(emomv_data, "C", "val"), load_retrieval(emomv_data, "C")
    assert val.ids[:48] == retrieval.ids[:48]
    assert torch.equal(val.video[:48], retrieval.video[:48]) and torch.equal(val.music[:48], retrieval.music[:48])
    assert torch.equal(val.video_emotion[:48], retrieval.labels[:48])


def test_missing_files_name_the_file_and_the_full_collection(emomv_data, tmp_path):
    with pytest.raises(MissingDataError) as missing_video:
        load_pairs(emomv_data, "B", "train")
    message = str(missing_video.value)
    assert "SlowFast_DS2_TRAIN_MATCH_MISMATCH.h5" in message and "10.5281/zenodo.7011072" in message
    assert "\n" not in message
    with pytest.raises(MissingDataError, match="DS1_from_MVED_test_set_5_classes_for_retrieval.csv"):
        load_retrieval(emomv_data, "A")
    with pytest.raises(MissingDataError, match="DS3_TRAIN_MATCH_MISMATCH_labels.csv"):
        load_pairs(tmp_path, "C", "train")
    with pytest.raises(MissingDataError, match="SlowFast_DS1_TRAIN_MATCH_MISMATCH.h5"):
        load_bundle(emomv_data, dataset_spec("A"))


def _copy_split(source: Path, target: Path, split: str) -> Path:
    """A folder holding only one split's files of EmoMV-C (copies, so the test cannot touch the real data)."""
    files = [f"annotation/DS3_{split}_MATCH_MISMATCH_labels.csv",
             f"extracted_features/SlowFast_DS3_{split}_MATCH_MISMATCH.h5",
             f"extracted_features/VGGish_DS3_{split}_MATCH_MISMATCH.h5"]
    for name in files:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / "DS3_EmoMV_C" / name, target / name)
    return target


def test_a_folder_holding_one_split_only(emomv_data, tmp_path):
    folder = _copy_split(emomv_data, tmp_path / "DS3_EmoMV_C", "VAL")
    for data in (tmp_path, folder):  # the collection or the dataset folder itself
        val = load_pairs(data, "C", "val")
        assert len(val) == 96 and val.video.shape == (96, 2304)
        with pytest.raises(MissingDataError, match="DS3_TRAIN"):
            load_pairs(data, "C", "train")


def test_cli_reports_missing_data_in_one_line_exit_1(emomv_data):
    env = dict(os.environ, PYTHONPATH=str(PROJECT))
    done = subprocess.run([sys.executable, "-m", "training", "reproduce", "--data", str(emomv_data),
                           "--datasets", "B", "--seeds", "1"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "SlowFast_DS2_TRAIN_MATCH_MISMATCH.h5" in lines[0] and "zenodo" in lines[0].lower()


def _write_h5(path: Path, key: str, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset(key, data=array)


def test_mved_three_column_retrieval_layout(tmp_path):
    """EmoMV-A's retrieval set (full collection): folder, file name, integer label; VGGish stored as float64."""
    root = tmp_path / "DS1_EmoMV_A" / "for_retrieval"
    root.mkdir(parents=True)
    rows = ["Dataset1/for_retrieval/TEST_MVED/Excited/video,ORG_EXT(154).mp4,0",
            "Dataset1/for_retrieval/TEST_MVED/Fear/video,98.mp4,1",
            "Dataset1/for_retrieval/TEST_MVED/Relaxation/video,TEST_RELX(1)-2-of-7.mp4,4"]
    (root / "DS1_from_MVED_test_set_5_classes_for_retrieval.csv").write_text("\n".join(rows) + "\n")
    _write_h5(root / "VGGish_DS1_from_MVED_test_set_5_classes_for_retrieval.h5", "data", np.ones((3, 128)))
    _write_h5(root / "SlowFast_DS1_from_MVED_test_set_5_classes_for_retrieval.h5", "default",
              np.zeros((3, 2304), dtype=np.float32))
    retrieval = load_retrieval(tmp_path, "A")
    assert retrieval.labels.tolist() == [Emotion.EXCITING, Emotion.FEARFUL, Emotion.RELAXING]
    assert retrieval.ids[1] == "98.mp4" and retrieval.music.dtype == torch.float32


def _write_pairs(folder: Path, rows: list[str], n_features: int) -> None:
    (folder / "annotation").mkdir(parents=True)
    (folder / "annotation" / "DS3_VAL_MATCH_MISMATCH_labels.csv").write_text("\n".join(rows) + "\n")
    _write_h5(folder / "extracted_features" / "VGGish_DS3_VAL_MATCH_MISMATCH.h5", "data",
              np.zeros((n_features, 128), dtype=np.float32))


def test_broken_invariants_are_clear_errors(tmp_path):
    bad_match = ["Dataset3/DS3_val_match/,abc_01,1,Exciting,Sad,0,3"]
    _write_pairs(tmp_path / "one" / "DS3_EmoMV_C", bad_match, 1)
    with pytest.raises(DataFormatError, match="row 1: a matched pair must have equal"):
        load_pairs(tmp_path / "one", "C", "val", (Modality.MUSIC,))
    rows = ["Dataset3/DS3_val_match/,abc_01,1,Exciting,Exciting,0,0", "Dataset3/DS3_val_match/,abc_02,1,Sad,Sad,3,3"]
    _write_pairs(tmp_path / "two" / "DS3_EmoMV_C", rows, 3)
    with pytest.raises(DataFormatError, match="3 rows but DS3_VAL_MATCH_MISMATCH_labels.csv has 2"):
        load_pairs(tmp_path / "two", "C", "val", (Modality.MUSIC,))
    disagreeing = ["Dataset3/DS3_val_match/,abc_01,1,Exciting,Sad,0,0"]
    _write_pairs(tmp_path / "three" / "DS3_EmoMV_C", disagreeing, 1)
    with pytest.raises(DataFormatError, match="row 1: bad emotion label"):
        load_pairs(tmp_path / "three", "C", "val", (Modality.MUSIC,))


def test_without_h5py_the_loader_names_the_train_extra(tmp_path, monkeypatch):
    rows = ["Dataset3/DS3_val_match/,abc_01,1,Exciting,Exciting,0,0"]
    _write_pairs(tmp_path / "DS3_EmoMV_C", rows, 1)
    monkeypatch.setitem(sys.modules, "h5py", None)  # what an install without the train extra sees
    with pytest.raises(MissingExtraError, match=r"h5py, part of the train extra: pip install 'emomv-desktop\[train\]'"):
        load_pairs(tmp_path, "C", "val", (Modality.MUSIC,))


def test_groups_join_segments_of_one_source_video():
    source_of = dataset_spec("C").source_of
    ids = ["abc_def_ghi_03", "abc_def_ghi_03_PAIR_xyz_01", "xyz_02", "other_00", "q_1_PAIR_r_2", "r_5"]
    groups = pair_groups(ids, source_of)
    assert groups[0] == groups[1] == groups[2]  # abc_def_ghi (YouTube ids may hold "_") linked to xyz
    assert groups[3] != groups[0] and groups[4] == groups[5] != groups[3]
    assert dataset_spec("A").source_of("relax_TEST_MV(5)-2-of-8") == "TEST_MV(5)"


def test_clean_holdout_shares_no_source_video_with_the_fit_rows(emomv_data):
    bundle = load_bundle(emomv_data, dataset_spec("C"))
    fit, held = stopping_split(bundle, Protocol.CLEAN, seed=3, holdout=0.2)
    assert len(fit) + len(held) == 360 and 0.2 <= len(held) / 360 < 0.3

    def sources(split):  # YouTube ids, parsed independently of the loader
        return {re.sub(r"_\d+$", "", seg) for pair in split.ids for seg in pair.split("_PAIR_")}

    assert not sources(fit) & sources(held)
    assert not sources(bundle.train) & sources(bundle.val)  # DS3 train and val share no source (as released)
    paper_fit, paper_stop = stopping_split(bundle, Protocol.PAPER, seed=3, holdout=0.2)
    assert paper_fit is bundle.train and paper_stop is bundle.val
    # each seed draws its own hold-out
    assert not np.array_equal(grouped_holdout(bundle.train.groups, 0.2, 3)[1],
                              grouped_holdout(bundle.train.groups, 0.2, 4)[1])
