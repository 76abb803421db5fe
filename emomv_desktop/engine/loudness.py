"""Loudness (ITU-R BS.1770-4 / EBU R128) for level-matched auditioning, and the cut's own sound for ducking.

Measuring
    :func:`block_loudness` is BS.1770's measurement: the K-weighting filter (pyloudnorm's BS.1770 filter
    design, :class:`pyloudnorm.IIRfilter`, run as one second-order-section cascade) and the mean square of
    every 400 ms block with a 100 ms hop (the "momentary" loudness, LUFS). :func:`integrated_loudness` gates
    those blocks as the standard does (absolute -70 LUFS, then relative -10 LU). pyloudnorm's own
    ``Meter.integrated_loudness`` computes the same gating in a Python loop over blocks (0.19 s for a 4-min
    track at 16 kHz); this vectorised form takes about a third of that, which matters at index time, and the
    tests hold it to pyloudnorm's figure.

    The indexer measures the 16 kHz mono stream it already decodes for VGGish and the beats (no second
    decode). That is not the file's broadcast loudness: content above 8 kHz is gone, and the mono mean of the
    channels reads 3 dB (identical channels) to 6 dB (unrelated channels) below BS.1770's sum of channel
    powers. For *matching tracks to each other* only the differences between tracks count: the constant part
    cancels, what is left is the stereo width and the content above 8 kHz (figures in docs/gui.md: about 1 dB
    between generated near-mono, wide and saturated masters, more for a track with unusually much energy up
    there), against jumps of 10 dB and more between masters.

Matching
    :func:`matching_gain_db` is the playback gain that brings a track to :data:`TARGET_LUFS`, at most
    :data:`MAX_BOOST_DB` up. The player can only turn a track down from the file's own level (it never
    amplifies a sample beyond it, so nothing can clip: see ``ui.player``); a track quieter than the target can
    be raised only by the headroom the volume leaves (at the default volume of 0.8, 1.9 dB). So the target is
    low: EBU R128's -23 LUFS (on this meter's scale), below nearly all music (today's masters are -8 to -16
    LUFS, quiet acoustic and orchestral ones -18 to -25), so matching is exact for almost every track at
    any volume, at the price of playing loud masters 10 dB and more below their own level (turn the
    system's volume up once). ReplayGain 2.0's -18 LUFS would leave tracks from -18 to -23 LUFS unmatched
    at full volume.

The cut's own sound
    :func:`measure_cut_sound` reads a video's sound (16 kHz mono) once and keeps its momentary loudness every
    100 ms; :func:`duck_curve` turns that into how many dB the music goes down at each moment: nothing below
    :data:`DUCK_THRESHOLD_LUFS` (room tone, silence), :data:`DUCK_DEPTH_DB` from :data:`DUCK_FULL_LUFS` up
    (speech, effects), linear in between, smoothed with an attack of :data:`DUCK_ATTACK_S` and a release of
    :data:`DUCK_RELEASE_S` like a broadcast ducker. The value at time ``t`` is computed from the block that
    *starts* at ``t`` (it covers ``t`` to ``t + 0.4`` s), so the music is already going down as a line starts:
    a look-ahead a live ducker cannot have.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .jobs import CancelToken, ProgressCallback, check, report
from .protocol import AUDIO_SAMPLE_RATE

__all__ = [
    "BLOCK_SECONDS",
    "CutSound",
    "DUCK_DEPTH_DB",
    "MAX_BOOST_DB",
    "STEP_SECONDS",
    "TARGET_LUFS",
    "block_loudness",
    "duck_curve",
    "integrated_loudness",
    "matching_gain_db",
    "measure_cut_sound",
]

BLOCK_SECONDS = 0.4
"""BS.1770's gating block."""
STEP_SECONDS = 0.1
"""The blocks' hop (75 % overlap, BS.1770-4): also the step of a cut's loudness envelope."""
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0

TARGET_LUFS = -23.0
"""Every track plays at this integrated loudness when matching is on (EBU R128's programme level)."""
MAX_BOOST_DB = 12.0
"""A quiet track is raised at most this much: a mostly silent track's few loud moments stay reasonable."""

DUCK_THRESHOLD_LUFS = -40.0
"""The cut's momentary loudness below which the music is not ducked (silence, room tone)."""
DUCK_FULL_LUFS = -30.0
"""From this momentary loudness up (speech is about -25 to -15 LUFS) the music is ducked by the full depth."""
DUCK_DEPTH_DB = 12.0
"""How far the music goes down under the cut's sound."""
DUCK_ATTACK_S = 0.1
DUCK_RELEASE_S = 0.8
"""Time constants of the duck going down (attack) and coming back up (release)."""


def _k_weighting(rate: int) -> np.ndarray:
    """BS.1770's K-weighting (a high shelf, then a high pass) at ``rate`` as second-order sections."""
    from pyloudnorm import IIRfilter

    stages = (IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, rate, "high_shelf"),
              IIRfilter(0.0, 0.5, 38.0, rate, "high_pass"))
    return np.array([np.concatenate([f.b, f.a]) for f in stages])


def block_loudness(samples: np.ndarray, rate: int = AUDIO_SAMPLE_RATE) -> np.ndarray:
    """The loudness (LUFS; -inf for digital silence) of every 400 ms block, one every 100 ms, of mono ``samples``.

    Block ``j`` covers ``[j * 0.1, j * 0.1 + 0.4)`` s; the last ones may reach past the end (zero padded, as
    pyloudnorm does). Empty when ``samples`` is shorter than one block.
    """
    from scipy.signal import sosfilt

    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    hop, seconds = int(round(STEP_SECONDS * rate)), samples.size / rate
    hops = int(round(BLOCK_SECONDS / STEP_SECONDS))
    if hop * 10 != rate:
        raise ValueError(f"the sample rate must be a multiple of 10 Hz, not {rate}")
    if samples.size < hop * hops:
        return np.zeros(0, np.float64)
    count = int(np.round((seconds - BLOCK_SECONDS) / STEP_SECONDS)) + 1
    weighted = sosfilt(_k_weighting(rate).astype(np.float32), samples)
    padded = max(count + hops - 1, -(-weighted.size // hop)) * hop
    weighted = np.concatenate([weighted, np.zeros(padded - weighted.size, np.float32)])
    # the energy of every 100 ms hop (summed in float64), then of every four consecutive hops
    energy = np.square(weighted).reshape(-1, hop).sum(axis=1, dtype=np.float64)
    blocks = np.convolve(energy, np.ones(hops), mode="valid")[:count]
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(np.maximum(blocks, 0.0) / (hop * hops))


def integrated_loudness(samples: np.ndarray, rate: int = AUDIO_SAMPLE_RATE) -> float | None:
    """Integrated, gated loudness (LUFS) of mono ``samples``; None when too short (< 0.4 s) or silent."""
    return _gated(block_loudness(samples, rate))


def _gated(levels: np.ndarray) -> float | None:
    levels = levels[levels >= ABSOLUTE_GATE_LUFS]
    if levels.size == 0:
        return None
    relative = _mean_loudness(levels) + RELATIVE_GATE_LU
    return _mean_loudness(levels[levels > relative])


def _mean_loudness(levels: np.ndarray) -> float:
    """The loudness of the blocks' mean power (BS.1770's eq. 5: power, not dB, is averaged)."""
    return float(-0.691 + 10.0 * np.log10(np.mean(10.0 ** ((levels + 0.691) / 10.0))))


def matching_gain_db(loudness: float | None, target: float = TARGET_LUFS, max_boost: float = MAX_BOOST_DB) -> float:
    """The gain (dB) that plays a track measured at ``loudness`` LUFS at ``target``; 0 when it is unknown."""
    if loudness is None or not np.isfinite(loudness):
        return 0.0
    return min(max_boost, target - float(loudness))


@dataclasses.dataclass(frozen=True)
class CutSound:
    """A video's sound, measured once: its momentary loudness every :data:`STEP_SECONDS` (``levels[j]`` is the
    block starting at ``j * STEP_SECONDS``) and its integrated loudness (None when silent)."""

    path: Path
    levels: np.ndarray
    loudness: float | None

    @property
    def silent(self) -> bool:
        return self.loudness is None


def measure_cut_sound(path: Path | str, progress: ProgressCallback | None = None,
                      cancel: CancelToken | None = None) -> CutSound:
    """Decode ``path``'s sound (16 kHz mono, streamed) and measure it; :class:`media.NoAudioStreamError` when
    the video has no sound at all."""
    from . import media

    path = Path(path)
    duration = media.probe_audio(path).duration
    blocks: list[np.ndarray] = []
    decoded = 0
    for block in media.iter_audio(path, sample_rate=AUDIO_SAMPLE_RATE):
        check(cancel)
        blocks.append(block)
        decoded += block.size
        report(progress, decoded / AUDIO_SAMPLE_RATE, duration, "measuring the cut's sound")
    levels = block_loudness(np.concatenate(blocks) if blocks else np.zeros(0, np.float32))
    return CutSound(path, levels.astype(np.float32), _gated(levels))


def duck_curve(levels: np.ndarray, *, threshold: float = DUCK_THRESHOLD_LUFS, full: float = DUCK_FULL_LUFS,
               depth: float = DUCK_DEPTH_DB, attack: float = DUCK_ATTACK_S, release: float = DUCK_RELEASE_S,
               step: float = STEP_SECONDS) -> np.ndarray:
    """How many dB (>= 0) the music goes down at each step of a cut's momentary ``levels`` (see the module)."""
    wanted = depth * np.clip((np.nan_to_num(levels, neginf=threshold) - threshold) / (full - threshold), 0.0, 1.0)
    down, up = 1.0 - np.exp(-step / attack), 1.0 - np.exp(-step / release)
    out = np.empty(wanted.size, np.float64)
    duck = 0.0
    for j, target in enumerate(wanted.tolist()):  # a one-pole follower: seconds of cut are a few hundred steps
        duck += (target - duck) * (down if target > duck else up)
        out[j] = duck
    return out

