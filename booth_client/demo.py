"""A demo camera for machines without a webcam: a short video of a real portrait, gently moving."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

PORTRAIT = Path(__file__).parent / "assets" / "demo_portrait.jpg"


def make_demo_video(path: Path, seconds: float = 4.0, fps: int = 25, size: tuple[int, int] = (640, 480)) -> Path:
    """Write an MJPEG .avi that slowly pans over the portrait (so the preview visibly lives)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    portrait = cv2.imread(str(PORTRAIT))
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"cannot write {path}")
    frames = int(seconds * fps)
    for i in range(frames):
        phase = np.sin(2 * np.pi * i / frames)
        zoom = 1.0 + 0.04 * phase
        crop_w, crop_h = int(portrait.shape[1] / zoom), int(portrait.shape[1] / zoom * height / width)
        x0 = int((portrait.shape[1] - crop_w) / 2 + 6 * phase)
        y0 = max(0, int((portrait.shape[0] - crop_h) / 2))
        frame = portrait[y0 : y0 + crop_h, max(0, x0) : max(0, x0) + crop_w]
        writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    writer.release()
    return path
