"""How far the backbones' fast precision moves features, and whether the retrieval can tell.

Shared by ``tests/engine/test_precision.py`` (which asserts the bounds) and ``benchmarks/bench_precision.py``
(which prints the figures quoted in docs/engine-features.md).

1. **Per-frame fidelity**: the same network (same weights) at ``Precision.EXACT`` and ``Precision.FAST`` on
   varied inputs; per row, the cosine and the relative error ``|fast - exact| / |exact|``.
2. **Retrieval**: the released EmoMV features (pretrained backbones) perturbed by the measured error
   distribution, then the shipped model's retrieval mAP (both directions) and each query's top-10 compared
   with the unperturbed ones. The error model is empirical, per element, by the element's size within its row
   (``|x| / max|x|``, in decades :data:`SCALE_EDGES`): a feature value ``x`` becomes ``x * (1 + e)``, ``e``
   drawn from the relative errors measured on elements of the same decade (a value that was exactly 0 gets the
   measured error of exact zeros, relative to the row's largest); the worst case gives every element the
   largest ``|e|`` of its decade, with a random sign. Large values keep bf16's ~3 digits; small ones carry the
   larger relative error measured on small ones. Noise of the same norm in random directions is *not* a model of
   it: the shipped model standardises SlowFast dimensions whose spread over the training data is ~1e-7 (values
   ~1e-8) and would amplify any absolute noise there by 1e7.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from emomv_desktop.engine import backbones
from tests import media_factory as mf

RATE = 16_000


# ------------------------------------------------------------------------------------------------ signals
def speech_like(seconds: float, rate: int = RATE, *, seed: int = 0) -> np.ndarray:
    """A voiced pulse train (pitch gliding 90-220 Hz) through three moving formants, in syllables of ~0.2 s
    with pauses, plus breath noise: the spectral shape of speech without a recording."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = 150 + 60 * np.sin(2 * np.pi * 0.7 * t) + 20 * rng.standard_normal() * np.sin(2 * np.pi * 3.1 * t)
    phase = np.cumsum(pitch) / rate
    pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(np.float64)
    voice = np.zeros_like(t)
    for base, depth, speed in ((500, 250, 2.3), (1500, 600, 3.7), (2500, 400, 1.9)):
        centre = base + depth * np.sin(2 * np.pi * speed * t + rng.uniform(0, 6.28))
        ring = np.exp(-np.arange(200) / 40.0)  # a resonance: decaying sinusoid at the (slowly moving) formant
        carrier = np.sin(2 * np.pi * np.cumsum(centre) / rate)
        voice += np.convolve(pulses, ring, mode="same") * carrier
    syllables = (np.sin(2 * np.pi * 2.5 * t) > -0.3) * (rng.random(int(seconds) + 1)[t.astype(int)] > 0.2)
    signal = voice * syllables + 0.02 * rng.standard_normal(t.size)
    return (signal / np.abs(signal).max() * 0.7).astype(np.float32)


def pink_noise(seconds: float, rate: int = RATE, *, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(int(seconds * rate)))
    spectrum[1:] /= np.sqrt(np.arange(1, spectrum.size))
    signal = np.fft.irfft(spectrum, int(seconds * rate))
    return (signal / np.abs(signal).max() * 0.7).astype(np.float32)


def audio_signals(seconds: float = 20.0) -> dict[str, np.ndarray]:
    """Varied mono 16 kHz inputs: music-like (three seeds), white and pink noise, silence, near-silence,
    speech-like."""
    rng = np.random.default_rng(11)
    n = int(seconds * RATE)
    return {
        **{f"music {s}": mf.music_signal(seconds, RATE, 1, seed=s)[:, 0] for s in (1, 2, 3)},
        "white noise": (0.3 * rng.standard_normal(n)).astype(np.float32),
        "pink noise": pink_noise(seconds, seed=4),
        "silence": np.zeros(n, np.float32),
        "near-silence (-70 dBFS hiss)": (3e-4 * rng.standard_normal(n)).astype(np.float32),
        "speech-like": speech_like(seconds, seed=5),
    }


def video_clips(count_per_kind: int = 1) -> dict[str, torch.Tensor]:
    """Varied preprocessed (1, 3, 32, 256, 256) clips: a textured pan with a moving object, noise, black, a
    moving gradient (the inputs of ``SlowFastExtractor.clip_features``)."""
    rng = np.random.default_rng(3)
    t = np.arange(backbones.FAST_FRAMES)[:, None, None, None]
    coarse = rng.integers(0, 255, (24, 40, 3), dtype=np.uint8)
    scene = np.kron(coarse, np.ones((16, 16, 1), np.uint8))
    pan = np.stack([scene[(i // 3) % 64 : (i // 3) % 64 + 256, 2 * i : 2 * i + 256] for i in range(32)]).copy()
    pan[:, 100:160, 60:120] = (230, 60, 40)
    y, x = np.mgrid[0:256, 0:256]
    gradient = ((x[None, :, :, None] + 4 * t + y[None, :, :, None]) % 256).repeat(3, axis=3)
    kinds = {
        "textured pan": pan,
        "noise": rng.integers(0, 255, (32, 256, 256, 3), dtype=np.uint8),
        "black": np.zeros((32, 256, 256, 3), np.uint8),
        "moving gradient": gradient.astype(np.uint8),
    }
    return {name: backbones.preprocess_clip(frames).unsqueeze(0) for name, frames in kinds.items()}


# --------------------------------------------------------------------------------------------- fidelity
@dataclasses.dataclass(frozen=True)
class Fidelity:
    """Per-row agreement of fast vs exact features."""

    cosine: np.ndarray
    relative_error: np.ndarray
    """Per row, ``|fast - exact| / |exact|``."""
    element_scale: np.ndarray
    """Per element, ``|exact| / max|exact|`` of its row (0 for an exact zero)."""
    element_errors: np.ndarray
    """Per element, the signed ``fast / exact - 1`` (for an exact zero: ``fast / max|exact|`` of its row)."""

    @classmethod
    def of(cls, fast: torch.Tensor, exact: torch.Tensor) -> "Fidelity":
        fast, exact = fast.double(), exact.double()
        cosine = torch.nn.functional.cosine_similarity(fast, exact, dim=1, eps=1e-30)
        norm = exact.norm(dim=1).clamp_min(1e-30)
        peak = exact.abs().amax(dim=1, keepdim=True).clamp_min(1e-30)
        zero = exact == 0
        errors = torch.where(zero, fast / peak, fast / torch.where(zero, 1.0, exact) - 1)
        return cls(cosine.numpy(), ((fast - exact).norm(dim=1) / norm).numpy(),
                   (exact.abs() / peak).flatten().numpy(), errors.flatten().numpy())

    @classmethod
    def concatenate(cls, parts: list["Fidelity"]) -> "Fidelity":
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls)))

    def decades(self) -> list[np.ndarray]:
        """The measured element errors of each decade of :data:`SCALE_EDGES` (exact zeros first)."""
        index = _decade(self.element_scale)
        return [self.element_errors[index == k] for k in range(len(SCALE_EDGES) + 2)]

    def summary(self) -> str:
        big = np.abs(self.element_errors[self.element_scale >= 0.1])
        return (f"cosine min {self.cosine.min():.6f} median {np.median(self.cosine):.6f}; row rel. error"
                f" median {np.median(self.relative_error):.1e} max {self.relative_error.max():.1e};"
                f" elements >= 0.1 of row max: |rel. error| median {np.median(big):.1e} max {big.max():.1e}")


SCALE_EDGES = (1e-4, 1e-3, 1e-2, 1e-1)
"""Decades of ``|x| / max|x|`` within which the error model draws: [0] exact zeros, [1] (0, 1e-4), [2] [1e-4,
1e-3), [3] [1e-3, 1e-2), [4] [1e-2, 0.1), [5] [0.1, 1]."""


def _decade(scale: np.ndarray) -> np.ndarray:
    return np.where(scale == 0, 0, 1 + np.searchsorted(SCALE_EDGES, scale, side="right"))


def vggish_pair(seed: int = 0) -> tuple[backbones.VGGishExtractor, backbones.VGGishExtractor]:
    """(fast, exact) VGGish extractors with the same random weights."""
    torch.manual_seed(seed)
    exact = backbones.VGGishExtractor.build(None, "cpu", precision=backbones.Precision.EXACT)
    fast = backbones.VGGishExtractor.build(exact.model.state_dict(), "cpu", precision=backbones.Precision.FAST)
    return fast, exact


def slowfast_pair(seed: int = 0) -> tuple[backbones.SlowFastExtractor, backbones.SlowFastExtractor]:
    """(fast, exact) SlowFast extractors with the same random weights (the full network, classifier dropped)."""
    torch.manual_seed(seed)
    state = backbones.build_slowfast_module(with_head=True).state_dict()  # both load it (the exact one fused)
    exact = backbones.SlowFastExtractor.build(state, "cpu", precision=backbones.Precision.EXACT)
    fast = backbones.SlowFastExtractor.build(state, "cpu", precision=backbones.Precision.FAST)
    exact.pretrained = fast.pretrained = False  # random weights, whatever build inferred from the state dict
    return fast, exact


def vggish_fidelity(fast, exact, signals: dict[str, np.ndarray]) -> dict[str, Fidelity]:
    out = {}
    for name, signal in signals.items():
        examples = exact.log_mel(signal)
        out[name] = Fidelity.of(fast.embed(examples), exact.embed(examples))
    return out


def slowfast_fidelity(fast, exact, clips: dict[str, torch.Tensor]) -> dict[str, Fidelity]:
    return {name: Fidelity.of(fast.clip_features(clip), exact.clip_features(clip)) for name, clip in clips.items()}


# -------------------------------------------------------------------------------------------- retrieval
def perturb(features: torch.Tensor, measured: Fidelity, rng: np.random.Generator, *,
            worst: bool = False) -> torch.Tensor:
    """``features`` with every element moved as elements of its decade moved in ``measured`` (see the module
    docstring); ``worst``: by the largest error of its decade, with a random sign."""
    x = features.double().numpy()
    peak = np.abs(x).max(axis=1, keepdims=True)
    index = _decade(np.abs(x) / np.where(peak > 0, peak, 1.0))
    decades = measured.decades()
    out = x.copy()
    for k, errors in enumerate(decades):
        where = index == k
        if not where.any():
            continue
        if not len(errors):  # a decade the measurement never saw: the nearest one's errors
            errors = decades[min((j for j, e in enumerate(decades) if len(e)), key=lambda j, k=k: abs(j - k))]
        e = (np.abs(errors).max() * rng.choice([-1.0, 1.0], size=where.sum())) if worst else rng.choice(errors, where.sum())
        out[where] = (peak * np.ones_like(x))[where] * e if k == 0 else x[where] * (1 + e)
    return torch.from_numpy(out).float()


@dataclasses.dataclass(frozen=True)
class RetrievalShift:
    """mAP (percent) before/after, both directions, and the per-query top-10 overlap (0..1) of v2m."""

    map_v2m: tuple[float, float]
    map_m2v: tuple[float, float]
    top10_overlap: np.ndarray

    @property
    def max_map_change(self) -> float:
        return max(abs(self.map_v2m[1] - self.map_v2m[0]), abs(self.map_m2v[1] - self.map_m2v[0]))


@torch.inference_mode()
def retrieval_shift(model, video: torch.Tensor, music: torch.Tensor, labels: torch.Tensor,
                    video_after: torch.Tensor, music_after: torch.Tensor) -> RetrievalShift:
    """The shipped model's retrieval on (video, music) against (video_after, music_after)."""
    from training import metrics

    def scores(v: torch.Tensor, m: torch.Tensor) -> np.ndarray:
        return model.score_matrix(model.embed_video(v), model.embed_music(m)).double().numpy()

    before, after = scores(video, music), scores(video_after, music_after)
    mean_ap = lambda s: 100 * metrics.retrieval_metrics(s, labels, labels)[metrics.MAP]  # noqa: E731
    top = lambda s: np.argsort(-s, axis=1, kind="stable")[:, :10]  # noqa: E731
    overlap = np.array([len(np.intersect1d(a, b)) / 10 for a, b in zip(top(before), top(after))])
    return RetrievalShift((mean_ap(before), mean_ap(after)), (mean_ap(before.T), mean_ap(after.T)), overlap)
