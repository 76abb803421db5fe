"""engine.timeline: every exported timeline read back by OpenTimelineIO; FCP XML, FCPXML and EDL checked as text."""

from __future__ import annotations

import csv
import re
from fractions import Fraction
import xml.etree.ElementTree as ET
from pathlib import Path

import opentimelineio as otio
import pytest

from emomv_desktop.engine import timeline
from emomv_desktop.engine.errors import PathError


def _choices(folder: Path) -> list[timeline.CueChoice]:
    return [
        timeline.CueChoice(0.0, 2.0, folder / "music" / "a.wav", 10.0, 12.0, title="Alpha", artist="Ann", album="One", track_duration=60),
        timeline.CueChoice(2.0, 6.5, folder / "music" / "b.flac", 5.0, 9.5, title="Beta", composer="Bo", publisher="Pub", track_duration=30),
        timeline.CueChoice(6.5, 9.0, folder / "music" / "a.wav", 20.0, 22.5, title="Alpha", track_duration=60),
    ]


def _video(folder: Path, fps: float) -> timeline.TimelineVideo:
    return timeline.TimelineVideo(folder / "cut.mp4", fps, 9.0)


def _frames(seconds: float, fps: float) -> int:
    return round(seconds * timeline.frame_rate(fps))


def _clips(tl) -> dict[str, list[tuple[str, int, int, int]]]:
    """Per track kind and order: (name, source in, duration, record in) in frames."""
    out = {}
    for track in tl.tracks:
        # The EDL reader starts a track at its first record in by a negative source start: undo that.
        offset = track.source_range.start_time if track.source_range else otio.opentime.RationalTime(0, 1)
        out.setdefault(track.kind, []).append([
            (c.name, c.source_range.start_time.to_frames(), c.source_range.duration.to_frames(), (c.range_in_parent().start_time - offset).to_frames())
            for c in track.find_clips()
        ])
    return out


def _expected(folder: Path, fps: float, overlap: float = 0.0) -> dict:
    f = lambda s: _frames(s, fps)  # noqa: E731
    return {
        "Video": [[("cut.mp4", 0, f(9.0), 0)]],
        "Audio": [
            [("Alpha", f(10), f(2.0) + f(overlap), 0), ("Alpha", f(20), f(9.0) - f(6.5), f(6.5))],
            [("Beta", f(5), f(6.5) - f(2.0) + f(overlap), f(2.0))],
        ],
    }


@pytest.mark.parametrize("fmt, suffix", [("otio", ".otio"), ("fcp_xml", ".xml"), ("fcpx_xml", ".fcpxml"), ("cmx_3600", ".edl")])
@pytest.mark.parametrize("fps", [25.0, 29.97])
def test_every_format_reads_back_with_the_same_clips_and_ranges(tmp_path, fmt, suffix, fps):
    path = tmp_path / f"cut{suffix}"
    if fmt == "fcpx_xml" and fps == 29.97:
        with pytest.raises(timeline.TimelineError, match="FCP 7 XML"):
            timeline.export_timeline(path, _video(tmp_path, fps), _choices(tmp_path))
        assert not path.exists()
        return
    timeline.export_timeline(path, _video(tmp_path, fps), _choices(tmp_path), overlap_seconds=0.5)
    options = {"rate": float(timeline.frame_rate(fps))} if fmt == "cmx_3600" else {}
    back = otio.adapters.read_from_file(str(path), adapter_name=timeline.FORMATS[fmt], **options)
    clips = _clips(back)
    expected = _expected(tmp_path, fps, overlap=0.5)
    assert clips["Video"] == expected["Video"]
    assert sorted(clips["Audio"]) == sorted(expected["Audio"])  # A1 and A2 (FCPXML lists lanes in its own order)
    rates = [c.source_range.start_time.rate for c in back.find_clips()]
    assert rates == pytest.approx([float(timeline.frame_rate(fps))] * len(rates))
    assert not list(tmp_path.glob(".*.part"))  # the temporary file was renamed


def test_fcp7_xml_structure_at_2997(tmp_path):
    path = timeline.export_timeline(tmp_path / "cut.xml", _video(tmp_path, 29.97), _choices(tmp_path))
    root = ET.parse(path).getroot()
    sequence = root.find(".//sequence")
    assert sequence.find("./rate/timebase").text == "30" and sequence.find("./rate/ntsc").text == "TRUE"
    audio_tracks = sequence.findall("./media/audio/track")
    assert len(audio_tracks) == 2 and len(sequence.findall("./media/video/track")) == 1
    first = audio_tracks[0].find("./clipitem")
    assert (int(first.find("in").text), int(first.find("out").text), int(first.find("start").text)) == (
        _frames(10, 29.97), _frames(10, 29.97) + _frames(2, 29.97), 0)
    assert first.find("./file/pathurl").text == (tmp_path / "music" / "a.wav").absolute().as_uri()
    assert not sequence.findall(".//transitionitem")
    faded = timeline.export_timeline(tmp_path / "faded.xml", _video(tmp_path, 29.97), _choices(tmp_path), fade_seconds=0.5)
    transitions = ET.parse(faded).getroot().findall(".//sequence/media/audio/track/transitionitem")
    assert len(transitions) == 6  # a fade in and out on each of the three cues
    assert {int(t.find("end").text) - int(t.find("start").text) for t in transitions} == {_frames(0.5, 29.97)}


def test_fcpxml_structure(tmp_path):
    path = timeline.export_timeline(tmp_path / "cut.fcpxml", _video(tmp_path, 25.0), _choices(tmp_path))
    root = ET.parse(path).getroot()
    assert root.find("./resources/format").get("frameDuration") == "1/25s"
    clips = {c.get("name"): c for c in root.iter("clip") if c.get("lane")}
    beta = clips["Beta"]
    frames = _frames(6.5, 25) - _frames(2.0, 25)  # 6.5 s is 162.5 frames: the cue ends on frame 162
    assert (beta.get("offset"), beta.get("start"), beta.get("duration")) == ("2s", "5s", f"{Fraction(frames, 25)}s")
    assert {c.get("lane") for c in clips.values()} == {"-1", "-2"}


def test_edl_structure_at_2997_drop_frame(tmp_path):
    path = timeline.export_timeline(tmp_path / "cut.edl", _video(tmp_path, 29.97), _choices(tmp_path))
    text = path.read_text()
    assert "FCM: DROP FRAME" in text
    events = re.findall(r"^(\d{3})\s+(\S+)\s+(\S+)\s+C\s+(\S+) (\S+) (\S+) (\S+)$", text, re.M)
    assert [e[0] for e in events] == ["001", "002", "003", "004"]
    assert [e[2] for e in events] == ["V", "A", "A2", "A"]  # record order; cue 2 on the second audio track
    assert events[2][3:] == ("00:00:05;00", "00:00:09;15", "00:00:02;00", "00:00:06;15")
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d;[0-2]\d", tc) for e in events for tc in e[3:])


def test_relative_media_paths(tmp_path):
    path = timeline.export_timeline(tmp_path / "cut.otio", _video(tmp_path, 25.0), _choices(tmp_path), relative_paths=True)
    urls = {c.media_reference.target_url for c in otio.adapters.read_from_file(str(path)).find_clips()}
    assert urls == {"cut.mp4", "music/a.wav", "music/b.flac"}


def test_cue_sheet_columns_and_timecodes(tmp_path):
    path = timeline.export_cue_sheet(tmp_path / "cues.csv", _video(tmp_path, 29.97), _choices(tmp_path))
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(timeline.CUE_SHEET_FIELDS)
    assert [r["cue"] for r in rows] == ["1", "2", "3"]
    assert (rows[1]["in"], rows[1]["out"], rows[1]["duration"]) == ("00:00:02;00", "00:00:06;15", "00:00:04;15")
    assert (rows[1]["title"], rows[1]["composer"], rows[1]["publisher"], rows[0]["artist"], rows[0]["album"]) == ("Beta", "Bo", "Pub", "Ann", "One")
    assert rows[1]["section_start"] == "5.000" and rows[1]["section_end"] == "9.500"
    assert rows[0]["usage"] == "background instrumental" and rows[0]["file"].endswith("a.wav")
    assert timeline.timecode(1.0, 25) == "00:00:01:00"


def test_bad_choices_and_targets_are_refused(tmp_path):
    video = _video(tmp_path, 25.0)
    bad = [timeline.CueChoice(0, 5, tmp_path / "a.wav", 0, 5), timeline.CueChoice(4, 8, tmp_path / "b.wav", 0, 4)]
    with pytest.raises(timeline.TimelineError, match="overlap"):
        timeline.export_timeline(tmp_path / "x.otio", video, bad)
    with pytest.raises(timeline.TimelineError, match="not inside the video"):
        timeline.export_cue_sheet(tmp_path / "x.csv", video, [timeline.CueChoice(8, 12, tmp_path / "a.wav", 0, 4)])
    with pytest.raises(timeline.TimelineError, match="unknown timeline format"):
        timeline.export_timeline(tmp_path / "x.mov", video, _choices(tmp_path))
    with pytest.raises(PathError, match="does not exist"):
        timeline.export_timeline(tmp_path / "missing" / "x.otio", video, _choices(tmp_path))


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("adapter failed")

    monkeypatch.setattr(otio.adapters, "write_to_file", broken)
    with pytest.raises(RuntimeError, match="adapter failed"):
        timeline.export_timeline(tmp_path / "cut.otio", _video(tmp_path, 25.0), _choices(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_overlap_stops_at_the_next_cue_on_the_same_track_and_at_the_track_end(tmp_path):
    music = tmp_path / "m.wav"
    choices = [
        timeline.CueChoice(0.0, 4.0, music, 0.0, 4.0, track_duration=100),
        timeline.CueChoice(4.0, 4.4, music, 10.0, 10.4, track_duration=100),  # shorter than the overlap
        timeline.CueChoice(4.4, 8.0, music, 20.0, 23.6, track_duration=24.0),  # 0.4 s of audio left
    ]
    tl = timeline.build_timeline(timeline.TimelineVideo(tmp_path / "v.mp4", 25.0, 9.0), choices, overlap_seconds=1.0)
    a1, a2 = [list(t.find_clips()) for t in tl.tracks[1:]]
    assert a1[0].range_in_parent().end_time_exclusive().to_seconds() == pytest.approx(4.4)  # up to cue 3
    assert a1[1].range_in_parent().start_time.to_seconds() == pytest.approx(4.4)
    assert a1[1].source_range.duration.to_seconds() == pytest.approx(3.6 + 0.4)  # until its track ends
    assert a2[0].source_range.duration.to_seconds() == pytest.approx(0.4 + 1.0)
