"""The service's queries beyond a video (temp track, stills, feedback, the valence-arousal map) and the input
probe that dispatches them; real decoders, the real random-init backbones, a real library."""

from __future__ import annotations

import dataclasses
import shutil

import cv2
import numpy as np
import pytest
import torch

from emomv_desktop.engine import queries, ranking, service, va
from emomv_desktop.engine.backbones import SlowFastExtractor, VGGishExtractor
from emomv_desktop.engine.errors import DecodeError, PathError
from emomv_desktop.engine.indexer import index_library
from emomv_desktop.engine.library import Library
from emomv_desktop.engine.model import ModelConfig, RetrievalModel, save_model
from emomv_desktop.engine.protocol import MUSIC_BACKBONE
from emomv_desktop.engine.queries import Feedback, QueryError

from .. import media_factory


@dataclasses.dataclass
class PrebuiltBackends(service.Backends):
    """Backends handing out backbones built once for the module (random init, ``pretrained`` False)."""

    extractors: tuple = ()

    def video_extractor(self, device):
        return self.extractors[0]

    def music_extractor(self, device):
        return self.extractors[1]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """A library folder (a reference, its byte copy, the same music re-encoded, two others), a copy of the
    reference outside it, two stills, a video and a text file."""
    root = tmp_path_factory.mktemp("service-queries")
    music = root / "music"
    music.mkdir()
    media_factory.write_audio(music / "ref.flac", seconds=40.0, seed=1)
    shutil.copyfile(music / "ref.flac", music / "copy.flac")
    media_factory.write_audio(music / "near.ogg", seconds=40.0, seed=1)
    for seed in (2, 3):
        media_factory.write_audio(music / f"other{seed}.flac", seconds=40.0, seed=seed)
    shutil.copyfile(music / "ref.flac", root / "temp.flac")
    stills = root / "board"
    stills.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.jpg"):
        cv2.imwrite(str(stills / name), rng.integers(0, 255, (180, 240, 3), dtype=np.uint8))
    (root / "notes.txt").write_text("not media\n" * 20)
    video = media_factory.write_video(root / "cut.mp4", seconds=1.0)
    return {"root": root, "music": music, "stills": stills, "video": video}


@pytest.fixture(scope="module")
def session(media, tmp_path_factory):
    torch.manual_seed(0)
    extractors = SlowFastExtractor.build(None, "cpu", clips_per_window=1), VGGishExtractor.build(None, "cpu")
    root = tmp_path_factory.mktemp("service-db")
    db, model_path = root / "lib.sqlite3", root / "model.pt"
    with Library(db) as lib:
        assert index_library(lib, extractors[1], folders=[media["music"]]).indexed == 5
        model = RetrievalModel(ModelConfig(multitask=True, agreement_weight=1.0)).eval()
        model.fit_scalers(None, torch.from_numpy(lib.window_features(MUSIC_BACKBONE).features))
    save_model(model_path, model, {"note": "random init, for tests"})
    ranking.clear_caches()
    inference = service.InferenceSession(PrebuiltBackends(device="cpu", allow_random=True, model_path=model_path,
                                                          library_path=db, extractors=extractors))
    inference.load()
    yield inference
    inference.close()


def names(analysis) -> list[str]:
    return [s.path.name for s in analysis.suggestions]


def test_inputs_are_told_apart_by_content_not_by_name(media, tmp_path):
    disguised = tmp_path / "song.ogg"
    shutil.copyfile(media["music"] / "ref.flac", disguised)  # a FLAC named otherwise
    voice_over = media_factory.write_audio_only_mp4(tmp_path / "voice-over.mp4")
    still = tmp_path / "still.mov"
    shutil.copyfile(media["stills"] / "a.png", still)
    assert service.probe_input(disguised) == "audio"
    assert service.probe_input(still) == "images"
    assert service.probe_input(media["video"]) == "video"
    assert service.probe_input(media["stills"]) == "images"
    with pytest.raises(DecodeError, match="not a video, music or image file"):
        service.probe_input(media["root"] / "notes.txt")
    with pytest.raises(DecodeError, match="no video stream"):  # sound only, named as a video: a broken video
        service.probe_input(voice_over)
    with pytest.raises(PathError, match="file not found"):
        service.probe_input(tmp_path / "absent.wav")
    with pytest.raises(QueryError, match="no images in this folder"):
        service.probe_input(media["music"])


def test_a_temp_track_file_ranks_its_copys_neighbour_first_and_never_itself(session, media):
    analysis = session.query_temp_track(media["root"] / "temp.flac", None, sound_weight=0.5)
    assert names(analysis)[0] == "near.ogg"
    assert not {"ref.flac", "copy.flac"} & set(names(analysis)) and len(analysis.suggestions) == 3
    by_id = session.query_temp_track(_track_id(session, "ref.flac"), None, sound_weight=0.5)
    assert names(by_id) == names(analysis)
    document = analysis.document()
    assert document["query"] == "temp_track" and document["video"] is None and document["feedback"] is None
    assert document["reference"]["path"].endswith("temp.flac") and document["reference"]["sound_weight"] == 0.5
    assert document["reference"]["section"] == {"start": 0.0, "end": 40.0}
    assert [r["track_id"] for r in document["suggestions"]] == [s.track_id for s in analysis.suggestions]
    assert by_id.document()["reference"]["track_id"] == _track_id(session, "ref.flac")


def _track_id(session, name: str) -> int:
    return next(t.id for t in session._library.tracks() if t.path.name == name)


def test_the_sound_weight_is_checked_and_a_new_one_reranks_as_the_engine_does(session, media):
    with pytest.raises(QueryError, match="between 0 and 1"):
        session.query_temp_track(media["root"] / "temp.flac", None, sound_weight=1.5)
    with pytest.raises(PathError, match="not a music file"):
        session.query_temp_track(media["video"], None)
    first = session.query_temp_track(_track_id(session, "ref.flac"), None, sound_weight=0.0)
    moved = session.requery(first, None, sound_weight=1.0)
    expected = queries.rank_temp_track(session._ranker, first.query, sound_weight=1.0)
    assert [(s.track_id, s.score) for s in moved.suggestions] == [(s.track_id, s.score) for s in expected]
    assert moved.sound_weight == 1.0 and moved.query is first.query


def test_feedback_reranks_from_the_original_and_an_empty_one_undoes_it(session):
    first = session.query_temp_track(_track_id(session, "other2.flac"), None, sound_weight=0.0)
    liked, disliked = first.suggestions[-1].track_id, first.suggestions[0].track_id
    feedback = Feedback().like(liked).dislike(disliked)
    rated = session.apply_feedback(first, feedback, None)
    expected = queries.rank_temp_track(session._ranker, queries.apply_feedback(session._ranker, first.query, feedback),
                                       sound_weight=0.0)
    assert [(s.track_id, s.score) for s in rated.suggestions] == [(s.track_id, s.score) for s in expected]
    assert [s.track_id for s in rated.suggestions] != [s.track_id for s in first.suggestions]
    assert rated.document()["feedback"] == {"liked": [liked], "disliked": [disliked]}
    undone = session.apply_feedback(rated, Feedback(), None)
    assert [(s.track_id, s.score) for s in undone.suggestions] == [(s.track_id, s.score) for s in first.suggestions]


def test_a_mood_board_is_one_still_query_through_slowfast_with_its_caveat(session, media, tmp_path):
    analysis = session.query_stills(media["stills"], 2)
    extractor, model = session._extractor, session._loaded.model
    expected = queries.still_query(extractor, model, [media["stills"] / "a.png", media["stills"] / "b.jpg"])
    np.testing.assert_allclose(analysis.query.score_vector, expected.score_vector, rtol=1e-5, atol=1e-6)
    assert [s.track_id for s in analysis.suggestions] == [s.track_id for s in session._ranker.rank(expected, top=2)]
    document = analysis.document()
    assert document["query"] == "stills" and document["reference"]["note"] == service.STILLS_NOTE
    assert [p.rsplit("/", 1)[-1] for p in document["reference"]["images"]] == ["a.png", "b.jpg"]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(DecodeError, match="broken.png"):
        session.query_stills([broken], 2)


def test_the_va_map_places_tracks_and_query_by_the_expectation(session):
    analysis = session.query_temp_track(_track_id(session, "ref.flac"), 2, sound_weight=0.5)
    found = session.va_map(analysis)
    cache = session._ranker.prepare()
    probs = ranking.softmax(cache.emotion_logits, cache.music_temperature)
    for row, track_id in enumerate(found.track_ids):  # independently: the mean of the track's windows' positions
        windows = probs[cache.offsets[row]: cache.offsets[row] + cache.tracks.counts[row]]
        np.testing.assert_allclose(found.positions[row], (windows @ va.RUSSELL_1980.coordinates).mean(axis=0),
                                   atol=1e-6)
        assert found.emotions[row] == windows.mean(axis=0).argmax()
    np.testing.assert_allclose(found.query, analysis.query.emotion_probs @ va.RUSSELL_1980.coordinates)
    assert found.results == tuple(s.track_id for s in analysis.suggestions) and len(found.results) == 2
    assert session.va_map().query is None
