"""The backbones' fast precision: where it applies, how far it moves features, and that retrieval cannot tell.

The bounds below are the measured figures with a margin (benchmarks/bench_precision.py prints them; see
docs/engine-features.md): random-init backbones (pretrained weights cannot be downloaded here), varied inputs.
On a CPU without native bf16, fast *is* fp32 and the tests assert identical features instead.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emomv_desktop.engine import backbones, paths
from emomv_desktop.engine.backbones import Precision
from emomv_desktop.engine.model import load_model
from tests import fidelity

MIN_COSINE = 0.9999
"""Per-frame / per-clip cosine of fast to exact: measured min 0.999995 (VGGish), 0.99999 (SlowFast)."""
MAX_ROW_ERROR = 0.01
"""Per-row relative error |fast - exact| / |exact|: measured max 3.2e-3 (VGGish), 4.6e-3 (SlowFast)."""
MAX_MAP_CHANGE = 0.5
"""Retrieval mAP (percent) under the worst-case perturbation of one side's features (every element moved by
the largest relative error measured for elements of its size): measured <= 0.18 points (music)."""
MIN_TOP10_OVERLAP = 0.9
"""Mean share of each query's top 10 kept under that perturbation (measured 0.956-0.968)."""


def test_fast_means_half_precision_only_where_the_hardware_has_it(monkeypatch):
    assert backbones.compute_dtype("cpu", Precision.EXACT) == torch.float32
    assert backbones.compute_dtype("cuda", Precision.EXACT) == torch.float32
    assert backbones.compute_dtype("cuda", Precision.FAST) == torch.float16  # the CUDA path: fp16 autocast
    assert backbones.compute_dtype("cuda:1", "fast") == torch.float16
    monkeypatch.setattr(backbones, "cpu_has_native_bf16", lambda: True)
    assert backbones.compute_dtype("cpu") == torch.bfloat16
    monkeypatch.setattr(backbones, "cpu_has_native_bf16", lambda: False)
    assert backbones.compute_dtype("cpu", "fast") == torch.float32  # emulated bf16 would be slower: fp32
    with pytest.raises(ValueError):
        backbones.compute_dtype("cpu", "half")


@pytest.mark.parametrize("flags, native", [
    ("fpu sse avx2 avx512f avx512bw avx512_vnni", False),  # AVX-512 without BF16: oneDNN would emulate it
    ("fpu avx512f avx512_bf16 avx512_vnni", True),
    ("fpu avx2 amx_bf16 amx_tile", True),
])
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, flags, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: x\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    assert backbones.cpu_has_native_bf16(cpuinfo) is native
    assert backbones.cpu_has_native_bf16(tmp_path / "absent") is False


def test_the_error_model_moves_every_element_as_measured_for_its_size():
    """A measurement where every value moved by +1% (zeros stayed zero) moves every value of any size by 1%."""
    exact = torch.tensor([[4.0, 0.3, 0.02, 1e-3, 2e-5, 0.0], [1.0, 0.5, 0.0, 0.0, 0.0, 0.0]])
    measured = fidelity.Fidelity.of(exact * 1.01, exact)
    features = torch.tensor([[10.0, 1.0, 0.1, 0.01, 1e-4, 1e-6, 0.0]])
    for worst in (False, True):
        moved = fidelity.perturb(features, measured, np.random.default_rng(0), worst=worst)
        nonzero = features != 0
        change = (moved[nonzero] / features[nonzero] - 1).abs()  # worst: the largest |error|, either sign
        torch.testing.assert_close(change, torch.full_like(change, 0.01), rtol=1e-4, atol=1e-6)
        assert moved[~nonzero].abs().max() == 0


@pytest.fixture(scope="module")
def vggish_pair():
    return fidelity.vggish_pair(seed=0)


@pytest.fixture(scope="module")
def music_fidelity(vggish_pair):
    return fidelity.vggish_fidelity(*vggish_pair, fidelity.audio_signals(seconds=8.0))


@pytest.fixture(scope="module")
def video_fidelity():
    clips = fidelity.video_clips()
    return fidelity.slowfast_fidelity(*fidelity.slowfast_pair(seed=0), {k: clips[k] for k in ("textured pan", "black")})


def test_extractors_say_what_they_compute_in(vggish_pair):
    fast, exact = vggish_pair
    assert exact.precision == "fp32" and exact.compute_dtype == torch.float32
    assert fast.precision == ("bf16" if backbones.cpu_has_native_bf16() else "fp32")
    assert fast.compute_dtype == backbones.compute_dtype("cpu", Precision.FAST)


def _check(fidelities: dict[str, fidelity.Fidelity], fast_dtype: torch.dtype) -> None:
    for name, fid in fidelities.items():
        if fast_dtype == torch.float32:  # no native bf16 here: fast is exactly the fp32 path
            assert fid.relative_error.max() == 0, name
            continue
        assert fid.cosine.min() >= MIN_COSINE, (name, fid.summary())
        assert fid.relative_error.max() <= MAX_ROW_ERROR, (name, fid.summary())
        assert fid.relative_error.max() > 0, name  # it really ran in another precision


def test_vggish_fast_features_stay_within_the_bound_on_varied_audio(vggish_pair, music_fidelity):
    assert set(music_fidelity) >= {"music 1", "white noise", "pink noise", "silence", "speech-like"}
    _check(music_fidelity, vggish_pair[0].compute_dtype)


def test_slowfast_fast_features_stay_within_the_bound(video_fidelity):
    _check(video_fidelity, backbones.compute_dtype("cpu"))


def _worst_case(emomv_data, dataset, *, music_errors, video_errors, worst: bool = True,
                draw: int = 0) -> fidelity.RetrievalShift:
    """The shipped model's retrieval shift when each side is moved by its measured errors (``None``: not moved),
    in the worst case or, with ``worst=False``, by errors drawn with seed ``draw``."""
    from training.data import load_retrieval

    model, _ = load_model(paths.model_path())
    items = load_retrieval(emomv_data, dataset)
    rng = np.random.default_rng(draw)
    perturbed = [items.video if video_errors is None else fidelity.perturb(items.video, video_errors, rng, worst=worst),
                 items.music if music_errors is None else fidelity.perturb(items.music, music_errors, rng, worst=worst)]
    return fidelity.retrieval_shift(model, items.video, items.music, items.labels, *perturbed)


@pytest.mark.parametrize("dataset", ["B", "C"])
def test_the_retrieval_cannot_tell_fast_music_features_from_exact_ones(emomv_data, music_fidelity, dataset):
    """The released music features (pretrained VGGish), every element moved by the largest relative error
    measured above for elements of its size (a random sign each): the shipped model's mAP and top-10 lists
    stay put. This is what makes ``FAST`` VGGish's default (the library's features)."""
    errors = fidelity.Fidelity.concatenate(list(music_fidelity.values()))
    shift = _worst_case(emomv_data, dataset, music_errors=errors, video_errors=None)
    assert shift.map_v2m[0] > 50  # the shipped model retrieves (constant ranking: ~45)
    assert shift.max_map_change <= MAX_MAP_CHANGE, shift
    assert shift.top10_overlap.mean() >= MIN_TOP10_OVERLAP, shift.top10_overlap


@pytest.mark.parametrize("dataset", ["B", "C"])
def test_the_floored_video_standardiser_keeps_drawn_bf16_errors_within_the_bound(emomv_data, video_fidelity, dataset):
    """The released video features moved by errors drawn from the measured distribution (3 draws): the shipped
    model, whose video spread is floored (docs/model.md), keeps its mAP and top-10 lists (before the floor: up to
    1.2 points, and some queries lost their whole top 10)."""
    if backbones.compute_dtype("cpu") == torch.float32:
        return  # no bf16 here: nothing to measure
    errors = fidelity.Fidelity.concatenate(list(video_fidelity.values()))
    for draw in range(3):
        shift = _worst_case(emomv_data, dataset, music_errors=None, video_errors=errors, worst=False, draw=draw)
        assert shift.max_map_change <= MAX_MAP_CHANGE, shift
        assert shift.top10_overlap.mean() >= MIN_TOP10_OVERLAP and shift.top10_overlap.min() >= 0.5, shift


def test_slowfast_stays_exact_by_default_because_the_shipped_model_can_tell(emomv_data, video_fidelity):
    """The worst case on the video side (every element moved by the largest relative error measured for its
    size): the floor removed the collapse (the unfloored model lost 25-38 mAP points) but on one of the sets the
    mAP or the top-10 lists still move by more than the bound, so SlowFast defaults to fp32. If a model
    within the bound on both sets ships, this fails: then make ``FAST`` SlowFast's default too."""
    torch.manual_seed(0)
    assert backbones.SlowFastExtractor.build(None, "cpu", clips_per_window=1).compute_dtype == torch.float32
    if backbones.compute_dtype("cpu") == torch.float32:
        return  # no bf16 here: nothing to measure
    errors = fidelity.Fidelity.concatenate(list(video_fidelity.values()))
    shifts = [_worst_case(emomv_data, dataset, music_errors=None, video_errors=errors) for dataset in ("B", "C")]
    assert all(s.max_map_change <= 3 for s in shifts), shifts  # no collapse
    assert any(s.max_map_change > MAX_MAP_CHANGE or s.top10_overlap.mean() < MIN_TOP10_OVERLAP for s in shifts), shifts


def test_the_library_records_each_tracks_precision(tmp_path, vggish_pair):
    """The indexer stores how each track's features were computed; re-indexed exact, the record follows."""
    from emomv_desktop.engine.indexer import index_library
    from emomv_desktop.engine.library import Library
    from tests import media_factory as mf

    fast, exact = vggish_pair
    folder = tmp_path / "music"
    folder.mkdir()
    mf.write_audio(folder / "a.flac", seconds=3.0)
    with Library(tmp_path / "lib.sqlite3") as library:
        index_library(library, fast, folders=[folder])
        assert [t.precision for t in library.tracks()] == [fast.precision]
        mf.write_audio(folder / "a.flac", seconds=4.0)  # changed: indexed again, exact this time
        index_library(library, exact, folders=[folder])
        assert [t.precision for t in library.tracks()] == ["fp32"]
