"""The two pretrained feature extractors: VGGish for music, SlowFast-R50 for video.

Both are built through their libraries' own constructors (``torchvggish.torchvggish._vgg`` and
``pytorchvideo.models.hub.slowfast_r50(pretrained=False)``), never downloading anything, and loaded from a
state dict the caller passes (see :mod:`engine.loading`, which reads :mod:`engine.weights`' cache). With
``state_dict=None`` the weights are random (tests, benchmarks) and ``.pretrained`` is False, so nothing can pass
random features off as real ones.

Preprocessing is ours, in torch: the VGGish log-mel frontend reproduces ``torchvggish.vggish_input.
waveform_to_examples`` (tested against it) but batched and streamed; the SlowFast clip transforms reproduce
pytorchvideo's Kinetics recipe (pytorchvideo.transforms is broken with current torchvision). Inference runs
under ``torch.inference_mode`` in memory-bounded batches, at the :class:`Precision` the caller builds with:
``FAST`` is fp16 autocast on CUDA and bf16 on a CPU with native bf16 instructions (AVX512-BF16 or AMX), fp32
elsewhere; ``EXACT`` is fp32 everywhere. VGGish defaults to ``FAST``, SlowFast to ``EXACT`` (see its ``build``).
Each extractor's ``compute_dtype`` says what it runs.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import math
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from . import fusion, media
from .features import TrackFeatures, VideoFeatures
from .errors import DecodeError
from .jobs import CancelToken, ProgressCallback, check, report
from .prefetch import prefetched
from .protocol import AUDIO_SAMPLE_RATE, MUSIC_BACKBONE, MUSIC_FEATURE_DIM, VIDEO_BACKBONE, VIDEO_FEATURE_DIM

__all__ = [
    "Precision",
    "cpu_has_native_bf16",
    "compute_dtype",
    "precision_label",
    "build_vggish_module",
    "build_slowfast_module",
    "VGGishExtractor",
    "SlowFastExtractor",
    "EXAMPLE_SAMPLES",
    "EXAMPLE_HOP_SAMPLES",
]


class Precision(str, enum.Enum):
    """The backbones' arithmetic: ``EXACT`` is fp32; ``FAST`` is half precision where the hardware has it.

    FAST: fp16 autocast on CUDA; bf16 (oneDNN/AMX kernels) on a CPU with native bf16 instructions; fp32 on
    other CPUs, where bf16 would be emulated and slower. Features move by a small, bounded amount, and for the
    music library the retrieval cannot tell (figures: docs/engine-features.md; bounds asserted in
    tests/engine/test_precision.py).
    """

    EXACT = "exact"
    FAST = "fast"


_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@functools.cache
def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU computes bf16 natively (x86 ``avx512_bf16`` or ``amx_bf16`` among ``cpuinfo``'s flags).

    Where the flags cannot be read (not Linux) the answer is False: fp32, never an emulated, slower bf16
    (torch's own ``mkldnn._is_mkldnn_bf16_supported`` also says yes for AVX-512 without BF16, where oneDNN
    emulates it).
    """
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as info:
            flags = next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), [])
    except OSError:
        return False
    return bool(_BF16_CPU_FLAGS.intersection(flags)) and torch.backends.mkldnn.is_available()


def compute_dtype(device: torch.device | str, precision: Precision | str = Precision.FAST) -> torch.dtype:
    """The dtype the backbones compute in on ``device`` at ``precision`` (see :class:`Precision`)."""
    device = torch.device(device)
    if Precision(precision) is Precision.EXACT:
        return torch.float32
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return torch.float32


def precision_label(dtype: torch.dtype) -> str:
    """"fp32", "bf16" or "fp16": how features were computed, as the library records it per track."""
    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def _loaded(
    model: nn.Module,
    state_dict: dict[str, torch.Tensor] | None,
    device: torch.device,
    memory_format: torch.memory_format,
    dtype: torch.dtype,
) -> nn.Module:
    """``model`` with ``state_dict`` loaded strictly (kept random when None), in eval mode on ``device``.

    For bf16 on a CPU the linear layers' weights are stored in bf16 once here: under autocast alone VGGish's
    large FC weights are re-cast on every batch, which cost all the FC stack's gain (measured, see
    docs/engine-features.md). Convolution weights are small and stay fp32 (autocast casts them), as do the
    normalisation layers' (they get bf16 activations).
    """
    if state_dict is not None:
        model.load_state_dict(state_dict, strict=True)
    model = model.eval().to(device, memory_format=memory_format)
    if dtype == torch.bfloat16 and device.type == "cpu":
        for module in model.modules():
            if isinstance(module, nn.Linear):
                module.to(dtype)
    return model


def _autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """Autocast to ``dtype`` on ``device`` (fp16 on CUDA, bf16 on CPU); nothing for fp32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


# ================================================================================================== VGGish
# The frontend's geometry (torchvggish.vggish_params): 25 ms periodic-Hann windows every 10 ms, |rfft(512)|,
# 64 HTK mel bands 125-7500 Hz, log(mel + 0.01), non-overlapping 96-frame examples.
STFT_WINDOW = 400
STFT_HOP = 160
FFT_LENGTH = 512
MEL_BANDS = 64
MEL_LOW_HZ = 125.0
MEL_HIGH_HZ = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96
EXAMPLE_SAMPLES = (EXAMPLE_FRAMES - 1) * STFT_HOP + STFT_WINDOW  # 15600 samples feed one example
EXAMPLE_HOP_SAMPLES = EXAMPLE_FRAMES * STFT_HOP  # 15360 samples = 0.96 s between examples

DEFAULT_VGGISH_BATCH = 64
"""Examples per forward pass: ~0.45 GB peak on CPU (a 249-example batch peaks ~1.6 GB) at full speed."""


def build_vggish_module() -> nn.Module:
    """The VGGish architecture (torchvggish 0.2), random weights, no PCA postprocessor (EmoMV uses raw 128-d)."""
    from torchvggish.torchvggish import _vgg

    return _vgg(postprocess=False)


def _mel_matrix() -> torch.Tensor:
    """(257, 64) HTK mel weights, computed by torchvggish's own definition so the two frontends share it."""
    from torchvggish import mel_features

    matrix = mel_features.spectrogram_to_mel_matrix(
        num_mel_bins=MEL_BANDS,
        num_spectrogram_bins=FFT_LENGTH // 2 + 1,
        audio_sample_rate=AUDIO_SAMPLE_RATE,
        lower_edge_hertz=MEL_LOW_HZ,
        upper_edge_hertz=MEL_HIGH_HZ,
    )
    return torch.from_numpy(np.asarray(matrix, dtype=np.float32))


def _periodic_hann(length: int) -> torch.Tensor:
    return torch.hann_window(length, periodic=True, dtype=torch.float32)


class VGGishExtractor:
    """VGGish features of music: 128-d per 0.96 s of mono 16 kHz audio.

    Build with :meth:`build`; the constructor only stores what it is given.
    """

    backbone_id = MUSIC_BACKBONE

    def __init__(
        self,
        model: nn.Module,
        device: torch.device,
        *,
        pretrained: bool,
        batch_size: int,
        compute_dtype: torch.dtype = torch.float32,
    ) -> None:
        self.model = model
        self.device = device
        self.pretrained = pretrained
        self.batch_size = batch_size
        self.compute_dtype = compute_dtype
        self._window = _periodic_hann(STFT_WINDOW)
        self._mel = _mel_matrix()

    @classmethod
    def build(
        cls,
        state_dict: dict[str, torch.Tensor] | None,
        device: torch.device | str,
        *,
        batch_size: int = DEFAULT_VGGISH_BATCH,
        precision: Precision | str = Precision.FAST,
    ) -> "VGGishExtractor":
        """The network on ``device`` in eval mode at ``precision``; ``state_dict=None`` means random weights
        (``pretrained`` False)."""
        device = torch.device(device)
        dtype = compute_dtype(device, precision)
        # NHWC lets oneDNN/cuDNN pick their fastest conv kernels: ~1.4x on a 2-core AVX2 CPU, same numbers.
        model = _loaded(build_vggish_module(), state_dict, device, torch.channels_last, dtype)
        if device.type == "cpu":  # the same output bit for bit, without the argmax PyTorch's CPU max-pool computes
            fusion.use_pair_max_pools(model)
        return cls(model, device, pretrained=state_dict is not None, batch_size=batch_size, compute_dtype=dtype)

    @property
    def precision(self) -> str:
        """How the features are computed: "fp32", "bf16" or "fp16" (recorded with the features)."""
        return precision_label(self.compute_dtype)

    # ------------------------------------------------------------------ frontend
    def log_mel(self, waveform: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(N, 96, 64) float32 log-mel examples of a mono 16 kHz waveform, as ``waveform_to_examples`` makes them.

        Only whole examples: N = number of complete 0.96 s steps (a tail shorter than 15 600 samples gives none).
        """
        audio = torch.as_tensor(np.asarray(waveform, dtype=np.float32) if not torch.is_tensor(waveform) else waveform)
        audio = audio.to(torch.float32).reshape(-1)
        count = example_count(audio.numel())
        if count == 0:
            return torch.zeros(0, EXAMPLE_FRAMES, MEL_BANDS)
        used = audio[: (count * EXAMPLE_FRAMES - 1) * STFT_HOP + STFT_WINDOW]
        frames = used.unfold(0, STFT_WINDOW, STFT_HOP)  # (F, 400), no centring (torch.stft would pad by 56)
        spectrum = torch.fft.rfft(frames * self._window, n=FFT_LENGTH).abs()
        mel = torch.log(spectrum @ self._mel + LOG_OFFSET)
        return mel[: count * EXAMPLE_FRAMES].reshape(count, EXAMPLE_FRAMES, MEL_BANDS)

    # ------------------------------------------------------------------ network
    def embed(self, examples: torch.Tensor, *, cancel: CancelToken | None = None) -> torch.Tensor:
        """(N, 128) float32 CPU embeddings of (N, 96, 64) log-mel examples, ``batch_size`` at a time."""
        outputs = []
        with torch.inference_mode(), _autocast(self.device, self.compute_dtype):
            for chunk in torch.split(examples, self.batch_size) if len(examples) else ():
                check(cancel)
                batch = chunk.unsqueeze(1).to(self.device, non_blocking=True, memory_format=torch.channels_last)
                outputs.append(self.model(batch).float().cpu())
        if not outputs:
            return torch.zeros(0, MUSIC_FEATURE_DIM)
        return torch.cat(outputs)

    # ------------------------------------------------------------------ whole tracks
    def track_features(
        self,
        path: Path | str,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> TrackFeatures:
        """Decode ``path`` streamed and return its per-0.96 s VGGish features (no PCA).

        Raises :class:`~emomv_desktop.engine.errors.DecodeError` for files that cannot be decoded and
        :class:`~emomv_desktop.engine.errors.Cancelled` when ``cancel`` is set (checked between blocks).
        """
        info = media.probe_audio(path)
        rows: list[torch.Tensor] = []
        samples = 0
        # Decoding and the frontend run one batch ahead in a helper thread while the network runs here
        # (~0-17% faster tracks on a 2-core CPU, most when other processes compete for it).
        for examples, samples in prefetched(self.stream_examples(path, cancel), cancel=cancel):
            rows.append(self.embed(examples, cancel=cancel))
            report(progress, samples / AUDIO_SAMPLE_RATE, info.duration or None, info.path.name)
        features = torch.cat(rows).numpy() if rows else np.zeros((0, MUSIC_FEATURE_DIM), np.float32)
        return TrackFeatures(
            np.ascontiguousarray(features, dtype=np.float32), samples / AUDIO_SAMPLE_RATE, info, self.precision
        )

    def stream_examples(
        self, path: Path | str, cancel: CancelToken | None = None, *,
        on_audio: Callable[[np.ndarray], None] | None = None,
    ) -> Iterator[tuple[torch.Tensor, int]]:
        """Log-mel examples of the decoded stream in batches of ``batch_size`` (then the rest), with the
        samples decoded so far: the decoding half of :meth:`track_features` (the indexer runs it ahead of
        :meth:`embed` in its decode thread, so its features are exactly ``track_features``').

        Audio is gathered until it holds a full batch (61 s for 64 examples), so the frontend runs as a few large
        torch ops (many small ones spend their time synchronising threads on a busy CPU). The 240 samples an
        example overlaps its successor are carried over, so streaming gives exactly the examples of the whole
        waveform. ``on_audio`` is handed every decoded 16 kHz mono block as it arrives (the indexer's beat tracker
        taps the same decode).
        """
        batch_samples = (self.batch_size - 1) * EXAMPLE_HOP_SAMPLES + EXAMPLE_SAMPLES
        pending: list[np.ndarray] = []
        count = samples = 0
        for block in media.iter_audio(path, sample_rate=AUDIO_SAMPLE_RATE):
            check(cancel)
            if on_audio is not None:
                on_audio(block)
            samples += block.size
            pending.append(block)
            count += block.size
            if count < batch_samples:
                continue
            audio = np.concatenate(pending)
            while audio.size >= batch_samples:  # one frontend call per full batch: few, large torch ops
                yield self.log_mel(audio[:batch_samples]), samples
                audio = audio[self.batch_size * EXAMPLE_HOP_SAMPLES :]
            pending, count = [audio], audio.size
        rest = np.concatenate(pending) if pending else np.zeros(0, np.float32)
        yield self.log_mel(rest), samples  # the rest, possibly no example (it still carries the sample count)


def example_count(samples: int) -> int:
    """How many complete VGGish examples ``samples`` mono 16 kHz samples hold (as ``waveform_to_examples``)."""
    if samples < STFT_WINDOW:
        return 0
    return (1 + (samples - STFT_WINDOW) // STFT_HOP) // EXAMPLE_FRAMES


# ================================================================================================== SlowFast
# Kinetics-400 recipe of pytorchvideo's SlowFast-R50 8x8: 32 fast frames at sampling rate 2 (of 30 fps video),
# slow pathway = 8 of them (alpha 4), short side 256, centre crop 256, mean 0.45 / std 0.225.
FAST_FRAMES = 32
SLOWFAST_ALPHA = 4
FRAME_STEP_SECONDS = 2 / 30
"""Time between fast-pathway frames: sampling rate 2 at Kinetics' 30 fps, kept in seconds for any frame rate."""
CLIP_SECONDS = FAST_FRAMES * FRAME_STEP_SECONDS  # 2.13 s
SIDE = 256
CROP = 256
MEAN = 0.45
STD = 0.225

DEFAULT_CLIPS_PER_WINDOW = 4
"""Clips averaged per analysis window (speed/quality setting; see docs/engine-features.md)."""
DEFAULT_WINDOW_SECONDS = 30.0
"""Analysis window: EmoMV's segments are 30 s (EmoMV-A/C), and the library pools music windows alike."""


def build_slowfast_module(*, with_head: bool = False) -> nn.Module:
    """SlowFast-R50 (pytorchvideo), random weights; without its classifier (2304-d output) unless ``with_head``."""
    from pytorchvideo.models.hub import slowfast_r50

    model = slowfast_r50(pretrained=False)
    if not with_head:
        model.blocks[-1].proj = nn.Identity()
    return model


def clip_times(start: float) -> np.ndarray:
    """The 32 fast-pathway frame times of a clip starting at ``start`` seconds."""
    return start + np.arange(FAST_FRAMES) * FRAME_STEP_SECONDS


def plan_windows(duration: float, window_seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Analysis windows covering ``[0, duration]``: back-to-back windows of ``window_seconds``.

    The last window is aligned to the end of the video, so every window has the full length (it overlaps its
    predecessor instead of being a short remainder); a video shorter than one window is one window.
    """
    if duration <= window_seconds:
        return np.array([0.0]), np.array([max(duration, 0.0)])
    count = math.ceil(duration / window_seconds - 1e-9)
    starts = np.minimum(np.arange(count) * window_seconds, duration - window_seconds)
    return starts.astype(np.float64), (starts + window_seconds).astype(np.float64)


def plan_clips(start: float, end: float, clips: int, duration: float) -> np.ndarray:
    """Start times of ``clips`` clips spread evenly over ``[start, end]`` (centred in equal sub-spans)."""
    span = end - start
    centres = start + (np.arange(clips) + 0.5) * span / clips
    latest = max(0.0, duration - CLIP_SECONDS)
    return np.clip(centres - CLIP_SECONDS / 2, 0.0, latest)


def preprocess_clip(frames: np.ndarray) -> torch.Tensor:
    """(32, H, W, 3) uint8 frames with short side 256 -> (3, 32, 256, 256) normalised float (centre crop)."""
    clip = torch.from_numpy(np.ascontiguousarray(frames))
    height, width = clip.shape[1:3]
    if min(height, width) != SIDE:
        clip = _short_side_scale(clip, SIDE)
        height, width = clip.shape[1:3]
    top, left = (height - CROP) // 2, (width - CROP) // 2
    clip = clip[:, top : top + CROP, left : left + CROP]
    return ((clip.permute(3, 0, 1, 2).to(torch.float32) / 255.0) - MEAN) / STD


def _short_side_scale(clip: torch.Tensor, side: int) -> torch.Tensor:
    """Bilinear rescale of (T, H, W, C) uint8 so the short side is ``side`` (pytorchvideo's short_side_scale)."""
    t, h, w, c = clip.shape
    scale = side / min(h, w)
    size = (max(side, int(round(h * scale))), max(side, int(round(w * scale))))
    x = clip.permute(0, 3, 1, 2).to(torch.float32)
    x = nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def pack_pathways(fast: torch.Tensor) -> list[torch.Tensor]:
    """[slow, fast] for (B, 3, 32, H, W): the slow pathway takes 8 evenly spaced of the 32 frames.

    A fresh list every call: pytorchvideo's ``MultiPathWayWithFuse`` overwrites its input list in place.
    """
    index = torch.linspace(0, fast.shape[2] - 1, fast.shape[2] // SLOWFAST_ALPHA).long().to(fast.device)
    return [fast.index_select(2, index), fast]


class SlowFastExtractor:
    """SlowFast-R50 features of video: 2304-d per 2.13 s clip, averaged per analysis window.

    Build with :meth:`build`; the constructor only stores what it is given.
    """

    backbone_id = VIDEO_BACKBONE

    def __init__(
        self,
        model: nn.Module,
        device: torch.device,
        *,
        pretrained: bool,
        clips_per_window: int,
        compute_dtype: torch.dtype = torch.float32,
        fused: bool = False,
    ) -> None:
        if clips_per_window < 1:
            raise ValueError("clips_per_window must be at least 1")
        self.model = model
        self.device = device
        self.pretrained = pretrained
        self.clips_per_window = clips_per_window
        self.compute_dtype = compute_dtype
        self.fused = fused

    @classmethod
    def build(
        cls,
        state_dict: dict[str, torch.Tensor] | None,
        device: torch.device | str,
        *,
        clips_per_window: int = DEFAULT_CLIPS_PER_WINDOW,
        precision: Precision | str = Precision.EXACT,
        fuse: bool | None = None,
    ) -> "SlowFastExtractor":
        """The network on ``device`` in eval mode at ``precision``; ``state_dict`` is the full checkpoint's
        (classifier included).

        ``state_dict=None`` means random weights (``pretrained`` False). The default is ``EXACT``, unlike
        VGGish's: bf16 moves a clip's features little, and the shipped retrieval model (whose video
        standardiser floors near-constant dimensions) keeps drawn bf16 errors within the bound, but in the
        worst case of the measured error distribution its EmoMV-C ranking still moves by more than the bound
        (docs/engine-features.md). ``FAST`` (several times faster on a CPU with AMX) is there to choose.

        ``fuse``: fp32 on a CPU runs the network rewritten by :func:`engine.fusion.fuse_slowfast` (BatchNorm
        folded, ReLU and residual adds fused into oneDNN convolutions: ~2x faster, the same features within
        ~1e-6 relative); None does so wherever it applies and this torch build has the ops, False keeps
        pytorchvideo's plain network (the path before; benchmarks compare the two). bf16 and CUDA never fuse.
        """
        device = torch.device(device)
        dtype = compute_dtype(device, precision)
        # NDHWC: ~1.17x faster 3-D convs on a 2-core AVX2 CPU (oneDNN), same numbers within 3e-7.
        model = _loaded(build_slowfast_module(with_head=True), state_dict, device, torch.channels_last_3d, dtype)
        model.blocks[-1].proj = nn.Identity()  # after loading: the checkpoint holds the Kinetics classifier
        applies = device.type == "cpu" and dtype == torch.float32
        if fuse and not applies:
            raise ValueError("fusion applies to fp32 on a CPU only (bf16 keeps autocast, CUDA keeps cuDNN)")
        fused = applies and fuse is not False and fusion.fusion_available()
        if fused:
            fusion.fuse_slowfast(model)
        return cls(model, device, pretrained=state_dict is not None, clips_per_window=clips_per_window,
                   compute_dtype=dtype, fused=fused)

    @property
    def precision(self) -> str:
        """How the features are computed: "fp32", "bf16" or "fp16"."""
        return precision_label(self.compute_dtype)

    def clip_features(self, batch: torch.Tensor) -> torch.Tensor:
        """(B, 2304) float32 CPU features of (B, 3, 32, 256, 256) preprocessed clips (see :func:`preprocess_clip`)."""
        with torch.inference_mode(), _autocast(self.device, self.compute_dtype):
            fast = batch.to(self.device, non_blocking=True)
            pathways = [p.contiguous(memory_format=torch.channels_last_3d) for p in pack_pathways(fast)]
            return self.model(pathways).float().cpu()

    def video_features(
        self,
        path: Path | str,
        *,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> VideoFeatures:
        """Per-window and whole-video SlowFast features of ``path``, decoding only the frames of the sampled clips.

        Each window of :func:`plan_windows` gets ``clips_per_window`` clips (:func:`plan_clips`); a window's
        feature is the mean of its clips', the video's the mean of all clips'.

        A clip whose frames cannot be decoded (a damaged stretch of the file) is skipped and counted in
        ``skipped_clips``/``skipped_seconds``; a window left without any clip is dropped. Only a video of which
        no clip decodes is a :class:`DecodeError`.
        """
        info = media.probe_video(path)
        starts, ends = plan_windows(info.duration, window_seconds)
        clip_starts = [s for w in range(len(starts)) for s in plan_clips(starts[w], ends[w], self.clips_per_window, info.duration)]
        window_ids = np.repeat(np.arange(len(starts)), self.clips_per_window)
        features = torch.zeros(len(clip_starts), VIDEO_FEATURE_DIM)
        usable = np.ones(len(clip_starts), dtype=bool)

        def clips() -> Iterator[torch.Tensor | None]:
            with media.VideoReader(info.path) as reader:
                for clip_start in clip_starts:
                    check(cancel)
                    try:
                        frames = reader.frames_at(clip_times(clip_start), short_side=SIDE)
                    except DecodeError:
                        yield None  # a damaged stretch: this clip is skipped, the reader seeks past it
                        continue
                    yield preprocess_clip(frames).unsqueeze(0)

        # The next clip is decoded and preprocessed in a helper thread while the network runs on this one.
        for i, batch in enumerate(prefetched(clips(), cancel=cancel)):
            if batch is None:
                usable[i] = False
            else:
                features[i] = self.clip_features(batch)[0]
            report(progress, i + 1, len(clip_starts), info.path.name)
        if not usable.any():
            raise DecodeError(info.path, "the video is corrupt: none of its frames could be decoded")
        kept = np.unique(window_ids[usable])
        per_window = [features[usable & (window_ids == w)].mean(0) for w in kept]
        clip_rows = np.column_stack([window_ids, clip_starts, np.add(clip_starts, CLIP_SECONDS)])[usable]
        clip_rows[:, 0] = np.searchsorted(kept, clip_rows[:, 0])  # window index among the kept windows
        skipped = int((~usable).sum())
        return VideoFeatures(
            starts=starts[kept],
            ends=ends[kept],
            window_features=torch.stack(per_window).numpy(),
            features=features[usable].mean(0).numpy(),
            info=info,
            clips=clip_rows.astype(np.float64),
            skipped_clips=skipped,
            skipped_seconds=skipped * CLIP_SECONDS,
        )
