"""Shared by the masterpiece benchmarks: real portraits, the server's masterpiece parameters, the pasted-on face
recipe (the baseline the face care must beat), and where OpenCV finds the face in a painting (the style loss by
region is research.compare's).

Portraits of different people, real photographs that installed packages ship: the astronaut Eileen Collins
(scikit-image), Grace Hopper (matplotlib), Luis Pedro Coelho (mahotas), and a frame of the kiosk's demo video
(the camera's path). ``pip install -e '.[bench]'`` installs the two that the dev tools do not.
"""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from style_server.config import Settings
from style_server.engine.face import detect_faces
from style_server.engine.params import GatysParams, make_params
from style_server.engine.runtime import Engine

# The pasted-on face recipe, the baseline the face care must beat (30 % of the style kept off faces), with its own
# scales and iterations
TODAY = {
    "init": "content",
    "multiscale": True,
    "coarsest_side": 256,
    "refine_share": 0.5,
    "face_style_keep": 0.3,
    "face_content_boost": 4.0,
    "face_content_layers": (),
    "face_skin_colour": 0.0,
    "face_skin_smooth": 0.0,
}
TODAY_SERVER_ITERATIONS = 150


def _package_file(package: str, *parts: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent.joinpath(*parts)
    return path if path.is_file() else None


def _astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())


def _file(package: str, *parts: str) -> Callable[[], Image.Image | None]:
    def load() -> Image.Image | None:
        path = _package_file(package, *parts)
        return Image.open(path).convert("RGB") if path else None

    return load


def _demo_frame() -> Image.Image:
    from booth_client.demo import make_demo_video

    with tempfile.TemporaryDirectory() as tmp:
        capture = cv2.VideoCapture(str(make_demo_video(Path(tmp) / "demo.avi", seconds=1.0)))
        ok, frame = capture.read()
        capture.release()
    if not ok:
        raise RuntimeError("could not read the demo video")
    return Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))


PORTRAITS: dict[str, Callable[[], Image.Image | None]] = {
    "astronaut (scikit-image)": _astronaut,
    "grace-hopper (matplotlib)": _file("matplotlib", "mpl-data", "sample_data", "grace_hopper.jpg"),
    "luis-pedro (mahotas)": _file("mahotas", "demos", "data", "luispedro.jpg"),
    "demo video frame (kiosk camera)": _demo_frame,
}


def server_params(settings: Settings, engine: Engine, photo: Image.Image, **overrides) -> GatysParams:
    """A masterpiece as the server paints one (runner.py): gatys_size, the engine's iterations, delivered at the
    Instant size by the guided upsample, face protection on."""
    longest = max(photo.size)
    size = min(settings.engine.gatys_size, longest)
    output = max(size, min(max(settings.engine.fast_size, size), longest, settings.engine.max_output_side))
    values = {
        "size": size,
        "output_size": output,
        "iterations": engine.masterpiece_iterations(),
        "face_protect": True,
        "preview_every": settings.engine.preview_every,
    }
    return make_params(**(values | overrides))


def today_params(settings: Settings, engine: Engine, photo: Image.Image) -> GatysParams:
    return server_params(settings, engine, photo, iterations=TODAY_SERVER_ITERATIONS, **TODAY)


def same_place(photo_box, result: Image.Image, photo: Image.Image, tolerance: float = 0.1):
    """The face OpenCV finds in ``result`` nearest ``photo_box`` (in the photo's pixels), and whether its centre
    and size are within ``tolerance`` of the box's size."""
    scale = photo.width / result.width
    found = [tuple(v * scale for v in b) for b in detect_faces(result)]
    if not found:
        return None, False
    px, py, pw, ph = photo_box
    centre = np.array([px + pw / 2, py + ph / 2])

    def distance(b):
        return float(np.linalg.norm(np.array([b[0] + b[2] / 2, b[1] + b[3] / 2]) - centre))

    best = min(found, key=distance)
    ok = distance(best) <= tolerance * pw and abs(best[2] - pw) <= tolerance * pw
    return best, ok
