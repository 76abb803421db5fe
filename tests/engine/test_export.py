"""engine.export: result lists as CSV/JSON and the preview MP4 (video + the track's best section), on real files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import av
import numpy as np
import pytest

from emomv_desktop.engine import export
from emomv_desktop.engine.emotions import Emotion
from emomv_desktop.engine.errors import Cancelled, DecodeError, PathError
from emomv_desktop.engine.jobs import CancelToken
from emomv_desktop.engine.ranking import Suggestion, VideoQuery
from tests import media_factory

TONE_START = 10.0  # the test track is silent before this time and loud after it


def _suggestion(rank: int, emotion: Emotion | None, **overrides) -> Suggestion:
    probs = None if emotion is None else np.eye(5)[int(emotion)] * 0.6 + 0.08
    fields = dict(rank=rank, track_id=rank, path=Path(f"/music/é track {rank}.flac"), title=f"Title {rank}",
                  artist="Artist, with comma", album=None, duration=120.5, score=0.9 - rank / 10, best_start=30.0,
                  best_end=59.76, emotion_probs=probs, emotion=emotion)
    fields.update(overrides)
    return Suggestion(**fields)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    rate = 44_100
    t = np.arange(int(20 * rate)) / rate
    tone = np.where(t >= TONE_START, 0.5 * np.sin(2 * np.pi * 440 * t), 0.0).astype(np.float32)
    return {
        "video": media_factory.write_video(root / "cut.mp4", seconds=4.0),
        "ffv1": media_factory.write_video(root / "cut.mkv", seconds=2.0, codec="ffv1"),
        "track": media_factory.write_audio(root / "silence-then-tone.wav", data=np.stack([tone, tone], 1),
                                           sample_rate=rate),
        "audio_only": media_factory.write_audio_only_mp4(root / "voice.mp4"),
        "text": _write(root / "notes.flac", "not audio"),
    }


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _audio(path: Path) -> tuple[np.ndarray, float]:
    """Mono samples of the output's audio stream and the stream's stated duration."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        duration = float(stream.duration * stream.time_base)
        blocks = [frame.to_ndarray().mean(axis=0) for frame in container.decode(stream)]
    return np.concatenate(blocks), duration


def _rms(samples: np.ndarray, start: float, end: float) -> float:
    rate = export.PREVIEW_SAMPLE_RATE
    piece = samples[int(start * rate) : int(end * rate)]
    return float(np.sqrt(np.mean(piece**2)))


def test_results_as_json_and_csv(tmp_path):
    suggestions = [_suggestion(1, Emotion.SAD), _suggestion(2, None, title=None, duration=None)]
    query = VideoQuery(Path("/cuts/scene 1.mp4"), 12.5, np.ones(64, np.float32) / 8, np.array([.1, .1, .6, .1, .1]))
    out = export.write_results_json(tmp_path / "r.json", suggestions, query, filters={"text": "x"})
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["format"] == export.RESULTS_FORMAT and document["version"] == export.RESULTS_VERSION
    assert document["video"] == {"path": "/cuts/scene 1.mp4", "duration": 12.5, "emotion": "tense",
                                 "emotion_probs": {"exciting": 0.1, "fearful": 0.1, "tense": 0.6, "sad": 0.1,
                                                   "relaxing": 0.1}}
    assert document["filters"] == {"text": "x"}
    first, second = document["suggestions"]
    assert first["path"] == "/music/é track 1.flac" and first["emotion"] == "sad"
    assert first["best_section"] == {"start": 30.0, "end": 59.76}
    assert first["emotion_probs"]["sad"] == pytest.approx(0.68)
    assert second["emotion"] is None and second["emotion_probs"] is None and second["duration"] is None

    out = export.write_results_csv(tmp_path / "r.csv", suggestions)
    with open(out, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(export.CSV_FIELDS)
    assert rows[0]["artist"] == "Artist, with comma" and rows[0]["best_end"] == "59.76"
    assert float(rows[0]["p_sad"]) == pytest.approx(0.68) and rows[1]["p_sad"] == ""
    assert not list(tmp_path.glob(".*.part"))


def test_results_carry_each_tracks_loudness(tmp_path):
    suggestions = [_suggestion(1, Emotion.SAD, loudness=-11.234), _suggestion(2, None)]
    document = json.loads(export.write_results_json(tmp_path / "r.json", suggestions).read_text(encoding="utf-8"))
    assert [s["loudness"] for s in document["suggestions"]] == [-11.23, None]
    with open(export.write_results_csv(tmp_path / "r.csv", suggestions), encoding="utf-8-sig", newline="") as f:
        assert [row["loudness"] for row in csv.DictReader(f)] == ["-11.23", ""]


def test_an_unwritable_result_file_is_a_path_error(tmp_path):
    with pytest.raises(PathError, match="no-such-folder"):
        export.write_results_csv(tmp_path / "no-such-folder" / "r.csv", [_suggestion(1, Emotion.SAD)])


def test_preview_copies_the_video_and_muxes_the_track_from_the_best_section(media, tmp_path):
    progress = []
    report = export.export_preview(media["video"], media["track"], TONE_START, tmp_path / "p.mp4",
                                   progress=progress.append)
    assert report.video_copied and report.duration == pytest.approx(4.0, abs=0.05)
    assert report.audio_seconds_from_track == pytest.approx(report.duration, abs=0.01)
    with av.open(str(media["video"])) as source, av.open(str(report.path)) as result:
        assert [s.type for s in result.streams] == ["video", "audio"]
        assert result.streams.video[0].codec_context.name == "h264"
        original = [bytes(p) for p in source.demux(source.streams.video[0]) if p.size]
        copied = [bytes(p) for p in result.demux(result.streams.video[0]) if p.size]
    assert copied == original  # packet for packet: no re-encoding
    samples, duration = _audio(report.path)
    assert duration == pytest.approx(report.duration, abs=0.03)
    assert _rms(samples, 0.1, 1.0) > 0.2  # the tone from the first second on: the best section's start
    assert progress[-1].done == progress[-1].total


def test_preview_from_the_track_start_is_silent_here_and_pads_a_short_track(media, tmp_path):
    report = export.export_preview(media["video"], media["track"], 0.0, tmp_path / "p.mp4")
    samples, _ = _audio(report.path)
    assert _rms(samples, 0.0, 3.9) < 1e-3
    padded = export.export_preview(media["video"], media["track"], 18.5, tmp_path / "tail.mp4")
    assert padded.audio_seconds_from_track == pytest.approx(1.5, abs=0.02)
    samples, duration = _audio(padded.path)
    assert duration == pytest.approx(padded.duration, abs=0.03)
    assert _rms(samples, 0.2, 1.3) > 0.2 and _rms(samples, 1.7, 3.9) < 1e-3


def test_a_codec_mp4_cannot_hold_is_reencoded_to_h264(media, tmp_path):
    report = export.export_preview(media["ffv1"], media["track"], TONE_START, tmp_path / "p.mp4")
    assert not report.video_copied
    with av.open(str(report.path)) as result:
        video = result.streams.video[0]
        assert video.codec_context.name == "h264"
        frames = sum(1 for _ in result.decode(video))
    assert frames == 60  # 2 s at 30 fps
    samples, duration = _audio(report.path)
    assert duration == pytest.approx(2.0, abs=0.03) and _rms(samples, 0.1, 1.9) > 0.2


def test_a_cancelled_export_leaves_no_file(media, tmp_path):
    cancel = CancelToken()

    def cancel_midway(progress):
        if progress.done > 1.0:
            cancel.cancel()

    with pytest.raises(Cancelled):
        export.export_preview(media["video"], media["track"], 0.0, tmp_path / "p.mp4", progress=cancel_midway,
                              cancel=cancel)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("video", "track", "message"),
    [
        ("audio_only", "track", "no video stream"),
        ("video", "video", "no audio stream"),
        ("text", "track", None),  # whatever engine.media says about it
        ("video", "text", "no audio could be decoded"),
    ],
)
def test_bad_inputs_are_decode_errors_naming_the_file(media, tmp_path, video, track, message):
    with pytest.raises(DecodeError, match=message) as raised:
        export.export_preview(media[video], media[track], 0.0, tmp_path / "p.mp4")
    assert raised.value.path in (media[video], media[track])
    assert list(tmp_path.iterdir()) == []


def test_missing_inputs_and_unwritable_outputs(media, tmp_path):
    with pytest.raises(DecodeError, match="gone.mp4"):
        export.export_preview(tmp_path / "gone.mp4", media["track"], 0.0, tmp_path / "p.mp4")
    with pytest.raises(PathError, match="missing-dir.*p.mp4: cannot write"):
        export.export_preview(media["video"], media["track"], 0.0, tmp_path / "missing-dir" / "p.mp4")
