"""engine.media on real generated files: every audio format, awkward videos, the bad-input set."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import resampy
import soundfile as sf
from torchvggish import vggish_input

from emomv_desktop.engine import media
from emomv_desktop.engine.errors import DecodeError
from tests import media_factory as mf

RATE = 16_000


@pytest.fixture(scope="module")
def audio_set(tmp_path_factory) -> dict[str, Path]:
    return mf.write_audio_set(tmp_path_factory.mktemp("audio"), seconds=3.0)


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    files = mf.write_bad_inputs(folder)
    yield files
    (folder / "locked").chmod(0o755)  # let pytest clean up


def reference_log_mel(signal: np.ndarray, rate: int) -> np.ndarray:
    """torchvggish's own frontend: channel mean, resampy kaiser_best, numpy log-mel."""
    return vggish_input.waveform_to_examples(signal.astype(np.float64), rate, return_tensor=False)


def ours_log_mel(audio: np.ndarray) -> np.ndarray:
    return vggish_input.waveform_to_examples(audio.astype(np.float64), RATE, return_tensor=False)


# ------------------------------------------------------------------------------------------------ audio formats
# Mean |log-mel difference| from torchvggish's reference pipeline run on the *source* signal: the lossless
# formats only differ by our resampler (swresample vs resampy kaiser_best, measured ~0.0035 mean); lossy codecs
# add their own error (measured 0.07-0.16 on this signal).
LOSSLESS = {"wav", "flac", "alac"}


@pytest.mark.parametrize("fmt", list(mf.AUDIO_FORMATS))
def test_every_format_decodes_to_mono_16k_with_tags(audio_set, fmt):
    path = audio_set[fmt]
    info = media.probe_audio(path)
    assert info.path == path
    assert (info.title, info.artist, info.album) == ("Test Tone", "EmoMV Tests", "Generated")
    assert info.channels == 2
    assert info.duration == pytest.approx(3.0, abs=0.05)
    audio = media.load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == pytest.approx(3.0 * RATE, abs=0.03 * RATE)  # AAC adds its priming samples
    source_rate = mf.AUDIO_FORMATS[fmt].rate_for(44_100)
    expected = reference_log_mel(mf.music_signal(3.0, source_rate, 2).mean(axis=1), source_rate)
    got = ours_log_mel(audio)
    n = min(len(expected), len(got))
    deviation = np.abs(got[:n] - expected[:n]).mean()
    assert deviation < (0.01 if fmt in LOSSLESS else 0.25), f"{fmt}: mean log-mel deviation {deviation:.4f}"


def test_pyav_and_soundfile_paths_agree_on_lossless_audio(audio_set):
    """ALAC (decoded by FFmpeg) and FLAC (libsndfile) hold the same samples: same 16 kHz output."""
    flac, alac = media.load_audio(audio_set["flac"]), media.load_audio(audio_set["alac"])
    assert len(flac) == len(alac)
    np.testing.assert_allclose(alac, flac, atol=1e-6)


def test_mono_is_the_channel_mean_not_ffmpegs_louder_downmix(tmp_path):
    """torchvggish averages channels; FFmpeg's stereo->mono weights each by 0.707 (+3 dB)."""
    left = mf.music_signal(2.0, RATE, 1)[:, 0]
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    path = mf.write_audio(tmp_path / "left-only.flac", data=stereo, sample_rate=RATE)
    np.testing.assert_allclose(media.load_audio(path), left / 2, atol=1e-4)


# ------------------------------------------------------------------------------------------------ streaming
@pytest.mark.parametrize("fmt", ["flac", "m4a"])
def test_streamed_blocks_join_without_seams(audio_set, fmt):
    """Tiny odd-sized blocks give exactly the samples of big blocks: the resampler state crosses borders."""
    path = audio_set[fmt]
    small = list(media.iter_audio(path, block_seconds=0.0371))
    big = list(media.iter_audio(path, block_seconds=60.0))
    assert len(big) == 1 and len(small) > 50
    assert all(len(b) == len(small[0]) for b in small[:-1])  # every block but the last has the asked size
    np.testing.assert_array_equal(np.concatenate(small), big[0])


def test_resampler_is_continuous_across_pushes():
    """MonoResampler fed in random-sized pieces equals one push of the whole signal."""
    signal = mf.music_signal(2.0, 44_100, 1)[:, 0]
    whole = media.MonoResampler(44_100)
    expected = np.concatenate([whole.push(signal), whole.flush()])
    pieces = media.MonoResampler(44_100)
    cuts = np.sort(np.random.default_rng(3).choice(len(signal), 40, replace=False))
    got = np.concatenate([pieces.push(p) for p in np.split(signal, cuts)] + [pieces.flush()])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert len(got) == pytest.approx(2.0 * RATE, abs=2)


def test_resampler_choice_stays_close_to_the_reference():
    """The measured choice (docs/engine-features.md): swresample moves VGGish's log-mel input from
    torchvggish's resampy kaiser_best by < 0.01 on average and less than scipy's resample_poly does."""
    from scipy.signal import resample_poly

    signal = mf.music_signal(20.0, 44_100, 1)[:, 0]
    reference = ours_log_mel(resampy.resample(signal.astype(np.float64), 44_100, RATE, filter="kaiser_best"))
    resampler = media.MonoResampler(44_100)
    ours = ours_log_mel(np.concatenate([resampler.push(signal), resampler.flush()]))
    scipy_poly = ours_log_mel(resample_poly(signal.astype(np.float64), 160, 441))
    ours_dev = np.abs(ours - reference).mean()
    scipy_dev = np.abs(scipy_poly - reference).mean()
    assert ours_dev < 0.01
    assert ours_dev < scipy_dev


def test_long_file_is_streamed_with_bounded_memory(tmp_path):
    """A 3-minute 48 kHz stereo file never sits in memory whole: peak allocations stay at a few blocks."""
    path = tmp_path / "long.wav"
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", samplerate=48_000, channels=2, subtype="PCM_16") as out:
        for _ in range(18):
            out.write((rng.standard_normal((480_000, 2)) * 0.1).astype(np.float32))
    whole_bytes = 180 * 48_000 * 2 * 4  # what decoding it whole as float32 would take: 69 MB
    tracemalloc.start()
    try:
        total = sum(block.size for block in media.iter_audio(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == pytest.approx(180 * RATE, abs=2)
    assert peak < whole_bytes / 10, f"peak {peak / 1e6:.1f} MB"


def test_load_audio_excerpt_matches_the_stream(audio_set):
    path = audio_set["wav"]
    whole = media.load_audio(path)
    excerpt = media.load_audio(path, start=1.0, duration=0.5)
    assert len(excerpt) == RATE // 2
    # Resampling restarts at the excerpt: compare away from its first filter length.
    np.testing.assert_allclose(excerpt[200:], whole[RATE + 200 : RATE + RATE // 2], atol=2e-3)


def test_load_audio_excerpt_through_ffmpeg(audio_set):
    whole = media.load_audio(audio_set["alac"])
    excerpt = media.load_audio(audio_set["alac"], start=2.0, duration=0.25)
    assert len(excerpt) == RATE // 4
    np.testing.assert_allclose(excerpt[200:], whole[2 * RATE + 200 : 2 * RATE + RATE // 4], atol=2e-3)


# ------------------------------------------------------------------------------------------------ bad inputs
@pytest.mark.parametrize(
    "name", [n for n, fragment in mf.BAD_INPUT_ERRORS.items() if fragment and n not in {"unreadable_dir", "no_video_mp4"}]
)
def test_bad_audio_raises_decode_error_with_path_and_reason(bad_inputs, name):
    path = bad_inputs[name]
    with pytest.raises(DecodeError) as caught:
        media.load_audio(path)
    assert caught.value.path == path
    assert mf.BAD_INPUT_ERRORS[name] in caught.value.reason
    assert str(path) in str(caught.value)


def test_eight_channel_96k_wav_is_downmixed(bad_inputs):
    path = bad_inputs["multichannel_96k"]
    info = media.probe_audio(path)
    assert (info.channels, info.sample_rate) == (8, 96_000)
    audio = media.load_audio(path)
    assert len(audio) == pytest.approx(4.0 * RATE, abs=2)
    expected = resampy.resample(mf.music_signal(4.0, 96_000, 8).mean(axis=1).astype(np.float64), 96_000, RATE)
    assert np.corrcoef(audio[1000:-1000], expected[1000:-1000])[0, 1] > 0.999


def test_non_utf8_file_name_decodes(bad_inputs):
    path = bad_inputs["non_utf8_name"]
    assert os.fsencode(path.name) == mf.NON_UTF8_NAME
    assert media.probe_audio(path).path == path
    assert len(media.load_audio(path)) == pytest.approx(4.0 * RATE, abs=2)


def test_audio_only_mp4_is_audio_but_no_video(bad_inputs):
    path = bad_inputs["no_video_mp4"]
    assert len(media.load_audio(path)) > RATE
    with pytest.raises(DecodeError, match="no video stream") as caught:
        media.probe_video(path)
    assert caught.value.path == path
    with pytest.raises(DecodeError, match="no video stream"):
        media.read_frames(path, [0.0])


def test_video_file_without_audio_is_not_music(tmp_path):
    path = mf.write_video(tmp_path / "silent.mp4", seconds=1.0)
    with pytest.raises(DecodeError, match="no audio stream"):
        media.load_audio(path)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda d: d / "missing.flac", "not found"),
        (lambda d: d, "is a folder"),
    ],
    ids=["missing", "directory"],
)
def test_missing_file_and_folder(tmp_path, make, fragment):
    path = make(tmp_path)
    for call in (media.probe_audio, media.load_audio, media.probe_video):
        with pytest.raises(DecodeError, match=fragment):
            call(path)


def test_unreadable_file_says_permission_denied(bad_inputs):
    """Root reads anything, so as root the check runs in a child without the permission-override capability."""
    path = bad_inputs["unreadable_dir"]
    code = (
        "import sys; from emomv_desktop.engine import media; from emomv_desktop.engine.errors import DecodeError\n"
        "try:\n    media.load_audio(sys.argv[1])\nexcept DecodeError as e:\n    print(e.reason)\n"
    )
    command = [sys.executable, "-c", code, str(path)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "running as root needs util-linux's setpriv to drop the permission override"
        command = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *command]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=True)
    assert "permission denied" in result.stdout


# ------------------------------------------------------------------------------------------------ video
VIDEO_CASES = {
    "landscape": dict(width=320, height=240),
    "portrait": dict(width=240, height=426),
    "odd-size": dict(width=321, height=179),
    "rotated-90": dict(width=240, height=320, rotation=90),
    "rotated-180": dict(width=320, height=240, rotation=180),
    "rotated-270": dict(width=180, height=320, rotation=270),
    "with-audio": dict(width=320, height=240, with_audio=True),
}


@pytest.mark.parametrize("case", list(VIDEO_CASES))
def test_video_probe_and_upright_frames(tmp_path, case):
    kwargs = VIDEO_CASES[case]
    path = mf.write_video(tmp_path / f"{case}.mp4", seconds=2.0, fps=30, **kwargs)
    info = media.probe_video(path)
    assert (info.width, info.height) == (kwargs["width"], kwargs["height"])
    assert info.rotation == kwargs.get("rotation", 0)
    assert info.fps == pytest.approx(30.0)
    assert info.frame_count == 60
    assert info.duration == pytest.approx(2.0, abs=0.05)
    assert info.has_audio == kwargs.get("with_audio", False)
    times = [0.0, 0.02, 0.5, 1.0, 1.99, 5.0]
    frames = media.read_frames(path, times)
    assert frames.shape == (len(times), kwargs["height"], kwargs["width"], 3)
    assert [mf.frame_index_of(f) for f in frames] == [0, 0, 15, 30, 59, 59]
    h, w = frames.shape[1:3]
    marker = frames[:, : h // 10, : w // 6].mean()
    assert marker > 200, "the marker block must be top-left once the rotation is applied"
    scaled = media.read_frames(path, [1.0], short_side=256)[0]
    assert min(scaled.shape[:2]) == 256
    assert scaled.shape[1] / scaled.shape[0] == pytest.approx(w / h, rel=0.01)
    assert mf.frame_index_of(scaled) == 30


def test_variable_frame_rate_is_sampled_by_timestamps(tmp_path):
    times = mf.vfr_times(4.0)
    path = mf.write_video(tmp_path / "vfr.mp4", frame_times=times)
    info = media.probe_video(path)
    assert info.frame_count == len(times)
    wanted = np.linspace(0.0, 3.9, 40)
    frames = media.read_frames(path, wanted)
    expected = np.searchsorted(np.asarray(times), wanted + 1e-9, side="right") - 1
    assert [mf.frame_index_of(f) for f in frames] == expected.tolist()
    # index / fps would be wrong here: the average rate mixes 30 and 8 fps stretches.
    assert expected[-1] != int(3.9 * info.fps)


def test_unordered_and_repeated_times(tmp_path):
    path = mf.write_video(tmp_path / "v.mp4", seconds=2.0)
    frames = media.read_frames(path, [1.5, 0.1, 1.5, 0.0])
    assert [mf.frame_index_of(f) for f in frames] == [45, 3, 45, 0]


def test_far_apart_clips_decode_only_what_they_need(tmp_path):
    """Clips far apart in a long video: the reader seeks to the keyframe before each, decoding a fraction
    of the frames, and returns exactly what a full sequential decode returns."""
    path = mf.write_video(tmp_path / "long.mp4", seconds=60.0, fps=10, width=128, height=96, gop=20)
    clip_starts = [2.0, 20.0, 41.0, 55.0]
    times = [t + i * 0.1 for t in clip_starts for i in range(8)]
    with media.VideoReader(path) as reader:
        seeking = np.concatenate([reader.frames_at(times[i * 8 : (i + 1) * 8]) for i in range(4)])
        decoded, seeks = reader.decoded_frames, reader.seeks
    with media.VideoReader(path, seek_gap=float("inf")) as reader:
        sequential = reader.frames_at(times)
        decoded_all = reader.decoded_frames
    np.testing.assert_array_equal(seeking, sequential)
    assert [mf.frame_index_of(f) for f in seeking] == [round(t * 10) for t in times]
    assert seeks >= 3
    assert decoded < decoded_all / 3, f"decoded {decoded} frames with seeking, {decoded_all} without"


def test_reader_serves_earlier_times_after_later_ones(tmp_path):
    path = mf.write_video(tmp_path / "v.mp4", seconds=3.0, gop=15)
    with media.VideoReader(path) as reader:
        late = reader.frames_at([2.5])
        early = reader.frames_at([0.2])
    assert (mf.frame_index_of(late[0]), mf.frame_index_of(early[0])) == (75, 6)


def test_reader_serves_frames_after_a_damaged_stretch(tmp_path):
    path = mf.damage(mf.write_video(tmp_path / "damaged.mp4", seconds=10.0, gop=30))
    with media.VideoReader(path) as reader:
        with pytest.raises(DecodeError, match="corrupt"):
            for t in np.arange(0.0, 10.0, 0.5):
                reader.frames_at([t])
        assert 3.0 < t < 7.0  # the damage is in the middle
        assert mf.frame_index_of(reader.frames_at([9.0])[0]) == 270


@pytest.mark.parametrize("name", ["zero_byte", "text_as_mp3", "truncated_m4a"])
def test_bad_files_as_video(bad_inputs, name):
    with pytest.raises(DecodeError) as caught:
        media.probe_video(bad_inputs[name])
    assert caught.value.path == bad_inputs[name]




def test_vbr_mp3_without_length_header_is_not_called_truncated(tmp_path):
    """A VBR mp3 starting with silence and without Xing/Info header: decoders estimate its length from the
    first (low-bitrate) frame, far too long. Decoding less than that estimate is no evidence of truncation,
    so the valid file must decode without error; with the header, a real cut is still reported."""
    signal = np.concatenate([np.zeros((44_100, 2)), mf.music_signal(4.0, 44_100, 2)]).astype(np.float32)
    path = tmp_path / "vbr.mp3"
    with open(path, "wb") as handle, sf.SoundFile(
        handle, "w", 44_100, 2, format="MP3", subtype="MPEG_LAYER_III", bitrate_mode="VARIABLE", compression_level=0.0
    ) as out:
        out.write(signal)
    data = path.read_bytes()
    marker = max(data.find(b"Info", 0, 4096), data.find(b"Xing", 0, 4096))
    assert marker > 0, "LAME (libsndfile's mp3 encoder) writes a Xing/Info header"
    headerless = tmp_path / "vbr-headerless.mp3"
    headerless.write_bytes(data[:marker] + b"XXXX" + data[marker + 4 :])
    assert media.probe_audio(headerless).duration > 6.0  # the premise: a wrong, too long estimate
    assert len(media.load_audio(headerless)) == pytest.approx(5.0 * RATE, rel=0.02)
    (tmp_path / "cut.mp3").write_bytes(data[: len(data) // 2])
    with pytest.raises(DecodeError, match="truncated"):
        media.load_audio(tmp_path / "cut.mp3")
