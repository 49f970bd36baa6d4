"""The painted face, judged independently: likeness and quality per path and style over real
portraits of several people (``portrait_set.py``; sources and licences in ``PORTRAITS.md``).

Each picture is made by the engine exactly as the server makes it (nothing here re-implements a path):
- *Instant*: ``engine.fast.stylize`` with the runner's ``FastOptions`` (the painted side of ``painted_side``: the
  server's ``fast_size``, 1024, or the photo's longest side if smaller; face protection on), the style resolved by
  ``engine.choose`` and ``engine.fast_style``; *Instant, protection off*: the same with ``face_protect=False``;
- *Masterpiece* (``--masterpiece``, about 35 s a picture on 2 CPU cores): ``engine.gatys().run`` with the
  server's parameters (``portraits.server_params``: gatys_size, gatys_iterations, face protection, delivered at
  the Instant size).

Per picture, all on the photo's grid at the picture's size (the picture brought to it if it differs):
- *identity distance*: dlib's face embedding, photo vs picture (``likeness.py``; 0.6 = dlib's same-person line,
  two different photos of one person are about 0.3-0.45: see the calibration line the bench prints);
- *lost*: dlib finds no face in the picture where it found the photo's;
- *face painted*: the same-VGG style loss (``research.compare.region_style_losses``, Gram matrices over the
  positions inside / outside dlib's face box of the photo, at 512 px) falls from photo to picture by ``fall_in``
  inside the box and ``fall_out`` outside: ratio = fall_in / fall_out (1: the face as painted as the rest, 0: the
  face still the photo); not measured (nan) where the loss outside falls by less than 10 % (a background
  already close to the painting, or barely painted: the ratio would divide by almost nothing). The style
  target is the card's painting. A palette has none: its stand-in is the palette's own Instant painting of the
  same photo with face protection off (the defaults of the run), so for a palette the style loss and this ratio
  say how close the picture and its face come to what the palette paints unhindered (0 and about 1 for that path
  itself), and they move if the unprotected path changes;
- *skin blotch* (mottling): the high-frequency chroma on the skin. In CIELAB, each of a* and b* minus a Gaussian
  blur of itself (sigma = 1/25 of the face's width, about 8 px for a 200 px face: blotches and streaks, not the
  face's shading), RMS over the skin: the face inside the jaw line and brows (68 dlib landmarks of the photo),
  without eyes, brows, nostrils and mouth, eroded from the edge. Reported as the picture's over the photo's
  (1: as even as the photo's skin; 2: twice the colour noise). The photo's value is taken as at least 1 unit of
  a*b* so that black-and-white photos do not divide by zero;
- *skin crackle* (plaster): the same on L* (lightness): fine light/dark texture on the skin, picture over photo;
- *style / content loss*: ``research.compare.same_vgg_losses`` at 512 px (the defaults' layers, the painting's
  Gram matrices, or a palette's stand-in above; content relu4_2 against the photo);
- *seconds*: the engine call alone, models loaded.

Two settings compare in one run with ``--variant LABEL:key=value,...`` (repeatable; a variant named ``now`` with
no change always runs first): each key is a field of ``FastOptions`` (Instant), ``GatysParams`` (Masterpiece),
``Settings`` (e.g. ``fast_size``) or ``FaceCare`` (Instant's face care, over each style card's own), values as
JSON (``keep=0.2``, ``brush=300``, ``face_protect=false``).

Run: python bench/bench_quality.py [--styles starry-night,palette-05] [--all-palettes] [--portraits N] [--only a,b]
     [--masterpiece [--masterpiece-portraits 3]] [--variant keep02:keep=0.2] [--json out.json]
     [--save DIR] [--fetch]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from likeness import Face, LikenessJudge, distance
from PIL import Image
from portrait_set import PORTRAITS, available, fetch
from portraits import server_params

import style_server
from research.compare import region_style_losses, same_vgg_losses
from style_server.config import Settings, engine_from_settings, get_settings, group_of
from style_server.engine.face import FaceCare
from style_server.engine.fast import FastOptions
from style_server.engine.imageio import fit_longest_side
from style_server.engine.losses import content_loss, gram, style_loss, style_targets
from style_server.engine.params import GatysParams, make_params
from style_server.engine.runtime import Engine
from style_server.engine.tensors import to_tensor
from style_server.service.runner import painted_side

ANALYSIS = 512  # the side of the VGG measurements
PALETTES = ("palette-05", "palette-16")  # the two palettes measured by default (--all-palettes: all 26)
SKIN_SIGMA = 1 / 25  # blotch scale, as a share of the face's width
FLOOR = 1.0  # CIELAB units: the least texture a photo's skin is taken to have
MIN_FALL = 0.1  # the face-painted ratio needs the style loss outside the face to fall by 10 % at least


@dataclass(frozen=True)
class Variant:
    label: str
    fast: dict = field(default_factory=dict)
    gatys: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    face: dict = field(default_factory=dict)  # FaceCare fields over each style's own


@dataclass(frozen=True)
class PaintPath:
    label: str  # "Instant", "Instant, protection off", "Masterpiece"
    style: str
    method: str  # fast or gatys
    protect: bool = True


@dataclass
class Row:
    variant: str
    path: str
    style: str
    portrait: str
    seconds: float
    distance: float
    lost: bool
    painted: float
    style_inside: tuple[float, float]  # photo, picture
    style_outside: tuple[float, float]
    blotch: float
    crackle: float
    style_loss: float
    content_loss: float


def parse_variant(spec: str) -> Variant:
    """``LABEL:key=value,...`` -> a Variant, each key routed to the models that have it."""
    label, _, pairs = spec.partition(":")
    fast, gatys, settings, face = {}, {}, {}, {}
    for pair in filter(None, pairs.split(",")):
        key, _, raw = pair.partition("=")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        known = False
        for model, into in ((FastOptions, fast), (GatysParams, gatys), (FaceCare, face)):
            if key in model.model_fields:
                into[key], known = value, True
        if group_of(key) is not None:  # a setting, by its name without its group (as in the environment)
            settings[key], known = value, True
        if not known:
            raise SystemExit(
                f"--variant {spec}: {key} is not a field of FastOptions, GatysParams, Settings or FaceCare"
            )
    return Variant(label, fast, gatys, settings, face)


def paths(engine: Engine, args: argparse.Namespace) -> list[PaintPath]:
    cards = engine.catalogue.cards
    if args.styles:
        styles = args.styles.split(",")
    else:
        styles = [c.id for c in cards if c.kind == "painting"]
        palettes = [c.id for c in cards if c.kind == "multistyle"]
        styles += palettes if args.all_palettes else [p for p in PALETTES if p in palettes]
    out = [PaintPath("Instant", s, "fast") for s in styles]
    if not args.no_unprotected:
        out += [PaintPath("Instant, protection off", s, "fast", protect=False) for s in styles]
    if args.masterpiece:
        out += [PaintPath("Masterpiece", s, "gatys") for s in args.masterpiece_styles.split(",")]
    return out


def painting(engine: Engine, style: str) -> Image.Image | None:
    """The painting a style is measured against; None for a palette (it has none)."""
    card = engine.catalogue.get(style)
    return Image.open(card.path(card.style_image)).convert("RGB") if card.style_image else None


def paint(engine: Engine, settings: Settings, variant: Variant, path: PaintPath, photo: Image.Image):
    """One picture as the server makes it, and the seconds of the engine call."""
    choice = engine.choose(path.style)
    if path.method == "fast":
        options = {"size": painted_side(settings, "fast", None, max(photo.size)), "face_protect": path.protect}
        style = engine.fast_style(choice)
        care = FaceCare.model_validate(style.face_care.model_dump() | variant.face) if variant.face else None
        options = FastOptions(**(options | variant.fast | ({"face_care": care} if care else {})))
        started = time.perf_counter()
        [picture] = engine.fast.stylize([photo], [style], options)
        return picture, time.perf_counter() - started
    params = server_params(settings, engine, photo, **variant.gatys)
    styles = choice.gatys_styles()
    started = time.perf_counter()
    picture = engine.gatys().run(photo, styles, params).image
    return picture, time.perf_counter() - started


def palette_references(engine: Engine, settings: Settings, todo: list[PaintPath], photo: Image.Image) -> dict:
    """A palette has no painting to measure against: its stand-in is its own Instant painting of the same photo
    without face protection (the defaults), i.e. what the palette paints where nothing holds it back."""
    out = {}
    for path in todo:
        if path.method == "fast" and path.style not in out and painting(engine, path.style) is None:
            unprotected = PaintPath("Instant, protection off", path.style, "fast", protect=False)
            out[path.style] = paint(engine, settings, Variant("now"), unprotected, photo)[0]
    return out


def warm_up(engine: Engine, todo: list[PaintPath]) -> None:
    """Each style once on a small image: networks loaded, a painting's style numbers computed (as in a server
    that has painted it before)."""
    engine.fast.warm_up()
    small = Image.new("RGB", (128, 128), (128, 100, 90))
    for style in {p.style for p in todo if p.method == "fast"}:
        engine.fast.stylize([small], [engine.fast_style(engine.choose(style))], FastOptions(face_protect=True))


def skin_mask(size: tuple[int, int], face: Face) -> np.ndarray:
    """The skin of the face from its 68 landmarks: inside the jaw line and brows, without eyes, brows,
    nostrils and mouth (each grown by a margin), the whole shrunk by the same margin from its edge."""
    points = face.landmarks.astype(np.int32)
    margin = max(1, round(face.box[2] / 20))
    mask = np.zeros((size[1], size[0]), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.concatenate([points[0:17], points[17:27]])), 1)
    mask = cv2.erode(mask, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
    holes = np.zeros_like(mask)
    for part in (points[17:22], points[22:27], points[31:36], points[36:42], points[42:48], points[48:60]):
        cv2.fillConvexPoly(holes, cv2.convexHull(part), 1)
    holes = cv2.dilate(holes, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
    return (mask > 0) & (holes == 0)


def skin_texture(image: Image.Image, mask: np.ndarray, sigma: float) -> tuple[float, float]:
    """RMS high-frequency (minus a Gaussian blur of ``sigma`` px) of L* and of a*b* over ``mask``."""
    lab = cv2.cvtColor(np.asarray(image.convert("RGB"), np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    high = lab - cv2.GaussianBlur(lab, (0, 0), sigma)
    inside = high[mask]
    if not len(inside):
        return float("nan"), float("nan")
    lightness = float(np.sqrt(np.mean(inside[:, 0] ** 2)))
    chroma = float(np.sqrt(np.mean(np.sum(inside[:, 1:] ** 2, axis=1))))
    return lightness, chroma


def blotch_and_crackle(photo: Image.Image, picture: Image.Image, face: Face) -> tuple[float, float]:
    """Skin chroma (blotch) and lightness (crackle) texture of the picture, each over the photo's."""
    mask = skin_mask(photo.size, face)
    sigma = max(1.0, face.box[2] * SKIN_SIGMA)
    photo_l, photo_ab = skin_texture(photo, mask, sigma)
    picture_l, picture_ab = skin_texture(picture, mask, sigma)
    return picture_ab / max(photo_ab, FLOOR), picture_l / max(photo_l, FLOOR)


def clipped(box: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    x, y, w, h = box
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(size[0], x + w), min(size[1], y + h)
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


class Measure:
    """Everything measured of one picture against its photo. The VGG figures are those of
    ``region_style_losses`` (whole, inside, outside) and ``same_vgg_losses`` (style, content), computed with the
    same functions from one forward pass of the picture, the style targets and the photo's figures cached (the
    two functions take seven passes a picture); the first picture is checked against both."""

    def __init__(self, engine: Engine, judge: LikenessJudge) -> None:
        self.engine, self.judge = engine, judge
        self.vgg = engine.vgg()[0]
        self.params = make_params(size=ANALYSIS)
        self.layers = list(self.params.style_layers)
        self.content_layers = list(self.params.content_layers)
        self._targets: dict[tuple[str, str], tuple[Image.Image, dict[str, torch.Tensor]]] = {}
        self._photos: dict[tuple[str, str], dict[str, float]] = {}
        self._content: dict[str, dict[str, torch.Tensor]] = {}
        self.checked = False

    def target(self, key: str, style: str, reference: Image.Image | None) -> tuple[Image.Image, dict]:
        """The style image and its Gram matrices at the analysis side (``reference``: a palette's stand-in)."""
        slot = (key if reference is not None else "", style)
        if slot not in self._targets:
            image = reference if reference is not None else painting(self.engine, style)
            fitted = to_tensor(fit_longest_side(image, ANALYSIS), self.engine.device)
            self._targets[slot] = image, style_targets(self.vgg, [(fitted, 1.0)], self.layers)
        return self._targets[slot]

    @torch.no_grad()
    def vgg_figures(self, image: Image.Image, grams: dict, box, content: dict | None) -> dict[str, float]:
        """Style loss whole / inside / outside ``box`` and (given the photo's features) the content loss."""
        picture = fit_longest_side(image, ANALYSIS)
        feats = self.vgg(to_tensor(picture, self.engine.device), self.layers + self.content_layers)
        inside = torch.zeros(1, 1, picture.height, picture.width, device=self.engine.device)
        scale = picture.width / image.width
        x, y, w, h = (round(v * scale) for v in box)
        inside[..., y : y + h, x : x + w] = 1.0
        out = {"whole": float(style_loss({n: gram(feats[n]) for n in self.layers}, grams))}
        for name, weight in (("inside", inside), ("outside", 1.0 - inside)):
            out[name] = float(style_loss({n: gram(feats[n], weight) for n in self.layers}, grams))
        if content is not None:
            out["content"] = float(
                torch.stack([content_loss(feats[n], content[n]) for n in self.content_layers]).mean()
            )
        return out | {"features": feats}

    def picture(self, key: str, grid: Image.Image, face: Face, style: str, picture: Image.Image, reference=None):
        picture = picture.convert("RGB")
        if picture.size != grid.size:
            picture = picture.resize(grid.size, Image.Resampling.LANCZOS)
        verdict = self.judge.judge(grid, picture, face)
        box = clipped(face.box, grid.size)
        target, grams = self.target(key, style, reference)
        if (key, style) not in self._photos:
            photo = self.vgg_figures(grid, grams, box, None)
            features = photo.pop("features")  # a few hundred MB at 512 px: only the content layers are kept
            self._content[key] = {n: features[n] for n in self.content_layers}
            self._photos[key, style] = photo
        before, after = self._photos[key, style], self.vgg_figures(picture, grams, box, self._content[key])
        if not self.checked:
            self.check(grid, picture, target, box, after)
        fall_out = before["outside"] - after["outside"]
        measurable = fall_out > MIN_FALL * before["outside"]
        painted = (before["inside"] - after["inside"]) / fall_out if measurable else float("nan")
        blotch, crackle = blotch_and_crackle(grid, picture, face)
        return {
            "distance": verdict.distance,
            "lost": verdict.lost,
            "painted": painted,
            "blotch": blotch,
            "crackle": crackle,
            "style_inside": (before["inside"], after["inside"]),
            "style_outside": (before["outside"], after["outside"]),
            "style_loss": after["whole"],
            "content_loss": after["content"],
        }

    def check(self, grid, picture, target, box, mine: dict) -> None:
        """The cached figures against ``region_style_losses`` and ``same_vgg_losses`` themselves."""
        regions = region_style_losses(self.vgg, picture, target, ANALYSIS, self.layers, box)
        content = fit_longest_side(grid, ANALYSIS)
        losses, _ = same_vgg_losses(
            self.engine, content, [(target, 1.0)], {"p": fit_longest_side(picture, ANALYSIS)}, self.params
        )
        theirs = regions | {"content": losses["p"]["content"], "same_vgg_style": losses["p"]["style"]}
        ours = {k: mine[k] for k in ("whole", "inside", "outside", "content")} | {"same_vgg_style": mine["whole"]}
        worst = max(abs(ours[k] - theirs[k]) / max(abs(theirs[k]), 1e-9) for k in ours)
        print(f"check against research.compare: largest relative difference {worst:.1e}", flush=True)
        if worst > 1e-3:
            raise SystemExit(f"the cached figures {ours} differ from research.compare's {theirs}")
        self.checked = True


def machine() -> dict:
    """The CPU, its load, and which engine code runs (the checkout's commit and uncommitted engine changes)."""
    source = Path(style_server.__file__).resolve().parent

    def run(*command: str) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=source.parent)
        except OSError:
            return ""
        return done.stdout.strip()

    cpu = next((line.split(":", 1)[1].strip() for line in run("lscpu").splitlines() if "Model name" in line), "?")
    dirty = run("git", "status", "--short", "--", "style_server/engine", "style_server/service/runner.py")
    return {
        "node": platform.node(),
        "cpu": cpu,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "uptime": run("uptime"),
        "engine_source": str(source),
        "commit": run("git", "rev-parse", "--short", "HEAD") or "not a git checkout",
        "engine_changes_uncommitted": dirty.splitlines(),
    }


def calibration(faces: dict[str, tuple[str, Face]]) -> dict:
    """The judge on the photos themselves: different photos of one person vs photos of different people."""
    same, other = [], []
    keys = sorted(faces)
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            (pa, fa), (pb, fb) = faces[a], faces[b]
            (same if pa == pb else other).append(distance(fa.embedding, fb.embedding))
    return {
        "same_person": {"pairs": len(same), "median": statistics.median(same) if same else None},
        "different_people": {"pairs": len(other), "median": statistics.median(other) if other else None},
    }


def summary(rows: list[Row]) -> list[dict]:
    groups: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    for row in rows:
        groups[row.variant, row.path, row.style].append(row)

    def median(values):
        values = [v for v in values if v == v]  # without nan
        return statistics.median(values) if values else float("nan")

    out = []
    for (variant, path, style), group in groups.items():
        out.append(
            {
                "variant": variant,
                "path": path,
                "style": style,
                "pictures": len(group),
                "identity_median": median(r.distance for r in group),
                "identity_worst": max(r.distance for r in group),
                "lost": sum(r.lost for r in group),
                "painted_median": median(r.painted for r in group),
                "painted_min": min((r.painted for r in group if r.painted == r.painted), default=float("nan")),
                "painted_measured": sum(r.painted == r.painted for r in group),
                "blotch_median": median(r.blotch for r in group),
                "crackle_median": median(r.crackle for r in group),
                "style_loss_median": median(r.style_loss for r in group),
                "content_loss_median": median(r.content_loss for r in group),
                "seconds_median": median(r.seconds for r in group),
            }
        )
    return out


def table(rows: list[dict]) -> str:
    lines = [
        "| variant | path | style | identity median | worst | faces lost | face painted: median, min (measured) | "
        "skin blotch | skin crackle | style loss | content loss | s / picture |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['path']} | {r['style']} | {r['identity_median']:.3f} | "
            f"{r['identity_worst']:.3f} | {r['lost']} of {r['pictures']} | {r['painted_median']:.2f}, "
            f"{r['painted_min']:.2f} ({r['painted_measured']}) | {r['blotch_median']:.2f} | "
            f"{r['crackle_median']:.2f} | "
            f"{r['style_loss_median']:.4f} | {r['content_loss_median']:.3f} | {r['seconds_median']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    args = arguments()
    if args.fetch:
        fetch()
    variants = [Variant("now"), *(parse_variant(v) for v in args.variant)]
    base = get_settings()
    engine = engine_from_settings(base)
    judge = LikenessJudge()
    measure = Measure(engine, judge)
    info = machine()
    print(json.dumps(info), flush=True)
    todo = paths(engine, args)
    warm_up(engine, todo)
    portraits = [(p, photo) for p, photo in available(args.portraits) if not args.only or p.key in args.only]
    people = {p.person for p, _ in portraits}
    print(f"{len(portraits)} portraits of {len(people)} people; {len(todo)} paths x {len(variants)} variants")
    rows, faces = [], {}
    for number, (portrait, photo) in enumerate(portraits):
        grid = fit_longest_side(photo, painted_side(base, "fast", None, max(photo.size)))
        face = judge.main_face(grid)
        if face is None:
            print(f"{portrait.key}: dlib finds no face in the photo, skipped")
            continue
        faces[portrait.key] = (portrait.person, face)
        references = palette_references(engine, base, todo, photo)
        for variant in variants:
            settings = Settings.model_validate({**base.model_dump(), **variant.settings})
            for path in todo:
                if path.method == "gatys" and number >= args.masterpiece_portraits:
                    continue
                picture, seconds = paint(engine, settings, variant, path, photo)
                reference = references.get(path.style)
                figures = measure.picture(portrait.key, grid, face, path.style, picture, reference)
                row = Row(variant.label, path.label, path.style, portrait.key, seconds, **figures)
                rows.append(row)
                print(
                    f"{portrait.key} [{variant.label}] {path.label} {path.style}: {seconds:.2f} s, "
                    f"distance {row.distance:.3f}{' LOST' if row.lost else ''}, painted {row.painted:.2f}, "
                    f"blotch {row.blotch:.2f}, crackle {row.crackle:.2f}, style {row.style_loss:.4f}, "
                    f"content {row.content_loss:.3f}",
                    flush=True,
                )
                if args.save:
                    folder = args.save / variant.label / f"{path.label.split(',')[0]}-{path.protect}-{path.style}"
                    folder.mkdir(parents=True, exist_ok=True)
                    picture.save(folder / f"{portrait.key}.jpg", quality=90)
    judged = calibration(faces)
    rows_summary = summary(rows)
    print(f"\njudge calibration on the photos: {json.dumps(judged)}")
    print(f"uptime after: {machine()['uptime']}\n")
    print(table(rows_summary))
    if args.json:
        report = {"machine": info, "calibration": judged, "summary": rows_summary, "pictures": [vars(r) for r in rows]}
        args.json.write_text(json.dumps(no_nan(report), indent=1))


def no_nan(value):
    """JSON has no NaN: a figure that could not be measured is null."""
    if isinstance(value, dict):
        return {k: no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [no_nan(v) for v in value]
    return None if isinstance(value, float) and value != value else value


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles", help="comma-separated style ids (default: every painting, palette-05, palette-16)")
    parser.add_argument("--all-palettes", action="store_true", help="all 26 palettes instead of two")
    parser.add_argument("--no-unprotected", action="store_true", help="skip Instant with face protection off")
    parser.add_argument("--portraits", type=int, help=f"the first N of the {len(PORTRAITS)} portraits")
    parser.add_argument("--only", type=lambda s: s.split(","), help="these portraits (comma-separated keys)")
    parser.add_argument("--masterpiece", action="store_true", help="also the masterpiece (about 35 s a picture)")
    parser.add_argument("--masterpiece-styles", default="starry-night")
    parser.add_argument("--masterpiece-portraits", type=int, default=3, help="masterpieces of the first N only")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL:key=value,...")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--save", type=Path, help="keep the pictures here")
    parser.add_argument("--fetch", action="store_true", help="download the portraits' archives first")
    return parser.parse_args()


if __name__ == "__main__":
    main()
