"""An independent likeness judge for the benchmarks: dlib's face detector, 68-point landmarks and ResNet face
embedding (the model files of the ``face_recognition_models`` package).

Independent of the product: nothing in ``style_server`` or ``booth_client`` imports this module or dlib, and the
engine's own face finder (OpenCV's Haar cascade) plays no part here. A photo and a picture made from it are judged
on the same pixel grid (the picture brought to the photo's size):

- the *main face* of the photo is dlib's largest detection in it;
- *lost*: no detection in the picture lies on it (centre inside the photo's face box, size within a factor 2);
- the *identity distance* is the Euclidean distance between the two 128-d embeddings (each from its own 68
  landmarks, at the picture's detection if there is one, else at the photo's box). dlib calls two faces the same
  person below 0.6; two different photos of one person typically give 0.3-0.45.

Install: ``pip install -e '.[bench]'`` (``dlib-bin`` and ``face_recognition_models``, about 130 MB of model
files). The package's ``__init__`` imports ``pkg_resources``, which current setuptools no longer ships, so the
model files are found by path without importing it.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

SAME_PERSON = 0.6  # dlib's threshold for the ResNet embedding
MODELS_PACKAGE = "face_recognition_models"
INSTALL_HINT = "pip install -e '.[bench]' (dlib-bin, face_recognition_models)"


class JudgeUnavailable(RuntimeError):
    """dlib or the model files are not installed."""


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]  # x, y, w, h in the judged image's pixels
    landmarks: np.ndarray  # 68 x 2 (x, y)
    embedding: np.ndarray  # 128 floats


@dataclass(frozen=True)
class Verdict:
    photo_face: Face | None  # None: dlib finds no face in the photo, nothing to judge
    picture_face: Face | None  # the picture's face on the photo's (None: lost), or the photo's box re-read
    lost: bool
    distance: float  # identity distance photo vs picture (nan without a face in the photo)


def model_file(name: str) -> Path:
    """One model file of ``face_recognition_models``, read through importlib.resources from the package's
    spec: the package object is made without running its ``__init__`` (which needs ``pkg_resources``)."""
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    if spec is None:
        raise JudgeUnavailable(f"{MODELS_PACKAGE} is not installed: {INSTALL_HINT}")
    resource = importlib.resources.files(importlib.util.module_from_spec(spec)) / "models" / name
    if not resource.is_file():
        raise JudgeUnavailable(f"{MODELS_PACKAGE} has no models/{name}: {INSTALL_HINT}")
    return Path(str(resource))  # an installed package is a folder on disk: dlib reads the file by its path


class LikenessJudge:
    """Loads the three dlib models once; ``judge(photo, picture)`` compares them."""

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError as exc:
            raise JudgeUnavailable(f"dlib is not installed: {INSTALL_HINT}") from exc
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()  # HOG: fast on a CPU, frontal faces from about 80 px
        self._shapes = dlib.shape_predictor(str(model_file("shape_predictor_68_face_landmarks.dat")))
        self._embedder = dlib.face_recognition_model_v1(str(model_file("dlib_face_recognition_resnet_model_v1.dat")))

    def boxes(self, image: Image.Image) -> list[tuple[int, int, int, int]]:
        """dlib's face boxes, largest first; looked for again at twice the size when none is found (small
        faces), the same rule for photos and pictures."""
        pixels = np.asarray(image.convert("RGB"))
        found = self._detector(pixels, 0) or self._detector(pixels, 1)
        boxes = [(r.left(), r.top(), r.width(), r.height()) for r in found]
        return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)

    def face(self, image: Image.Image, box: tuple[int, int, int, int]) -> Face:
        pixels = np.asarray(image.convert("RGB"))
        x, y, w, h = box
        shape = self._shapes(pixels, self._dlib.rectangle(x, y, x + w, y + h))
        landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
        embedding = np.array(self._embedder.compute_face_descriptor(pixels, shape), dtype=np.float32)
        return Face(box, landmarks, embedding)

    def main_face(self, image: Image.Image) -> Face | None:
        boxes = self.boxes(image)
        return self.face(image, boxes[0]) if boxes else None

    def judge(self, photo: Image.Image, picture: Image.Image, photo_face: Face | None = None) -> Verdict:
        """The picture against the photo, on the photo's grid. ``photo_face``: the photo's, if already read."""
        picture = picture.convert("RGB")
        if picture.size != photo.size:
            picture = picture.resize(photo.size, Image.Resampling.LANCZOS)
        photo_face = photo_face or self.main_face(photo)
        if photo_face is None:
            return Verdict(None, None, False, float("nan"))
        match = next((b for b in self.boxes(picture) if on_face(b, photo_face.box)), None)
        face = self.face(picture, match or photo_face.box)
        return Verdict(photo_face, face, match is None, distance(photo_face.embedding, face.embedding))


def on_face(box: tuple[int, int, int, int], face: tuple[int, int, int, int]) -> bool:
    """``box`` is the same face as ``face``: its centre inside ``face`` and its width within a factor 2."""
    x, y, w, h = box
    fx, fy, fw, fh = face
    cx, cy = x + w / 2, y + h / 2
    return fx <= cx <= fx + fw and fy <= cy <= fy + fh and 0.5 <= w / max(fw, 1) <= 2.0


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))
