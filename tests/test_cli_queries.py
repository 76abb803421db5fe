"""``suggest`` beyond a video: a temp track, stills and a mood board, ``--like``/``--dislike``, dispatched by the
inputs' content (generated media, the real random-init networks)."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from emomv_desktop import cli
from emomv_desktop.engine.service import STILLS_NOTE

from .cli_helpers import CLIPS, run


def suggest(indexed, capsys, *args):
    return run(["--library", indexed[0], "suggest", *args, "--clips", CLIPS, "--device", "cpu"], capsys)


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    folder = tmp_path_factory.mktemp("board")
    rng = np.random.default_rng(3)
    cv2.imwrite(str(folder / "1.png"), rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "2.jpg"), np.full((90, 90, 3), (20, 200, 90), np.uint8))
    return folder


def test_an_audio_file_is_a_temp_track_never_suggested_back(indexed, random_backbones, model_file, capsys,
                                                             tmp_path):
    reference = tmp_path / "temp-track.dat"  # named like nothing: the content says audio
    shutil.copyfile(indexed[1] / "song2.ogg", reference)
    code, out, err = suggest(indexed, capsys, reference, "--json", "--sound-weight", "0.3")
    assert code == 0, err
    document = json.loads(out)
    assert document["query"] == "temp_track" and document["video"] is None
    assert document["reference"]["path"] == str(reference) and document["reference"]["sound_weight"] == 0.3
    found = [s["path"].rsplit("/", 1)[-1] for s in document["suggestions"]]
    assert len(found) == 4 and "song2.ogg" not in found  # the reference's library copy is excluded
    assert all(isinstance(s["track_id"], int) for s in document["suggestions"])

    liked, disliked = document["suggestions"][-1]["track_id"], document["suggestions"][0]["track_id"]
    code, out, err = suggest(indexed, capsys, reference, "--json", "--sound-weight", "0.3",
                             "--like", liked, "--dislike", disliked)
    assert code == 0, err
    rated = json.loads(out)
    assert rated["feedback"] == {"liked": [liked], "disliked": [disliked]}
    before = {s["track_id"]: s["score"] for s in document["suggestions"]}
    after = {s["track_id"]: s["score"] for s in rated["suggestions"]}
    assert before.keys() == after.keys() and before != after  # the query moved; the same tracks are ranked

    code, out, _ = suggest(indexed, capsys, reference)
    assert code == 0 and out.startswith(f"temp track {reference}") and "sound weight 0.5" in out


def test_images_and_a_folder_of_them_are_one_still_query(indexed, random_backbones, model_file, capsys,
                                                         board):
    code, out, err = suggest(indexed, capsys, board, "--json", "--top", "2")
    assert code == 0, err
    document = json.loads(out)
    assert document["query"] == "stills" and document["reference"]["note"] == STILLS_NOTE
    assert [p.rsplit("/", 1)[-1] for p in document["reference"]["images"]] == ["1.png", "2.jpg"]
    assert len(document["suggestions"]) == 2 and f"note: {STILLS_NOTE}" in err
    code, out, err = suggest(indexed, capsys, board / "2.jpg", board / "1.png")
    assert code == 0, err
    assert out.startswith("2 stills  emotion: ")


def test_mixed_or_misused_inputs_are_one_line_errors(indexed, random_backbones, model_file, capsys, board):
    video = indexed[2]
    code, _, err = suggest(indexed, capsys, board / "1.png", video)
    assert code == cli.EXIT_ERROR and "several inputs are a mood board" in err and err.count("\n") == 1
    code, _, err = suggest(indexed, capsys, board, "--sound-weight", "0.2")
    assert code == cli.EXIT_ERROR and "--sound-weight is for a temp track" in err
    code, _, err = suggest(indexed, capsys, indexed[1] / "song1.flac", "--min-duration", "video")
    assert code == cli.EXIT_ERROR and "needs a video" in err
    code, _, err = suggest(indexed, capsys, indexed[1] / "song1.flac", "--like", 1, "--dislike", 1)
    assert code == cli.EXIT_ERROR and "both liked and disliked" in err
