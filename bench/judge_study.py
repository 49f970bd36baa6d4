"""The likeness judge on a study report: every painting of ``style-server study`` judged against its photo by
dlib's face embedding (``likeness.py``), the verdicts written into the report (``study.json``, ``study.md``,
``study.html``, contact sheets) as its identity columns.

The study paints; this only measures. It reads the pictures the study saved (``cells/<size>/<portrait>.jpg``, the
photo at the study's size, and each cell's painting), so a report is judged again without painting anything.

Run: python bench/judge_study.py docs/study [--tile 160]   (needs the bench extra: pip install -e '.[bench]')
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from likeness import Face, LikenessJudge
from PIL import Image

from research.study import METHOD_NAMES, REPORT_JSON, Likeness, StudyReport, summarise, summary_rows, write_report


def judge_report(folder: Path, judge: LikenessJudge, tile: int = 160) -> StudyReport:
    """The report in ``folder`` with every painted cell judged, written back."""
    report = StudyReport.model_validate_json((folder / REPORT_JSON).read_bytes())
    photo_faces: dict[tuple[int, str], tuple[Image.Image, Face | None]] = {}
    cells = []
    for cell in report.cells:
        if cell.status == "ok" and cell.image is not None:
            key = (cell.size, cell.portrait)
            if key not in photo_faces:
                path = folder / "cells" / str(cell.size) / f"{cell.portrait}.jpg"
                if not path.is_file():
                    raise SystemExit(f"{path} is missing: the study saves each photo at its size; run it again")
                photo = Image.open(path).convert("RGB")
                photo_faces[key] = (photo, judge.main_face(photo))
            photo, face = photo_faces[key]
            with Image.open(folder / cell.image) as painting:
                verdict = judge.judge(photo, painting, face)
            distance = None if math.isnan(verdict.distance) else round(verdict.distance, 4)
            cell = cell.model_copy(update={"likeness": Likeness(distance=distance, lost=verdict.lost)})
        cells.append(cell)
    judged = report.model_copy(update={"cells": cells, "summary": summarise(cells)})
    write_report(judged, folder, tile)
    return judged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="a study report folder (style-server study -o FOLDER)")
    parser.add_argument("--tile", type=int, default=160, help="the contact sheets' tile side, as the study's --tile")
    args = parser.parse_args()
    report = judge_report(args.folder, LikenessJudge(), args.tile)
    print("| method | size (px) | identity median / worst (faces lost) |\n|---|---|---|")
    for s, row in zip(report.summary, summary_rows(report), strict=True):
        print(f"| {METHOD_NAMES[s.method]} | {s.size} | {row[-1]} |")
    print(f"report: {args.folder / 'study.md'}")


if __name__ == "__main__":
    main()
