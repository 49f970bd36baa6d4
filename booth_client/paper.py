"""The papers and page layouts a print can have: the one table the settings, the page and the lp call read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PaperName = Literal["10x15", "13x18", "a6", "a5", "a4", "letter"]
LayoutName = Literal["portrait", "frame"]


@dataclass(frozen=True)
class Paper:
    label: str  # what the operator reads
    width_mm: float  # upright: the shorter side
    height_mm: float
    media: str  # the PWG media name given to lp; CUPS maps it to the printer's own size (or a custom one)


PAPERS: dict[PaperName, Paper] = {
    "10x15": Paper("10 x 15 cm (4 x 6 in)", 101.6, 152.4, "na_index-4x6_4x6in"),
    "13x18": Paper("13 x 18 cm (5 x 7 in)", 127.0, 177.8, "na_5x7_5x7in"),
    "a6": Paper("A6", 105.0, 148.0, "iso_a6_105x148mm"),
    "a5": Paper("A5", 148.0, 210.0, "iso_a5_148x210mm"),
    "a4": Paper("A4", 210.0, 297.0, "iso_a4_210x297mm"),
    "letter": Paper("Letter", 215.9, 279.4, "na_letter_8.5x11in"),
}
PAPER_CHOICES = {name: paper.label for name, paper in PAPERS.items()}  # the operator panel's names

LAYOUTS: dict[LayoutName, str] = {
    "portrait": "The portrait alone",
    "frame": "The portrait on a page frame",
}
