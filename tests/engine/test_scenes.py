"""engine.scenes: shots on generated hard cuts, clips that never straddle a cut, merging, cues, scene edits."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from emomv_desktop.engine import media, scenes
from emomv_desktop.engine.backbones import CLIP_SECONDS, SlowFastExtractor
from emomv_desktop.engine.errors import Cancelled, DecodeError
from emomv_desktop.engine.jobs import CancelToken
from emomv_desktop.engine.model import ModelConfig, RetrievalModel
from tests import media_factory as mf
from tests.media_factory import SHOT_COLOURS, write_cut_video

SHOTS = [2.0, 3.2, 1.4, 2.6, 0.8, 3.0]


@pytest.mark.parametrize("fps", [30, 25, Fraction(30000, 1001)])
def test_detected_cuts_are_within_one_frame_of_the_true_ones(tmp_path, fps):
    path, cuts = write_cut_video(tmp_path / "cuts.mp4", SHOTS, fps=fps)
    shots = scenes.detect_shots(path)
    found = [s.start for s in shots[1:]]
    assert len(found) == len(cuts)
    assert np.max(np.abs(np.subtract(found, cuts))) <= 1 / float(fps) + 1e-6
    assert shots[0].start == 0.0 and shots[-1].end == pytest.approx(media.probe_video(path).duration, abs=0.05)
    assert all(a.end == b.start for a, b in zip(shots, shots[1:]))


def test_the_detectors_small_picture_has_swscales_colours(tmp_path):
    """media.small_bgr: 8-bit 4:2:0 is scaled plane by plane (OpenCV INTER_AREA) and converted small; the colours
    are swscale's within rounding, the size is the detector's (height made even); other formats are swscale's
    own conversion, unchanged."""
    path, _ = write_cut_video(tmp_path / "cuts.mp4", [0.2] * len(SHOT_COLOURS), width=640, height=362)
    frames = list(media.decode_video_frames(path))
    assert {frame.format.name for _, frame in frames} == {"yuv420p"}
    for _, frame in frames[::6]:  # one frame of each shot
        ours = media.small_bgr(frame, scenes.DETECT_WIDTH)
        reference = frame.to_ndarray(format="bgr24", width=256, height=145, interpolation="AREA")
        assert ours.shape == (144, 256, 3) and ours.dtype == np.uint8
        # the solid background, away from the moving square: the same colour within rounding
        assert np.abs(ours[100:140, 200:250].astype(int) - reference[100:140, 200:250]).max() <= 3
    odd = mf.write_video(tmp_path / "odd.mp4", seconds=0.2, width=321, height=179)  # 4:4:4: swscale's path
    _, frame = next(media.decode_video_frames(odd))
    assert frame.format.name != "yuv420p"
    np.testing.assert_array_equal(media.small_bgr(frame, scenes.DETECT_WIDTH),
                                  frame.to_ndarray(format="bgr24", width=256, height=143, interpolation="AREA"))


def test_shot_detection_reports_progress_and_can_be_cancelled(tmp_path):
    path, _ = write_cut_video(tmp_path / "cuts.mp4", [3.0, 3.0])
    seen = []
    scenes.detect_shots(path, progress=seen.append)
    assert seen and seen[-1].total == pytest.approx(6.0, abs=0.1) and seen[-1].done > 5.0
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        scenes.detect_shots(path, cancel=token)


def test_a_video_without_cuts_is_one_shot_and_bad_files_say_why(tmp_path):
    path, _ = write_cut_video(tmp_path / "one.mp4", [3.0])
    assert len(scenes.detect_shots(path)) == 1
    (tmp_path / "text.mp4").write_text("not a video\n" * 20)
    with pytest.raises(DecodeError, match="not a media file"):
        scenes.detect_shots(tmp_path / "text.mp4")


@pytest.mark.parametrize("span", [(0.0, 0.5), (1.0, 3.0), (2.0, 4.14), (0.0, 30.0), (5.0, 61.3)])
def test_planned_clips_stay_inside_their_segment(span):
    start, end = span
    clip_starts = scenes.plan_segment_clips(start, end)
    assert len(clip_starts) == max(1, round((end - start) / scenes.DEFAULT_SECONDS_PER_CLIP))
    for s in clip_starts:
        times = scenes.segment_clip_frame_times(s, start, end)
        assert len(times) == 32 and times.min() >= start and times.max() < end
        if end - start >= CLIP_SECONDS:  # a whole clip fits: it is not distorted
            assert np.allclose(np.diff(times), 2 / 30)
    if end - start < CLIP_SECONDS:  # a short segment: one centred clip, its frames held at the edges
        assert clip_starts[0] + CLIP_SECONDS / 2 == pytest.approx((start + end) / 2)


def test_no_clip_shows_a_frame_from_across_a_cut(tmp_path):
    """Decode every planned clip's frames: each shows only its own shot's background colour."""
    path, cuts = write_cut_video(tmp_path / "cuts.mp4", SHOTS)
    shots = scenes.detect_shots(path)
    with media.VideoReader(path) as reader:
        for k, shot in enumerate(shots):
            for s in scenes.plan_segment_clips(shot.start, shot.end):
                frames = reader.frames_at(scenes.segment_clip_frame_times(s, shot.start, shot.end))
                corners = frames[:, :10, :10].reshape(len(frames), -1, 3).mean(1)
                assert np.abs(corners - np.array(SHOT_COLOURS[k])).max() < 25


def test_merge_shots_joins_neighbours_that_feel_the_same():
    a, b, c = np.eye(3)
    vectors = np.stack([a, a * 2 + 0.05 * b, b, b, c, a])
    groups = scenes.merge_shots([5, 5, 5, 5, 5, 5], vectors, threshold=0.9, min_seconds=0)
    assert groups == [[0, 1], [2, 3], [4], [5]]
    assert scenes.merge_shots([5] * 6, vectors, threshold=1.01, min_seconds=0) == [[i] for i in range(6)]
    assert scenes.merge_shots([5] * 6, vectors, threshold=-1.0, min_seconds=0) == [list(range(6))]


def test_merge_shots_gives_a_short_scene_to_its_more_similar_neighbour():
    a, b, c = np.eye(3)
    near_c = c + 0.3 * b
    groups = scenes.merge_shots([6, 1, 6], np.stack([a, near_c, c]), threshold=0.99, min_seconds=3)
    assert groups == [[0], [1, 2]]
    # Every scene reaches the minimum, however the vectors compare.
    groups = scenes.merge_shots([1, 1, 1, 1, 9], np.stack([a, b, c, a, b]), threshold=0.99, min_seconds=3)
    assert all(sum([1, 1, 1, 1, 9][i] for i in g) >= 3 for g in groups)
    assert [i for g in groups for i in g] == list(range(5))


def _scenes(bounds, features=None):
    out = []
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        f = None if features is None else np.asarray(features[i], np.float32)
        out.append(scenes.Scene(i, a, b, (scenes.Shot(a, b),), f, 0 if f is None else 2))
    return out


def test_cues_are_weighted_by_duration_and_the_whole_video_is_one():
    listed = _scenes([0, 2, 8], [np.full(2304, 1.0), np.full(2304, 4.0)])
    cues = scenes.scene_cues(listed)
    assert [(c.start, c.end, c.scenes) for c in cues] == [(0, 2, (0,)), (2, 8, (1,))]
    whole = scenes.whole_video_cue(listed)
    assert (whole.start, whole.end, whole.scenes) == (0, 8, (0, 1))
    assert scenes.cue_features(listed, whole.start, whole.end)[0] == pytest.approx((2 * 1 + 6 * 4) / 8)
    assert scenes.cue_features(listed, 1, 3)[0] == pytest.approx(2.5)
    assert scenes.range_cue(listed, 1, 3).scenes == (0, 1)


def test_split_and_merge_edit_the_scene_list():
    listed = _scenes([0, 4, 10], [np.full(2304, 1.0), np.full(2304, 3.0)])
    split = scenes.split_scene(listed, 6.0)
    assert [(s.index, s.start, s.end, s.features is None) for s in split] == [(0, 0, 4, False), (1, 4, 6, True), (2, 6, 10, True)]
    assert split[1].shots == (scenes.Shot(4, 6),) and split[2].shots == (scenes.Shot(6, 10),)
    merged = scenes.merge_scenes(listed, 0)
    assert len(merged) == 1 and (merged[0].start, merged[0].end, merged[0].clips) == (0, 10, 4)
    assert merged[0].features[0] == pytest.approx(2.0)  # the mean of all four clips
    with pytest.raises(scenes.SceneError):
        scenes.split_scene(listed, 12.0)
    with pytest.raises(scenes.SceneError):
        scenes.split_scene(listed, 4.05)
    with pytest.raises(scenes.SceneError):
        scenes.merge_scenes(listed, 1)


@pytest.fixture(scope="module")
def networks():
    torch.manual_seed(0)
    return SlowFastExtractor.build(None, "cpu"), RetrievalModel(ModelConfig(multitask=True)).eval()


def test_analyse_scenes_gives_one_described_scene_per_distinct_shot(tmp_path, networks):
    """Random-init SlowFast on a video of three long, visually distinct shots (one clip each)."""
    extractor, model = networks
    path, cuts = write_cut_video(tmp_path / "three.mp4", [4.5, 4.5, 4.5], width=256, height=256)
    result = scenes.analyse_scenes(path, extractor, model, merge_threshold=1.01, min_scene_seconds=3.0, seconds_per_clip=8.0)
    assert [s.start for s in result[1:]] == pytest.approx(cuts, abs=1 / 30)
    assert len(scenes.scene_cues(result)) == 3
    features = np.stack([s.features for s in result])
    assert features.shape == (3, 2304) and all(s.clips == 1 for s in result)
    cos = features @ features.T / np.outer(np.linalg.norm(features, axis=1), np.linalg.norm(features, axis=1))
    assert cos[np.triu_indices(3, 1)].max() < 0.9999  # distinct pictures, distinct features
    for s in result:
        assert s.query.embedding.shape == (64,) and s.query.emotion_probs.sum() == pytest.approx(1.0, abs=1e-5)
    # Splitting the middle scene and describing again analyses only the new halves, inside their shots.
    split = scenes.split_scene(result, 6.75)
    described = scenes.describe_scenes(split, model, extractor=extractor, path=path, seconds_per_clip=8.0)
    assert [s.clips for s in described] == [1, 1, 1, 1] and described[0].query is result[0].query
    with pytest.raises(scenes.SceneError):
        scenes.describe_scenes(split, model)
