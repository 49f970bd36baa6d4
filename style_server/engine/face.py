"""Face detection (OpenCV's bundled Haar cascade) and soft face masks for portrait care."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from .errors import WeightsUnavailable

# "alt2" over "default": on the bench's 15 portraits (bench/RESULTS.md) it also finds a head turned 45 degrees, and
# not the two boxes the default cascade found where dlib finds no face
CASCADE = "haarcascade_frontalface_alt2.xml"
Box = tuple[int, int, int, int]  # x, y, width, height in the picture's pixels


class FaceCare(BaseModel):
    """How a style paints a face when face protection is on: each card carries the setting measured for it
    (``bench/bench_quality.py``, ``bench/RESULTS.md``); the default is the recipe measured before cards had one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keep: float = Field(0.45, ge=0, le=1, description="Share of the painting kept on the face, the photo's elsewhere.")
    brush: int = Field(
        0, ge=0, le=1024, description="Faces narrower than this (px) are painted again enlarged to it: finer strokes."
    )
    skin_smooth: float = Field(
        1.0, ge=0, le=1, description="Share of the skin's colour mottling smoothed away (chroma only)."
    )
    frame: float = Field(
        2.0, ge=1.2, le=4, description="Width of the region painted again around a face, in face widths."
    )


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
    """Face boxes (x, y, w, h) in the picture's pixel coordinates, largest first. Where no upright face is found,
    the picture turned by each of ``TILTS`` in turn: a head tilted more than the cascade allows (about 15 degrees)."""
    gray = cv2.cvtColor(np.asarray(img.convert("RGB")), cv2.COLOR_RGB2GRAY)
    scale = 480 / max(gray.shape)  # the cascade works best on faces of 40-200 px: normalise the picture
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    small = cv2.equalizeHist(small)
    found = _upright_faces(small)
    for angle in TILTS:
        if found:
            break
        found = _tilted_faces(small, angle)
    boxes = [tuple(round(v / scale) for v in box) for box in found]
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


# degrees; on the bench's portraits these find the one tilted head and no false face. A picture with no face at
# all pays four more cascade passes (tens of ms at 480 px).
TILTS = (-20, 20, -35, 35)


def _upright_faces(gray: np.ndarray) -> list[Box]:
    min_side = max(24, int(min(gray.shape) * 0.08))
    found = _detector().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
    return [tuple(int(v) for v in box) for box in found]


def _tilted_faces(gray: np.ndarray, angle: float) -> list[Box]:
    """Faces found in ``gray`` turned by ``angle``, as upright boxes of the same size around their centres."""
    h, w = gray.shape
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    turned = cv2.warpAffine(gray, turn, (w, h), borderMode=cv2.BORDER_REPLICATE)
    back = cv2.invertAffineTransform(turn)
    boxes = []
    for x, y, bw, bh in _upright_faces(turned):
        cx, cy = back @ np.array([x + bw / 2, y + bh / 2, 1.0])
        boxes.append((round(cx - bw / 2), round(cy - bh / 2), bw, bh))
    return boxes


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
