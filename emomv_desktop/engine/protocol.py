"""The feature protocol: what the backbones produce and how features are pooled.

A retrieval model is only valid for features made the way it was trained on. Its model card records
:data:`FEATURE_PROTOCOL`; the engine refuses a model whose card disagrees (see
:func:`emomv_desktop.engine.model.check_card`). This module is plain data: no torch, no I/O.
"""

from __future__ import annotations

VIDEO_FEATURE_DIM = 2304
MUSIC_FEATURE_DIM = 128

# Identifiers of the pretrained backbones (the official checkpoints, see engine/weights.py).
VIDEO_BACKBONE = "pytorchvideo/slowfast_r50/kinetics400/SLOWFAST_8x8_R50"
MUSIC_BACKBONE = "torchvggish/vggish/audioset/vggish-10086976"

# VGGish frame: 96 log-mel frames of 10 ms = 0.96 s of 16 kHz mono audio.
AUDIO_SAMPLE_RATE = 16_000
VGGISH_FRAME_SECONDS = 0.96

FEATURE_PROTOCOL: dict[str, dict[str, object]] = {
    "video": {
        "backbone": VIDEO_BACKBONE,
        "dim": VIDEO_FEATURE_DIM,
        "input": "RGB, slow 8 + fast 32 frames (alpha 4) at sampling rate 2, short side 256, centre crop 256, "
        "mean 0.45 / std 0.225",
        "pooling": "mean of the 2304-d pooled clip features over the clips sampled in a segment",
    },
    "music": {
        "backbone": MUSIC_BACKBONE,
        "dim": MUSIC_FEATURE_DIM,
        "input": "mono 16 kHz, log-mel 64 bins 125-7500 Hz, 96x64 examples (0.96 s), no PCA",
        "pooling": "mean of the 128-d per-frame features over the segment",
    },
}

# The keys that must agree between a model card and the running engine.
PROTOCOL_KEYS: tuple[str, ...] = ("backbone", "dim", "pooling")
