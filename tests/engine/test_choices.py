"""engine.choices (the editor's choices per video, remembered between launches) and the service's hand-off of
them: timeline, cue sheet, and the scored-cut preview MP4 (checked by cross-correlating its audio)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import av
import numpy as np
import pytest

from emomv_desktop.engine import export, service
from emomv_desktop.engine.choices import (
    Choice, ChoicesError, VideoChoices, choices_file, load_choices, read_choices_file, save_choices,
)
from emomv_desktop.engine.errors import PathError
from emomv_desktop.engine.timeline import TimelineVideo
from tests import media_factory

RATE = export.PREVIEW_SAMPLE_RATE
AAC_FRAME = 1024  # samples per AAC frame: the tolerance "within one audio frame"


def _choice(start: float, end: float, track: str = "/music/a.flac", section: float = 10.0, **fields) -> Choice:
    return Choice(start, end, Path(track), section, section + end - start, **fields)


@pytest.fixture
def video(tmp_path) -> Path:
    return media_factory.write_cut_video(tmp_path / "cut.mp4", [4.0, 4.0, 4.0])[0]


def test_assigning_replaces_what_overlaps_and_keeps_time_order(video):
    choices = VideoChoices(TimelineVideo(video, 30.0, 12.0))
    choices = choices.assign(_choice(8, 12, "/m/c.flac")).assign(_choice(0, 4, "/m/a.flac"))
    choices = choices.assign(_choice(4, 8, "/m/b.flac"))
    assert [c.track_path.name for c in choices.choices] == ["a.flac", "b.flac", "c.flac"]
    widened = choices.assign(_choice(3, 9, "/m/wide.flac"))  # overlaps all three's middle one and both edges
    assert [c.track_path.name for c in widened.choices] == ["wide.flac"]
    assert choices.at(4, 8).track_path.name == "b.flac" and choices.at(4, 7) is None
    assert [c.cue_start for c in choices.remove(4, 8).choices] == [0, 8]
    with pytest.raises(ChoicesError, match="after the video"):
        choices.assign(_choice(10, 14))
    with pytest.raises(ChoicesError, match="overlap"):
        VideoChoices(choices.video, (_choice(0, 5), _choice(4, 8)))
    with pytest.raises(ChoicesError, match="empty"):
        _choice(5, 5)


def test_a_nudged_section_keeps_its_length():
    moved = _choice(2, 6, section=10).moved_to(11.5)
    assert (moved.section_start, moved.section_end) == (11.5, 15.5)
    assert _choice(2, 6).moved_to(-3).section_start == 0.0


def test_choices_are_remembered_per_video_until_it_changes(video, tmp_path):
    assert load_choices(video) is None
    fresh = load_choices(video, fps=30.0, duration=12.0)
    assert fresh.choices == () and fresh.video.fps == 30.0
    chosen = fresh.assign(_choice(0, 4, title="Tïtle", artist="A", album="B", track_duration=60.0))
    stored = save_choices(chosen)
    assert stored == choices_file(video) and stored.parent.name == "choices"
    assert stored.is_relative_to(Path(os.environ["EMOMV_DATA_DIR"]))
    assert load_choices(video) == chosen
    document = json.loads(stored.read_text(encoding="utf-8"))
    assert document["format"] == "emomv-desktop/choices" and document["video"]["size"] == video.stat().st_size
    # Another video, or this one re-rendered (a new modification time), has none.
    other = media_factory.write_cut_video(tmp_path / "other.mp4", [2.0, 2.0])[0]
    assert load_choices(other) is None
    os.utime(video, ns=(video.stat().st_atime_ns, video.stat().st_mtime_ns + 10**9))
    assert load_choices(video) is None


def test_bad_choices_files_are_clear_errors(tmp_path):
    damaged = tmp_path / "x.json"
    damaged.write_text("{not json", encoding="utf-8")
    with pytest.raises(ChoicesError, match="x.json: not a readable choices file"):
        read_choices_file(damaged)
    damaged.write_text(json.dumps({"format": "other"}), encoding="utf-8")
    with pytest.raises(ChoicesError, match="not a choices file"):
        read_choices_file(damaged)
    damaged.write_text(json.dumps({"format": "emomv-desktop/choices", "version": 99}), encoding="utf-8")
    with pytest.raises(ChoicesError, match="version 99"):
        read_choices_file(damaged)
    damaged.write_text(json.dumps({"format": "emomv-desktop/choices", "version": 1, "video": {}}), encoding="utf-8")
    with pytest.raises(ChoicesError, match="damaged"):
        read_choices_file(damaged)
    with pytest.raises(PathError, match="not found"):
        read_choices_file(tmp_path / "gone.json")


def test_the_service_exports_the_choices_as_a_timeline_and_a_cue_sheet(video, tmp_path):
    import opentimelineio as otio

    choices = VideoChoices(TimelineVideo(video, 30.0, 12.0), (
        _choice(0, 4, "/m/a.flac", 10.0, title="Alpha", artist="Ann"),
        _choice(4, 12, "/m/b.flac", 3.5, title="Beta", album="LP"),
    ))
    saved = save_choices(choices, tmp_path / "set.json")  # a set of choices saved anywhere exports headless too
    again = read_choices_file(saved)
    for suffix in (".otio", ".xml", ".fcpxml", ".edl"):
        out = service.export_timeline(tmp_path / f"cut{suffix}", again)
        options = {"rate": 30} if suffix == ".edl" else {}  # an EDL does not state its rate
        timeline = otio.adapters.read_from_file(str(out), **options)  # kept alive: its clips' parents
        clips = list(timeline.find_clips())
        music = sorted((c for c in clips if c.name != video.name), key=lambda c: c.range_in_parent().start_time)
        assert [round(c.source_range.start_time.to_seconds(), 3) for c in music] == [10.0, 3.5], suffix
        if suffix != ".edl":  # the EDL reader's record ins are checked as text in test_timeline
            assert [round(c.range_in_parent().start_time.to_seconds(), 3) for c in music] == [0.0, 4.0], suffix
    rows = list(csv.DictReader(service.export_cue_sheet(tmp_path / "cues.csv", again).open(encoding="utf-8-sig")))
    assert [(r["cue"], r["title"], r["in"], r["out"]) for r in rows] == [
        ("1", "Alpha", "00:00:00:00", "00:00:04:00"), ("2", "Beta", "00:00:04:00", "00:00:12:00")]


# ------------------------------------------------------------------------------------------ scored preview
@pytest.fixture(scope="module")
def tracks(tmp_path_factory) -> dict[str, tuple[Path, np.ndarray]]:
    """Three different generated tracks at the preview's rate (no resampling), with their mono samples."""
    root = tmp_path_factory.mktemp("tracks")
    found = {}
    for name, seconds, seed in (("a", 20.0, 1), ("b", 12.0, 2), ("c", 30.0, 3)):
        data = media_factory.music_signal(seconds, RATE, seed=seed)
        found[name] = (media_factory.write_audio(root / f"{name}.wav", data=data, sample_rate=RATE), data.mean(axis=1))
    return found


def _decoded(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return np.concatenate([f.to_ndarray().mean(axis=0) for f in container.decode(stream)])


def _offset_in(track: np.ndarray, piece: np.ndarray, around: float, search: float = 1.0) -> tuple[float, float]:
    """Where ``piece`` lies in ``track`` near ``around`` s (by the cross-correlation peak) and how well it fits
    there (normalised correlation, 1 = identical)."""
    from scipy.signal import correlate

    lo = max(0, int((around - search) * RATE))
    hay = track[lo: int((around + search) * RATE) + piece.size]
    if hay.size < piece.size:  # the track has ended there
        return around, 0.0
    scores = correlate(hay, piece, mode="valid", method="fft")
    best = int(np.argmax(scores))
    fit = scores[best] / (np.linalg.norm(piece) * np.linalg.norm(hay[best: best + piece.size]))
    return (lo + best) / RATE, float(fit)


def test_the_scored_preview_plays_each_cues_section_under_its_cue(video, tracks, tmp_path):
    cues = [("a", 0.0, 4.0, 10.0), ("b", 4.0, 8.0, 3.0), ("c", 8.0, 12.0, 20.0)]
    choices = VideoChoices(TimelineVideo(video, 30.0, 12.0), tuple(
        Choice(start, end, tracks[name][0], section, section + end - start) for name, start, end, section in cues))
    report = service.export_scored_preview(video, choices, tmp_path / "scored.mp4", crossfade_seconds=1.0)
    assert report.video_copied and abs(report.duration - 12.0) < 0.05
    audio = _decoded(report.path)
    for name, start, end, section in cues:
        at = start + 1.0  # 1 s into the cue, clear of the 0.5 s half-crossfade on either side
        piece = audio[int(at * RATE): int((at + 2.0) * RATE)]
        found, fit = _offset_in(tracks[name][1], piece, section + 1.0)
        assert abs(found - (section + 1.0)) * RATE <= AAC_FRAME, (name, found)
        assert fit > 0.9, (name, fit)
        for other in set(tracks) - {name}:  # and no other track is there
            assert _offset_in(tracks[other][1], piece, section + 1.0, search=0.9)[1] < 0.5
    # Across a boundary both tracks sound, at about the level of one (equal-power crossfade of unrelated music).
    level = lambda a, b: float(np.sqrt(np.mean(audio[int(a * RATE): int(b * RATE)] ** 2)))  # noqa: E731
    assert 0.6 < level(3.8, 4.2) / level(1.0, 3.0) < 1.6
    first, fit = _offset_in(tracks["b"][1], audio[int(3.9 * RATE): int(4.4 * RATE)], 2.9)
    assert abs(first - 2.9) * RATE <= AAC_FRAME  # the incoming track is already at its section's time


def test_a_gap_between_cues_is_silent_and_a_hard_switch_has_no_crossfade(video, tracks, tmp_path):
    choices = VideoChoices(TimelineVideo(video, 30.0, 12.0), (
        Choice(0.0, 3.0, tracks["a"][0], 5.0, 8.0), Choice(6.0, 12.0, tracks["c"][0], 0.0, 6.0)))
    audio = _decoded(service.export_scored_preview(video, choices, tmp_path / "gap.mp4").path)
    loud = float(np.sqrt(np.mean(audio[int(1 * RATE): int(2 * RATE)] ** 2)))
    assert float(np.abs(audio[int(3.2 * RATE): int(5.8 * RATE)]).max()) < 0.01 * loud
    found, fit = _offset_in(tracks["c"][1], audio[int(6.1 * RATE): int(7.1 * RATE)], 0.1, search=0.1)
    assert abs(found - 0.1) * RATE <= AAC_FRAME and fit > 0.9
    hard = service.export_scored_preview(video, VideoChoices(choices.video, (
        Choice(0.0, 6.0, tracks["a"][0], 5.0, 11.0), Choice(6.0, 12.0, tracks["c"][0], 0.0, 6.0))),
        tmp_path / "hard.mp4", crossfade_seconds=0.0)
    cut = _decoded(hard.path)
    before = cut[int(5.7 * RATE): int(5.95 * RATE)]
    assert _offset_in(tracks["a"][1], before, 10.7, search=0.1)[1] > 0.9  # a's section runs up to the switch
