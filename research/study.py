"""The study: every portrait x painting x size x method, timed and measured the same way, summed up in
one table (Markdown and HTML) with a contact sheet per size.

Methods: ``arbitrary`` (the arbitrary-style fast network), ``johnson`` (the painting's own trained transform
network, where one ships: "not trained" otherwise) and ``gatys`` (the optimiser with the parameters it is given).
Timings and the same-VGG losses come from ``research.compare``; a face counts as kept when OpenCV's detector
(``style_server.engine.face``) finds one in the result where it found one in the photo. The likeness columns are
an independent judge's (dlib's face embedding), added to a report by ``bench/judge_study.py``: the study itself
knows nothing of the judge, and a cell painted again is unjudged until it runs again.
"""

from __future__ import annotations

import html
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import torch
from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, ConfigDict

from style_server.engine.catalogue import StyleCard
from style_server.engine.errors import InvalidParameter
from style_server.engine.face import detect_faces
from style_server.engine.fast import FastOptions, FastStyle
from style_server.engine.gatys import GatysProgress
from style_server.engine.imageio import fit_longest_side, load_image, save_image_atomic, write_atomic
from style_server.engine.params import GatysParams, make_params
from style_server.engine.runtime import Engine

from .compare import same_vgg_losses, timed_fast, timed_gatys

StudyMethod = Literal["arbitrary", "johnson", "gatys"]
METHODS: tuple[StudyMethod, ...] = ("arbitrary", "johnson", "gatys")
METHOD_NAMES = {"arbitrary": "arbitrary fast", "johnson": "Johnson fast", "gatys": "Gatys"}
NOT_TRAINED = "not trained"
REPORT_JSON, REPORT_MD, REPORT_HTML = "study.json", "study.md", "study.html"


class Likeness(BaseModel):
    """An independent judge's verdict on one painting against its photo (``bench/judge_study.py``)."""

    model_config = ConfigDict(extra="forbid")

    distance: float | None  # identity distance photo vs painting; None: the judge finds no face in the photo
    lost: bool  # the judge finds no face in the painting where it found the photo's


class Cell(BaseModel):
    """One portrait painted in one style at one size by one method."""

    model_config = ConfigDict(extra="forbid")

    portrait: str
    style: str
    size: int
    method: StudyMethod
    status: Literal["ok", "not trained"]
    seconds: float | None = None
    style_loss: float | None = None
    content_loss: float | None = None
    photo_style_loss: float  # the untouched photo against the same painting: the scale for style_loss
    face_in_photo: bool
    face_in_result: bool | None = None
    image: str | None = None  # the painting, relative to the report folder
    likeness: Likeness | None = None  # None: not judged

    @property
    def key(self) -> tuple[str, str, int, str]:
        return self.portrait, self.style, self.size, self.method


class Summary(BaseModel):
    """One row of the table: a method at a size, medians over its painted cells."""

    method: StudyMethod
    size: int
    runs: int
    not_trained: int
    median_seconds: float | None
    median_style_loss: float | None
    median_content_loss: float | None
    faces_in_photos: int
    faces_kept: int
    face_rate: float | None  # faces_kept / faces_in_photos; None when no photo had a face
    judged: int = 0  # paintings the likeness judge read a face in the photo of
    median_identity: float | None = None
    worst_identity: float | None = None
    judge_lost: int = 0  # of the judged, faces the judge no longer finds


class Run(BaseModel):
    """One invocation of the study: what it ran, where, and how busy the machine was."""

    started: str
    seconds: float
    portraits: list[str]
    styles: list[str]
    sizes: list[int]
    methods: list[StudyMethod]
    machine: str
    device: str
    torch: str
    threads: int
    load_before: float
    load_after: float
    gatys: dict  # the Gatys parameters (but the size)
    fast: dict  # the fast networks' options


class StudyReport(BaseModel):
    loss_network: str
    runs: list[Run]
    cells: list[Cell]
    summary: list[Summary]


def johnson_weights(card: StyleCard) -> Path | None:
    """The painting's own trained transform network (whether or not the catalogue offers it), or None where none
    was trained for it."""
    return card.path(card.johnson.weights) if card.johnson is not None else None


def paintings(engine: Engine, style_ids: list[str] | None) -> list[StyleCard]:
    """The catalogue's paintings to study (all of them by default); a style without a painting is refused."""
    if not style_ids:
        return [c for c in engine.catalogue if c.kind == "painting" and c.style_image]
    cards = [engine.catalogue.get(s) for s in style_ids]
    for card in cards:
        if not card.style_image:
            raise InvalidParameter(f"style {card.id!r} has no painting, so the study cannot run it; choose paintings")
    return cards


StepFn = Callable[[str, GatysProgress | None], None]


def run_study(
    engine: Engine,
    portraits: dict[str, Image.Image],
    cards: list[StyleCard],
    sizes: list[int],
    gatys: GatysParams,
    fast: FastOptions,
    out_dir: Path,
    methods: tuple[StudyMethod, ...] = METHODS,
    append: bool = False,
    on_step: StepFn | None = None,
    tile: int = 160,
) -> StudyReport:
    """Paint every portrait in every painting at every size with every method, write the report and return it.
    ``on_step(label, None)`` before each cell, ``on_step(label, progress)`` during a Gatys painting.
    ``append``: keep the cells of the report already in ``out_dir`` (a cell painted again replaces its old one).
    ``tile``: side of each picture on the contact sheets, in pixels."""
    if not portraits or not cards or not sizes or not methods:
        raise InvalidParameter("the study needs at least one portrait, painting, size and method")
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    began = datetime.now(UTC).isoformat(timespec="seconds")
    previous = _previous(out_dir) if append else None
    cells = {c.key: c for c in previous.cells} if previous else {}
    style_images = {card.id: load_image(card.path(card.style_image)) for card in cards}
    for card in cards:
        _save_tile(fit_longest_side(style_images[card.id], 256), out_dir / "cells" / "styles" / f"{card.id}.jpg")
    params = make_params(**{**gatys.model_dump(), "size": sizes[0]})

    def write() -> StudyReport:
        run = Run(
            started=began,
            seconds=round(time.perf_counter() - started, 1),
            portraits=list(portraits),
            styles=[c.id for c in cards],
            sizes=list(sizes),
            methods=list(methods),
            machine=_machine(),
            device=str(engine.device),
            torch=torch.__version__,
            threads=torch.get_num_threads(),
            load_before=round(load_before, 2),
            load_after=round(os.getloadavg()[0], 2),
            gatys=params.model_dump(mode="json", exclude={"size"}),
            fast=fast.model_dump(mode="json"),
        )
        ordered = sorted(cells.values(), key=lambda c: (c.size, c.portrait, c.style, METHODS.index(c.method)))
        report = StudyReport(
            loss_network=engine.vgg()[1].origin,
            runs=[*(previous.runs if previous else []), run],
            cells=ordered,
            summary=summarise(ordered),
        )
        write_report(report, out_dir, tile)
        return report

    for size in sizes:
        params = make_params(**{**gatys.model_dump(), "size": size})
        for name, photo in portraits.items():
            content = fit_longest_side(photo, size)
            _save_tile(content, out_dir / "cells" / str(size) / f"{name}.jpg")
            face_in_photo = bool(detect_faces(content))
            for card in cards:
                styles = [(style_images[card.id], 1.0)]
                pair = (name, content, face_in_photo, card, styles)
                for cell in _paint_pair(engine, pair, params, fast, methods, out_dir, on_step):
                    cells[cell.key] = cell
                write()  # after each portrait and painting: an interrupted study keeps what it painted
    return write()


def _paint_pair(engine, pair, params, fast, methods, out_dir, on_step) -> list[Cell]:
    """One portrait in one painting at one size, by each method: the cells, their pictures saved."""
    name, content, face_in_photo, card, styles = pair
    size = max(content.size)
    painted: dict[str, tuple[Image.Image, float]] = {}
    for method in methods:
        label = f"{name} / {card.id} / {size} px / {method}"
        if on_step:
            on_step(label, None)
        painted_one = _paint(engine, method, content, card, styles, params, fast, label, on_step)
        if painted_one is not None:
            painted[method] = painted_one
    losses, photo_style = same_vgg_losses(engine, content, styles, {m: im for m, (im, _) in painted.items()}, params)
    cells = []
    for method in methods:
        cell = Cell(
            portrait=name,
            style=card.id,
            size=size,
            method=method,
            status="ok" if method in painted else "not trained",
            photo_style_loss=photo_style,
            face_in_photo=face_in_photo,
        )
        if method in painted:
            image, seconds = painted[method]
            relative = f"cells/{size}/{name}--{card.id}--{method}.jpg"
            _save_tile(image, out_dir / relative)
            cell = cell.model_copy(
                update={
                    "seconds": seconds,
                    "style_loss": losses[method]["style"],
                    "content_loss": losses[method]["content"],
                    "face_in_result": bool(detect_faces(image)),
                    "image": relative,
                }
            )
        cells.append(cell)
    return cells


def _paint(engine, method, content, card, styles, params, fast, label, on_step) -> tuple[Image.Image, float] | None:
    if method == "arbitrary":
        arbitrary = FastStyle("arbitrary", vector=engine.fast.painting_vector(card))  # even where Johnson paints
        return timed_fast(engine, content, arbitrary, fast)
    if method == "johnson":
        weights = johnson_weights(card)
        if weights is None:
            return None
        return timed_fast(engine, content, FastStyle("trained", weights_file=str(weights)), fast)
    progress = (lambda p: on_step(label, p)) if on_step else None
    return timed_gatys(engine, content, styles, params, progress)


def _previous(out_dir: Path) -> StudyReport | None:
    path = out_dir / REPORT_JSON
    if not path.is_file():
        return None
    try:
        return StudyReport.model_validate_json(path.read_bytes())
    except ValueError as exc:
        raise InvalidParameter(f"{path} is not a study report this version can extend ({exc})") from None


def summarise(cells: list[Cell]) -> list[Summary]:
    rows = []
    for size in sorted({c.size for c in cells}):
        for method in METHODS:
            group = [c for c in cells if c.size == size and c.method == method]
            if not group:
                continue
            done = [c for c in group if c.status == "ok"]
            with_face = [c for c in done if c.face_in_photo]
            kept = sum(1 for c in with_face if c.face_in_result)
            judged = [c.likeness for c in done if c.likeness is not None and c.likeness.distance is not None]
            distances = [j.distance for j in judged if j.distance is not None]  # all of them: typed as floats
            rows.append(
                Summary(
                    method=method,
                    size=size,
                    runs=len(done),
                    not_trained=len(group) - len(done),
                    median_seconds=_median([c.seconds for c in done]),
                    median_style_loss=_median([c.style_loss for c in done]),
                    median_content_loss=_median([c.content_loss for c in done]),
                    faces_in_photos=len(with_face),
                    faces_kept=kept,
                    face_rate=kept / len(with_face) if with_face else None,
                    judged=len(judged),
                    median_identity=_median(distances),
                    worst_identity=max(distances, default=None),
                    judge_lost=sum(1 for j in judged if j.lost),
                )
            )
    return rows


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model or platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}"


# -- writing ---------------------------------------------------------------------------------------------------


def _save_tile(image: Image.Image, path: Path) -> None:
    save_image_atomic(image, path, quality=90)


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_rows(report: StudyReport) -> list[list[str]]:
    """The table as text: one row per method and size (the Markdown and HTML tables both print these)."""
    rows = []
    for s in report.summary:
        if s.runs == 0:
            numbers = [NOT_TRAINED] * 5
        else:
            face = (
                "n/a (no face in the photos)"
                if s.face_rate is None
                else f"{s.face_rate:.2f} ({s.faces_kept}/{s.faces_in_photos})"
            )
            numbers = [
                _number(s.median_seconds, 3),
                _number(s.median_style_loss, 4),
                _number(s.median_content_loss, 4),
                face,
                _identity_summary(s),
            ]
        paintings_run = f"{s.runs}" + (f" (+{s.not_trained} {NOT_TRAINED})" if s.not_trained else "")
        rows.append([METHOD_NAMES[s.method], str(s.size), paintings_run, *numbers])
    return rows


def _identity_summary(s: Summary) -> str:
    if not s.judged:
        return "-"
    return f"{_number(s.median_identity, 3)} / {_number(s.worst_identity, 3)} ({s.judge_lost}/{s.judged} lost)"


def _identity(likeness: Likeness | None) -> str:
    if likeness is None:
        return "-"
    if likeness.distance is None:
        return "no face in photo"
    return f"{likeness.distance:.3f}" + (", lost" if likeness.lost else "")


SUMMARY_HEADER = [
    "method",
    "size (px)",
    "paintings made",
    "median seconds",
    "median style loss",
    "median content loss",
    "face kept (rate)",
    "identity median / worst (faces lost)",
]
CELL_HEADER = [
    "portrait",
    "painting",
    "size (px)",
    "method",
    "seconds",
    "style loss",
    "content loss",
    "face kept",
    "identity",
]


def cell_rows(report: StudyReport) -> list[list[str]]:
    rows = []
    for c in report.cells:
        if c.status != "ok":
            numbers = [NOT_TRAINED] * 5
        else:
            face = "no face in photo" if not c.face_in_photo else ("yes" if c.face_in_result else "no")
            numbers = [_number(c.seconds, 3), _number(c.style_loss, 4), _number(c.content_loss, 4), face]
            numbers.append(_identity(c.likeness))
        rows.append([c.portrait, c.style, str(c.size), METHOD_NAMES[c.method], *numbers])
    return rows


def _sizes(report: StudyReport) -> list[int]:
    return sorted({c.size for c in report.cells})


def _about(report: StudyReport) -> list[str]:
    """Plain sentences: what ran, on what, how the numbers are measured."""
    lines = [
        f"Portraits: {', '.join(sorted({c.portrait for c in report.cells}))}. "
        f"Paintings: {', '.join(sorted({c.style for c in report.cells}))}. "
        f"Sizes (longest side): {', '.join(f'{s} px' for s in _sizes(report))}.",
        "Seconds: one painting, its network or the loss network already loaded (each fast network runs once "
        f"first). Losses: measured after painting by the same VGG ({report.loss_network}) against the same targets "
        "for every method: style loss = relative Gram distance to the painting (lower is closer to it), content "
        "loss = relative feature distance to the photo (lower keeps more of it); for scale, the untouched photos' "
        f"median style loss is {_number(_median([c.photo_style_loss for c in report.cells]), 4)}. Face kept: "
        "OpenCV's Haar detector finds a face in the painting, counted over the photos where it finds one. "
        "Identity: an independent judge's (dlib's face embedding, `bench/judge_study.py`) distance between the "
        "photo's face and the painting's, below 0.6 the same person for dlib (two photos of one person are about "
        "0.3-0.45); lost: the judge finds no face in the painting where it found the photo's; - where not judged.",
    ]
    for run in report.runs:
        g, f = run.gatys, run.fast
        lines.append(
            f"Run of {run.started}: {_count(run.portraits, 'portrait')} x {_count(run.styles, 'painting')} x "
            f"{', '.join(f'{s} px' for s in run.sizes)} x {', '.join(run.methods)}, {run.seconds:.0f} s on "
            f"{run.machine} ({run.device}, torch {run.torch}, {run.threads} threads; load average {run.load_before} "
            f"before, {run.load_after} after). Gatys: {g['optimizer']}, {g['iterations']} iterations at the "
            f"coarsest scale, init {g.get('init')}, multiscale {g['multiscale']} from {g['coarsest_side']} px, "
            f"face protection {g['face_protect']}, seed {g['seed']}. "
            f"Fast networks: face protection {f['face_protect']}, strength {f['strength']}."
        )
    return lines


def _count(items: list, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def markdown(report: StudyReport) -> str:
    def table(header: list[str], rows: list[list[str]]) -> list[str]:
        return [
            "| " + " | ".join(header) + " |",
            "|" + " --- |" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows),
        ]

    out = ["# Portrait study: arbitrary fast vs Johnson fast vs Gatys", ""]
    out += [*(f"{line}\n" for line in _about(report))]
    out += ["## Medians per method and size", "", *table(SUMMARY_HEADER, summary_rows(report)), ""]
    for size in _sizes(report):
        out += [f"![contact sheet at {size} px](contact-{size}.jpg)", ""]
    out += ["## Every painting", "", *table(CELL_HEADER, cell_rows(report)), ""]
    return "\n".join(out)


def html_page(report: StudyReport) -> str:
    def table(header: list[str], rows: list[list[str]]) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>" for r in rows)
        return f"<table border=1 cellpadding=4><tr>{head}</tr>{body}</table>"

    sheets = "".join(
        f'<h3>{size} px</h3><p><img src="contact-{size}.jpg" alt="contact sheet at {size} px"></p>'
        for size in _sizes(report)
    )
    return (
        "<!doctype html><meta charset=utf-8><title>Portrait study</title>"
        "<h1>Portrait study: arbitrary fast vs Johnson fast vs Gatys</h1>"
        + "".join(f"<p>{html.escape(line)}</p>" for line in _about(report))
        + "<h2>Medians per method and size</h2>"
        + table(SUMMARY_HEADER, summary_rows(report))
        + f"<h2>Contact sheets</h2>{sheets}<h2>Every painting</h2>"
        + table(CELL_HEADER, cell_rows(report))
    )


def contact_sheet(report: StudyReport, out_dir: Path, size: int, tile: int = 160) -> Image.Image:
    """Rows: portrait x painting; columns: the photo, the painting, then each method's result with its numbers."""
    cells = [c for c in report.cells if c.size == size]
    pairs = list(dict.fromkeys((c.portrait, c.style) for c in cells))
    methods = [m for m in METHODS if any(c.method == m for c in cells)]
    by_key = {(c.portrait, c.style, c.method): c for c in cells}
    font = ImageFont.load_default(size=11)
    caption = 44 if any(c.likeness is not None for c in cells) else 30  # a third line: the judge's identity
    columns = 2 + len(methods)
    sheet = Image.new("RGB", (columns * (tile + 6) + 6, len(pairs) * (tile + caption + 6) + 6), "white")
    draw = ImageDraw.Draw(sheet)
    for row, (portrait, style) in enumerate(pairs):
        y = 6 + row * (tile + caption + 6)
        tiles: list[tuple[str, Path | None]] = [
            (portrait, out_dir / "cells" / str(size) / f"{portrait}.jpg"),
            (style, out_dir / "cells" / "styles" / f"{style}.jpg"),
        ]
        for method in methods:
            c = by_key.get((portrait, style, method))
            if c is None or c.status != "ok" or c.image is None:
                tiles.append((f"{METHOD_NAMES[method]}\n{NOT_TRAINED if c else 'not run'}", None))
            else:
                face = "" if not c.face_in_photo else (", face" if c.face_in_result else ", NO face")
                identity = f"\nidentity {_identity(c.likeness)}" if c.likeness is not None else ""
                tiles.append(
                    (
                        f"{METHOD_NAMES[method]} {c.seconds:.2f} s{face}\nstyle {c.style_loss:.3f} "
                        f"content {c.content_loss:.3f}{identity}",
                        out_dir / c.image,
                    )
                )
        for column, (text, path) in enumerate(tiles):
            x = 6 + column * (tile + 6)
            draw.multiline_text((x, y), text, fill="black", font=font, spacing=2)
            box = (x, y + caption, x + tile, y + caption + tile)
            if path is None or not path.is_file():
                draw.rectangle(box, fill=(225, 225, 225))
                continue
            with Image.open(path) as img:
                small = fit_longest_side(img.convert("RGB"), tile)
            sheet.paste(small, (x + (tile - small.width) // 2, y + caption + (tile - small.height) // 2))
    return sheet


def write_report(report: StudyReport, out_dir: Path, tile: int = 160) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for size in _sizes(report):
        save_image_atomic(contact_sheet(report, out_dir, size, tile), out_dir / f"contact-{size}.jpg", quality=80)
    write_atomic(out_dir / REPORT_JSON, lambda f: f.write(report.model_dump_json(indent=2).encode()))
    write_atomic(out_dir / REPORT_MD, lambda f: f.write(markdown(report).encode()))
    write_atomic(out_dir / REPORT_HTML, lambda f: f.write(html_page(report).encode()))
