"""The still-image formats the queries read (kept apart from ``engine.queries`` so that telling inputs apart,
``service.probe_input``, needs no torch)."""

from __future__ import annotations

__all__ = ["HEIF_EXTENSIONS", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".avif", ".bmp", ".tif", ".tiff"})
"""Decoded by OpenCV (its wheels carry libjpeg-turbo, libpng, libwebp, libavif, libtiff)."""

HEIF_EXTENSIONS = frozenset({".heic", ".heif"})
"""Decoded only when the optional ``pillow-heif`` package is installed (not a dependency)."""
