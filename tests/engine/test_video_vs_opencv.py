"""Our PyAV video path against an independent decoder: OpenCV's, which applies the rotation tag itself.

The product decodes video with PyAV (seeking by keyframe index, presentation timestamps, rotation in one place:
see docs/engine-features.md); OpenCV is the reference that would catch a wrong rotation sign, a transposed
portrait frame, an off-by-one frame choice or a colour-conversion slip.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emomv_desktop.engine import media
from tests import media_factory as mf

CASES = {
    "portrait": dict(width=240, height=426),
    "odd-size": dict(width=321, height=179),
    "rotated-90": dict(width=240, height=320, rotation=90),
    "rotated-180": dict(width=320, height=240, rotation=180),
    "rotated-270": dict(width=180, height=320, rotation=270),
}
FPS = 30


def _opencv_frames(path) -> np.ndarray:
    """Every frame in decode order, upright (OpenCV's default CAP_PROP_ORIENTATION_AUTO), as RGB."""
    capture = cv2.VideoCapture(str(path))
    assert capture.get(cv2.CAP_PROP_ORIENTATION_AUTO) != 0, "OpenCV must apply the rotation tag"
    frames = []
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    return np.stack(frames)


@pytest.mark.parametrize("case", list(CASES))
def test_frames_equal_opencvs_upright_frames(tmp_path, case):
    path = mf.write_video(tmp_path / f"{case}.mp4", seconds=1.0, fps=FPS, **CASES[case])
    reference = _opencv_frames(path)
    ours = media.read_frames(path, [i / FPS for i in range(len(reference))])
    assert ours.shape == reference.shape
    assert np.abs(ours.astype(np.int16) - reference.astype(np.int16)).max() <= 2
