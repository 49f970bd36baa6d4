"""Face detection (OpenCV's bundled Haar cascade) and soft face masks for portrait care."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .errors import WeightsUnavailable

CASCADE = "haarcascade_frontalface_default.xml"
Box = tuple[int, int, int, int]  # x, y, width, height in the picture's pixels


_per_thread = threading.local()


def _detector() -> cv2.CascadeClassifier:
    """This thread's own classifier: OpenCV's CascadeClassifier keeps scratch state and is not thread-safe (a
    shared one lost or garbled faces when Instant batches, masterpieces and previews ran at once)."""
    detector = getattr(_per_thread, "detector", None)
    if detector is None:
        path = Path(cv2.data.haarcascades) / CASCADE
        detector = cv2.CascadeClassifier(str(path))
        if detector.empty():
            raise WeightsUnavailable(f"OpenCV's face cascade {path} is missing; install opencv-python-headless<5")
        _per_thread.detector = detector
    return detector


def detect_faces(img: Image.Image) -> list[Box]:
    """Face boxes (x, y, w, h) in the picture's pixel coordinates, largest first."""
    gray = cv2.cvtColor(np.asarray(img.convert("RGB")), cv2.COLOR_RGB2GRAY)
    scale = 480 / max(gray.shape)  # the cascade works best on faces of 40-200 px: normalise the picture
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    small = cv2.equalizeHist(small)
    min_side = max(24, int(min(small.shape) * 0.08))
    found = _detector().detectMultiScale(small, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
    boxes = [tuple(round(v / scale) for v in box) for box in found]
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def face_mask(img: Image.Image, boxes: list[Box] | None = None) -> np.ndarray:
    """Soft mask (H x W, 0..1): 1 on each face (an ellipse a little taller than the box), feathered out."""
    boxes = detect_faces(img) if boxes is None else boxes
    mask = np.zeros((img.height, img.width), dtype=np.float32)
    for x, y, w, h in boxes:
        center = (int(x + w / 2), int(y + h * 0.45))
        axes = (int(w * 0.55), int(h * 0.75))
        cv2.ellipse(mask, center, axes, 0, 0, 360, 1.0, thickness=-1)
    if boxes:
        feather = max(3, int(max(b[2] for b in boxes) * 0.15)) | 1
        mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=feather / 2)
    return np.clip(mask, 0.0, 1.0)
