"""engine.backbones: the torch log-mel against torchvggish's reference, real architectures with random weights."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest
import torch
from torchvggish import vggish_input

from emomv_desktop.engine import backbones, loading, media, weights
from emomv_desktop.engine.errors import Cancelled, DecodeError, WeightsError
from emomv_desktop.engine.jobs import CancelToken
from emomv_desktop.engine.protocol import MUSIC_BACKBONE, VIDEO_BACKBONE
from tests import media_factory as mf

RATE = 16_000
LOG_MEL_TOLERANCE = 1e-4
"""Max |difference| of the torch log-mel from torchvggish's numpy float64 one (measured ~5e-6; values ~[-4.6, 5])."""


@pytest.fixture(scope="module")
def vggish() -> backbones.VGGishExtractor:
    torch.manual_seed(0)
    return backbones.VGGishExtractor.build(None, "cpu", batch_size=8)


@pytest.fixture(scope="module")
def slowfast() -> backbones.SlowFastExtractor:
    torch.manual_seed(0)
    # fp32: the numbers are compared with pytorchvideo's own network (the fast path: test_precision.py)
    return backbones.SlowFastExtractor.build(None, "cpu", clips_per_window=1, precision=backbones.Precision.EXACT)


# ================================================================================================ VGGish
@pytest.mark.parametrize("samples", [15_599, 15_600, 15_600 + 15_359, 15_600 + 15_360, 10 * RATE + 123])
def test_log_mel_matches_torchvggish_reference(vggish, samples):
    signal = mf.music_signal(samples / RATE + 0.01, RATE, 1, seed=samples)[:samples, 0]
    reference = vggish_input.waveform_to_examples(signal.astype(np.float64), RATE, return_tensor=False)
    ours = vggish.log_mel(signal)
    assert ours.dtype == torch.float32
    assert tuple(ours.shape) == (reference.shape[0], 96, 64) if reference.size else (0, 96, 64)
    assert backbones.example_count(samples) == len(ours)
    if len(ours):
        assert np.abs(ours.numpy() - reference).max() < LOG_MEL_TOLERANCE


def test_log_mel_of_silence_is_the_log_offset(vggish):
    out = vggish.log_mel(np.zeros(2 * RATE, np.float32))
    assert torch.allclose(out, torch.full_like(out, float(np.log(0.01))))


def test_track_features_streamed_equal_the_whole_waveform(vggish, tmp_path, monkeypatch):
    """25 s at 44.1 kHz: three 9.6 s decode blocks and full 8-example batches (then the rest), joined exactly."""
    path = mf.write_audio(tmp_path / "song.flac", seconds=25.0)
    batches = []
    real_embed = vggish.embed
    monkeypatch.setattr(vggish, "embed", lambda x, **kw: batches.append(len(x)) or real_embed(x, **kw))
    seen = []
    result = vggish.track_features(path, progress=seen.append)
    monkeypatch.undo()
    assert batches == [8, 8, 8, 2]
    audio = media.load_audio(path)
    expected = vggish.embed(vggish.log_mel(audio)).numpy()
    assert result.frame_features.shape == (backbones.example_count(len(audio)), 128) == (26, 128)
    assert result.frame_features.dtype == np.float32
    np.testing.assert_allclose(result.frame_features, expected, rtol=1e-4, atol=1e-6)
    assert result.duration == pytest.approx(25.0, abs=1e-3)
    assert result.info == media.probe_audio(path)
    assert len(seen) >= 3 and seen[-1].done == pytest.approx(25.0, abs=1e-3) and seen[-1].total == pytest.approx(25.0)
    assert all(a.done <= b.done for a, b in zip(seen, seen[1:]))


def test_vggish_random_init_is_deterministic_and_says_so(tmp_path):
    path = mf.write_audio(tmp_path / "a.wav", seconds=3.0)
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        extractor = backbones.VGGishExtractor.build(None, "cpu")
        assert extractor.pretrained is False
        assert extractor.backbone_id == MUSIC_BACKBONE
        runs.append(extractor.track_features(path).frame_features)
    np.testing.assert_array_equal(runs[0], runs[1])
    assert runs[0].shape == (3, 128) and (runs[0] >= 0).all()  # torchvggish ends in a ReLU
    assert runs[0].std() > 0


def test_vggish_loads_the_state_dict_it_is_given(vggish):
    torch.manual_seed(1)
    donor = backbones.build_vggish_module().eval()
    loaded = backbones.VGGishExtractor.build(donor.state_dict(), "cpu", precision=backbones.Precision.EXACT)
    assert loaded.pretrained is True
    examples = vggish.log_mel(mf.music_signal(2.0, RATE, 1)[:, 0])
    with torch.inference_mode():
        expected = donor(examples.unsqueeze(1))
    torch.testing.assert_close(loaded.embed(examples), expected, rtol=1e-4, atol=1e-6)
    with pytest.raises(RuntimeError, match="Missing key.*features.0.bias"):
        backbones.VGGishExtractor.build({"features.0.weight": torch.zeros(1)}, "cpu")


def test_short_track_gives_no_rows(vggish, tmp_path):
    path = mf.write_audio(tmp_path / "blip.wav", seconds=0.5)
    result = vggish.track_features(path)
    assert result.frame_features.shape == (0, 128)
    assert result.duration == pytest.approx(0.5, abs=1e-3)


@pytest.fixture
def cancelled() -> CancelToken:
    token = CancelToken()
    token.cancel()
    return token


def prefetch_threads() -> list:
    return [t for t in threading.enumerate() if t.name == "emomv-prefetch"]


def test_track_cancelled_midway_leaves_no_thread(vggish, tmp_path):
    path = mf.write_audio(tmp_path / "long.flac", seconds=30.0)
    token = CancelToken()
    with pytest.raises(Cancelled):
        vggish.track_features(path, progress=lambda p: token.cancel(), cancel=token)
    assert not prefetch_threads()


def test_track_features_cancel_and_bad_file(vggish, tmp_path, cancelled):
    path = mf.write_audio(tmp_path / "long.flac", seconds=30.0)
    with pytest.raises(Cancelled):
        vggish.track_features(path, cancel=cancelled)
    bad = tmp_path / "bad.mp3"
    bad.write_text("not music")
    with pytest.raises(DecodeError) as caught:
        vggish.track_features(bad)
    assert caught.value.path == bad


# ================================================================================================ SlowFast
def test_preprocess_clip_crops_the_centre_and_normalises():
    columns = (np.arange(341) // 2).astype(np.uint8)  # a horizontal ramp: the crop keeps columns 42..297
    frames = np.broadcast_to(columns[None, None, :, None], (32, 256, 341, 3)).copy()
    clip = backbones.preprocess_clip(frames)
    assert tuple(clip.shape) == (3, 32, 256, 256)
    expected = (torch.arange(42, 298).div(2, rounding_mode="floor").float() / 255.0 - 0.45) / 0.225
    torch.testing.assert_close(clip[1, 5, 100], expected)


def test_preprocess_clip_rescales_other_sizes():
    frames = np.full((32, 200, 150, 3), 128, np.uint8)  # short side 150 -> 256
    clip = backbones.preprocess_clip(frames)
    assert tuple(clip.shape) == (3, 32, 256, 256)
    torch.testing.assert_close(clip, torch.full_like(clip, (128 / 255 - 0.45) / 0.225), atol=1e-2, rtol=0)


def test_pack_pathways_takes_eight_of_thirty_two_in_a_fresh_list():
    fast = torch.arange(32, dtype=torch.float32).reshape(1, 1, 32, 1, 1).expand(1, 3, 32, 2, 2)
    first, second = backbones.pack_pathways(fast), backbones.pack_pathways(fast)
    assert first is not second
    assert first[0][0, 0, :, 0, 0].tolist() == [0, 4, 8, 13, 17, 22, 26, 31]
    assert first[1] is fast


@pytest.mark.parametrize(
    ("duration", "window", "starts", "ends"),
    [
        (10.0, 30.0, [0.0], [10.0]),
        (30.0, 30.0, [0.0], [30.0]),
        (75.0, 30.0, [0.0, 30.0, 45.0], [30.0, 60.0, 75.0]),
        (90.0, 30.0, [0.0, 30.0, 60.0], [30.0, 60.0, 90.0]),
    ],
)
def test_plan_windows(duration, window, starts, ends):
    got_starts, got_ends = backbones.plan_windows(duration, window)
    assert got_starts.tolist() == starts and got_ends.tolist() == ends


def test_plan_clips_spread_and_stay_inside_the_video():
    starts = backbones.plan_clips(0.0, 30.0, 4, 30.0)
    centres = starts + backbones.CLIP_SECONDS / 2
    np.testing.assert_allclose(centres, [3.75, 11.25, 18.75, 26.25])
    short = backbones.plan_clips(0.0, 1.0, 3, 1.0)  # a clip longer than the video starts at 0
    assert short.tolist() == [0.0, 0.0, 0.0]
    assert backbones.clip_times(1.0)[-1] == pytest.approx(1.0 + 31 * 2 / 30)


def test_slowfast_clip_features_equal_the_plain_pytorchvideo_network(slowfast):
    """Our NDHWC, inference-mode extractor gives the 2304-d pooled features of pytorchvideo's own network
    (classifier removed), fed the usual NCDHW [slow, fast] pair."""
    assert slowfast.pretrained is False and slowfast.backbone_id == VIDEO_BACKBONE
    plain = backbones.build_slowfast_module().eval()
    plain.load_state_dict(slowfast.model.state_dict())
    torch.manual_seed(3)
    clip = torch.randn(1, 3, 32, 256, 256)
    ours = slowfast.clip_features(clip)
    with torch.no_grad():
        expected = plain([clip[:, :, [0, 4, 8, 13, 17, 22, 26, 31]], clip])
    assert tuple(ours.shape) == (1, 2304) and ours.dtype == torch.float32
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)
    assert (ours >= 0).all() and ours.std() > 0  # pooled after ReLU


def test_video_features_average_the_clips_of_each_window(slowfast, tmp_path, monkeypatch):
    """A 5 s rotated portrait video, 3 s windows: windows [0,3] and [2,5], one clip each. The network sees
    exactly the preprocessed frames shown at each clip's times, and each window's feature is its clips' mean."""
    path = mf.write_video(tmp_path / "phone.mp4", seconds=5.0, width=180, height=320, rotation=90)
    calls = []
    real_clip_features = slowfast.clip_features

    def spy(batch):
        out = real_clip_features(batch)
        calls.append((batch.clone(), out.clone()))
        return out

    monkeypatch.setattr(slowfast, "clip_features", spy)
    seen = []
    result = slowfast.video_features(path, window_seconds=3.0, progress=seen.append)
    assert result.starts.tolist() == [0.0, 2.0] and result.ends.tolist() == [3.0, 5.0]
    assert result.window_features.shape == (2, 2304) and result.window_features.dtype == np.float32
    assert result.clips[:, 0].tolist() == [0, 1]
    assert result.info.rotation == 90 and (result.info.width, result.info.height) == (180, 320)
    assert len(calls) == 2
    with media.VideoReader(path) as reader:
        for (batch, _), clip_start in zip(calls, result.clips[:, 1]):
            frames = reader.frames_at(backbones.clip_times(clip_start), short_side=backbones.SIDE)
            assert frames.shape[1:] == (455, 256, 3)  # portrait: the short side (width) becomes 256
            torch.testing.assert_close(batch[0], backbones.preprocess_clip(frames))
    outputs = np.stack([out[0].numpy() for _, out in calls])
    np.testing.assert_allclose(result.window_features, outputs, rtol=1e-6)
    np.testing.assert_allclose(result.features, outputs.mean(axis=0), rtol=1e-6)
    assert [p.done for p in seen] == [1, 2] and seen[-1].total == 2


def test_a_video_damaged_in_the_middle_is_analysed_around_the_damage(slowfast, tmp_path, monkeypatch):
    # The network is replaced by a cheap function of the pixels: what is tested is which clips are decoded.
    monkeypatch.setattr(slowfast, "clip_features", lambda batch: batch.mean(dim=(2, 3, 4)).repeat(1, 768))
    clean = mf.write_video(tmp_path / "clean.mp4", seconds=10.0, gop=30)
    damaged = mf.damage(shutil.copy(clean, tmp_path / "damaged.mp4"))
    whole = slowfast.video_features(clean, window_seconds=2.0)
    result = slowfast.video_features(damaged, window_seconds=2.0)
    assert (whole.skipped_clips, whole.skipped_seconds, len(whole.starts)) == (0, 0.0, 5)
    assert 1 <= result.skipped_clips < 5
    assert result.skipped_seconds == pytest.approx(result.skipped_clips * backbones.CLIP_SECONDS)
    assert len(result.starts) == len(result.window_features) == 5 - result.skipped_clips  # one clip per window
    assert result.clips[:, 0].tolist() == list(range(len(result.starts)))
    assert set(result.starts) < set(whole.starts) and result.starts[0] == 0.0 and result.ends[-1] == 10.0
    kept = np.isin(whole.starts, result.starts)
    np.testing.assert_array_equal(result.window_features, whole.window_features[kept])  # as in the clean file
    np.testing.assert_allclose(result.features, whole.window_features[kept].mean(0), rtol=1e-6)

    hopeless = mf.damage(shutil.copy(clean, tmp_path / "hopeless.mp4"), 0.1, 0.9)
    assert media.probe_video(hopeless).duration == 10.0  # the container still opens and its first frame decodes
    with pytest.raises(DecodeError, match="none of its frames could be decoded") as caught:
        slowfast.video_features(hopeless, window_seconds=2.0)
    assert caught.value.path == hopeless


def test_video_features_cancel(slowfast, tmp_path, cancelled):
    path = mf.write_video(tmp_path / "v.mp4", seconds=2.0)
    with pytest.raises(Cancelled):
        slowfast.video_features(path, cancel=cancelled)


# ================================================================================================ loading
def test_missing_weights_raise_naming_every_file():
    with pytest.raises(WeightsError) as caught:
        loading.load_extractors("cpu")
    message = str(caught.value)
    for key in (weights.SLOWFAST, weights.VGGISH):
        assert weights.REGISTRY[key].filename in message
    assert weights.DOWNLOAD_COMMAND in message and "import" in message


def test_allow_random_builds_both_without_pretending():
    slowfast, vggish = loading.load_extractors("cpu", allow_random=True, clips_per_window=2)
    assert slowfast.pretrained is False and vggish.pretrained is False
    assert slowfast.clips_per_window == 2
    assert slowfast.device == torch.device("cpu") == vggish.device


def test_load_extractors_uses_a_cached_checkpoint(tmp_path):
    """A SlowFast checkpoint in the official layout ({'model_state': ...}) imported into the cache is loaded
    (``pretrained`` True); VGGish, still missing, stays random only because the caller allowed it."""
    torch.manual_seed(5)
    donor = backbones.build_slowfast_module(with_head=True)
    checkpoint = tmp_path / "SLOWFAST_8x8_R50.pyth"
    torch.save({"model_state": donor.state_dict()}, checkpoint)
    weights.import_file(weights.SLOWFAST, checkpoint)
    slowfast, vggish = loading.load_extractors("cpu", allow_random=True)
    assert slowfast.pretrained is True and vggish.pretrained is False
    torch.testing.assert_close(slowfast.model.blocks[0].multipathway_blocks[0].conv.weight, donor.blocks[0].multipathway_blocks[0].conv.weight)
    with pytest.raises(WeightsError, match=weights.REGISTRY[weights.VGGISH].filename):
        loading.load_extractors("cpu")


def test_select_device():
    assert loading.select_device("cpu") == torch.device("cpu")
    assert loading.select_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
