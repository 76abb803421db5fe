"""The embedding cache persisted beside the library: equal to a fresh build, never stale, damage-proof."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from emomv_desktop.engine import cache as cache_format
from emomv_desktop.engine import ranking
from emomv_desktop.engine.library import Library
from emomv_desktop.engine.model import ModelConfig, RetrievalModel
from emomv_desktop.engine.protocol import MUSIC_BACKBONE
from emomv_desktop.engine.ranking import EmbeddingCache, RankFilter, Ranker, cache_file, refresh_cache

from .helpers import make_features
from .helpers import random_query as query

FRAMES = (3, 31, 36, 47, 80, 12, 64, 33, 100, 40)
ODD_NAME = os.fsdecode(b"caf\xe9 \xff.flac")  # not valid UTF-8: must survive the file


@pytest.fixture
def model():
    torch.manual_seed(0)
    return RetrievalModel(ModelConfig(agreement_weight=0.5)).eval()  # blended: 69-d vectors padded to 72


def store(library: Library, folder: Path, name: str, frames: int, seed: int, **tags) -> None:
    path = folder / name
    features = make_features(path, frames, seed=seed, **tags)
    features.frame_features[:] += np.float32(seed % 4) * 0.3
    library.store_features(path, features, MUSIC_BACKBONE, size=frames, mtime_ns=seed, folder=folder)


@pytest.fixture
def lib(tmp_path):
    with Library(tmp_path / "lib.sqlite3", feature_dtype="float32") as library:
        folder = library.add_folder(tmp_path)
        for i, frames in enumerate(FRAMES):
            store(library, folder, f"artist{i % 3}/song{i}.flac", frames, i, title=f"Title {i}")
        store(library, folder, ODD_NAME, 20, 50)  # and no tags: None titles
        yield library


@pytest.fixture
def builds(monkeypatch):
    """The number of times an embedding cache is built from the library (not loaded from its file)."""
    count = []
    real = EmbeddingCache.build.__func__

    def counting(cls, *args, **kwargs):
        count.append(1)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(EmbeddingCache, "build", classmethod(counting))
    return count


def restart() -> None:
    """What a new process sees: nothing in memory (the files stay)."""
    ranking.clear_caches()


def assert_same_cache(loaded: EmbeddingCache, built: EmbeddingCache) -> None:
    for name in ("offsets", "starts", "ends", "vectors", "emotion_logits"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(built, name), err_msg=name)
    for name in ("ids", "counts", "durations"):
        np.testing.assert_array_equal(getattr(loaded.tracks, name), getattr(built.tracks, name), err_msg=name)
    for name in ("paths", "titles", "artists", "albums"):
        assert list(getattr(loaded.tracks, name)) == list(getattr(built.tracks, name)), name
        assert [getattr(loaded.tracks, name)[i] for i in range(len(built.tracks))] == list(getattr(built.tracks, name))
    assert list(loaded.haystacks) == list(built.haystacks)
    assert (loaded.generation, loaded.score_dim, loaded.music_temperature) == (
        built.generation, built.score_dim, built.music_temperature)


def test_a_persisted_cache_equals_a_fresh_build_and_serves_the_first_query_after_a_restart(lib, model, builds):
    q = query(model)
    filters = (RankFilter(), RankFilter(text="title 1"), RankFilter(min_duration=40.0))
    warm = [Ranker(lib, model, "m").rank(q, top=5, filters=f) for f in filters]
    assert len(builds) == 1 and cache_file(lib.path, "m", MUSIC_BACKBONE).is_file()
    restart()
    cold = [Ranker(lib, model, "m").rank(q, top=5, filters=f) for f in filters]
    assert len(builds) == 1  # loaded from the file, not rebuilt
    for a, b in zip(warm, cold):
        assert [(s.path, s.title, s.score, s.best_start, s.best_end, s.emotion) for s in a] == [
            (s.path, s.title, s.score, s.best_start, s.best_end, s.emotion) for s in b]
    loaded = Ranker(lib, model, "m").prepare()
    assert not loaded.vectors.flags.owndata and not loaded.vectors.flags.writeable  # a view of the mapped file
    assert Path(ODD_NAME).name in [p.name for p in loaded.tracks.paths]
    assert_same_cache(loaded, EmbeddingCache.build(lib, model, MUSIC_BACKBONE))


def test_a_changed_library_or_another_model_does_not_use_the_file(lib, model, builds):
    q = query(model)
    Ranker(lib, model, "m").rank(q)
    store(lib, lib.folders()[0], "new.wav", 33, 99)
    restart()
    assert "new.wav" in [s.path.name for s in Ranker(lib, model, "m").rank(q)]
    assert len(builds) == 2  # the file was of the previous generation
    restart()
    Ranker(lib, model, "m").rank(q)
    assert len(builds) == 2  # ... and was replaced by the current one
    Ranker(lib, model, "another-model").rank(q)
    assert len(builds) == 3
    assert cache_file(lib.path, "another-model", MUSIC_BACKBONE) != cache_file(lib.path, "m", MUSIC_BACKBONE)


def test_a_new_database_at_the_same_path_and_generation_does_not_use_the_old_file(tmp_path, lib, model, builds):
    Ranker(lib, model, "m").rank(query(model))
    generation, path = lib.generation(), lib.path
    lib.close()
    for suffix in ("", "-wal", "-shm"):  # kept aside (so the new file cannot reuse the inode)
        if Path(f"{path}{suffix}").exists():
            os.rename(f"{path}{suffix}", f"{path}{suffix}.old")
    with Library(path, feature_dtype="float32") as fresh:
        folder = fresh.add_folder(tmp_path)
        n = 0
        while fresh.generation() < generation:
            store(fresh, folder, f"other{n}.wav", 20 + n, 100 + n)
            n += 1
        assert fresh.generation() == generation
        restart()
        names = [s.path.name for s in Ranker(fresh, model, "m").rank(query(model))]
    assert len(builds) == 2 and all(name.startswith("other") for name in names)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "wrong size"])
def test_a_damaged_file_is_ignored_and_rebuilt(lib, model, builds, damage):
    q = query(model)
    expected = [(s.path, s.score) for s in Ranker(lib, model, "m").rank(q)]
    file = cache_file(lib.path, "m", MUSIC_BACKBONE)
    data = file.read_bytes()
    file.write_bytes({"truncated": data[: len(data) // 2], "garbage": os.urandom(len(data)), "empty": b"",
                      "wrong size": data + b"\0" * 64}[damage])
    restart()
    assert [(s.path, s.score) for s in Ranker(lib, model, "m").rank(q)] == expected
    assert len(builds) == 2
    restart()
    Ranker(lib, model, "m").rank(q)
    assert len(builds) == 2  # the rebuild was saved


def test_an_unwritable_cache_location_only_costs_a_rebuild(lib, model, builds):
    cache_file(lib.path, "m", MUSIC_BACKBONE).mkdir()  # os.replace onto a folder fails
    q = query(model)
    first = [s.path for s in Ranker(lib, model, "m").rank(q)]
    restart()
    assert [s.path for s in Ranker(lib, model, "m").rank(q)] == first
    assert len(builds) == 2
    assert not [p for p in lib.path.parent.iterdir() if p.name.endswith(".part")]  # no temporary file left


def test_refresh_cache_from_a_worker_thread_prepares_the_next_query(lib, model, builds):
    store(lib, lib.folders()[0], "rescanned.wav", 40, 77)  # a rescan changed the library
    done = []
    worker = threading.Thread(target=lambda: done.append(refresh_cache(lib.path, model, "m")))
    worker.start()
    worker.join(timeout=120)
    assert len(done) == 1 and done[0].generation == lib.generation() and len(builds) == 1
    assert "rescanned.wav" in [s.path.name for s in Ranker(lib, model, "m").rank(query(model))]
    assert len(builds) == 1  # in memory for this process ...
    restart()
    Ranker(lib, model, "m").rank(query(model))
    assert len(builds) == 1  # ... and on disk for the next one


def test_text_columns_round_trip_through_the_file(tmp_path):
    values = ["plain", None, "", "ünïcödé", "emoji \U0001f3b5", "lone \udcff surrogate"]
    paths = [Path("/music/a.flac"), Path(ODD_NAME), None]
    arrays = {**cache_format.text_arrays("t", values), **cache_format.text_arrays("p", paths)}
    assert cache_format.write(tmp_path / "f.cache", {"x": 1}, arrays)
    meta, read = cache_format.read(tmp_path / "f.cache")
    text = cache_format.TextColumn(read, "t", cache_format.decode_text)
    assert meta == {"x": 1}
    assert [text[i] for i in range(len(values))] == values and text[-1] == values[-1] and list(text) == values
    assert list(cache_format.TextColumn(read, "p", cache_format.decode_path)) == paths
    with pytest.raises(IndexError):
        text[len(values)]


def test_track_loudness_survives_the_file_and_reaches_the_suggestions(lib, model, builds):
    tracks = lib.tracks()
    lib.store_loudness(tracks[0].id, -9.5)
    lib.store_loudness(tracks[1].id, float("nan"))  # measured silent: no figure
    q = query(model)
    warm = {s.track_id: s.loudness for s in Ranker(lib, model, "m").rank(q)}
    restart()
    cold = {s.track_id: s.loudness for s in Ranker(lib, model, "m").rank(q)}
    assert len(builds) == 1 and cold == warm
    assert cold[tracks[0].id] == -9.5 and cold[tracks[1].id] is None and cold[tracks[2].id] is None
    np.testing.assert_array_equal(Ranker(lib, model, "m").prepare().tracks.loudnesses,
                                  EmbeddingCache.build(lib, model, MUSIC_BACKBONE).tracks.loudnesses)
