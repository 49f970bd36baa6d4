"""Make the study's portraits (docs/study/portraits/) from public-domain photos that ship in packages.

* ``astronaut.jpg``: NASA's astronaut Eileen Collins (public domain), scikit-image's ``data.astronaut()``.
* ``booth-camera.jpg``: frame 25 of the kiosk's demo camera video (``booth_client.demo``), the same astronaut as
  the booth's camera delivers her: 640x480, MJPEG-compressed, panned and zoomed.
* ``grace-hopper.jpg``: Rear Admiral Grace Hopper, official U.S. Navy portrait (public domain), as shipped in
  matplotlib's sample data; matplotlib is no dependency of the project, so give its wheel
  (``pip download matplotlib --no-deps -d /tmp/mpl``) with ``--matplotlib-wheel`` if it is not installed.

    python scripts/study_portraits.py [--out docs/study/portraits] [--matplotlib-wheel WHEEL]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import zipfile
from pathlib import Path

import cv2
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
HOPPER = "matplotlib/mpl-data/sample_data/grace_hopper.jpg"


def grace_hopper(wheel: Path | None) -> bytes:
    if wheel is not None:
        with zipfile.ZipFile(wheel) as archive:
            return archive.read(HOPPER)
    try:
        from matplotlib import cbook
    except ImportError:
        raise SystemExit("matplotlib is not installed: pass its wheel with --matplotlib-wheel") from None
    return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).read_bytes()


def booth_frame(index: int = 25) -> Image.Image:
    from booth_client.demo import make_demo_video

    with tempfile.TemporaryDirectory() as folder:
        capture = cv2.VideoCapture(str(make_demo_video(Path(folder) / "camera.avi")))
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = capture.read()
        capture.release()
    if not ok:
        raise SystemExit("could not read a frame of the demo video")
    return Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "study" / "portraits")
    parser.add_argument("--matplotlib-wheel", type=Path, help="matplotlib's wheel, for Grace Hopper's portrait")
    args = parser.parse_args()
    from skimage import data

    args.out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(data.astronaut()).save(args.out / "astronaut.jpg", quality=90)
    booth_frame().save(args.out / "booth-camera.jpg", quality=90)
    hopper = grace_hopper(args.matplotlib_wheel)
    Image.open(io.BytesIO(hopper)).verify()  # a JPEG, kept as shipped
    (args.out / "grace-hopper.jpg").write_bytes(hopper)
    for path in sorted(args.out.glob("*.jpg")):
        print(f"{path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
