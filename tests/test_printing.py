"""Printing through a real CUPS server (tests/cups_server.py: a private cupsd with Debian's cups-pdf printer and a
printer out of paper): the printed PDF has the paper's size and shows the portrait, the visitor prints from the
result screen up to the operator's limit without waiting for CUPS, the operator panel lists CUPS' printers with
their state and failed jobs, and no page outlives the job (nor the retention). Real kiosk windows (offscreen)."""

from __future__ import annotations

import io
import os
import time

import numpy as np
import pytest
from PIL import Image

from booth_client.config import KioskConfig
from booth_client.paper import PAPERS
from booth_client.print_desk import print_painting
from booth_client.print_page import DPI, PrintSpool, compose_page
from booth_client.printing import Cups
from tests import cups_server
from tests.test_kiosk import click, make_window, unlock_panel

POINTS = 72 / 25.4  # per mm


@pytest.fixture(scope="module")
def cups():
    reason = cups_server.missing()
    if reason:
        pytest.skip(reason)
    server = cups_server.PrivateCups()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def painting(portrait) -> bytes:
    """A painting as the kiosk holds it: a JPEG, taller than wide (the astronaut, cropped)."""
    out = io.BytesIO()
    portrait.crop((96, 0, 416, 480)).resize((240, 360), Image.Resampling.LANCZOS).save(out, "JPEG", quality=95)
    return out.getvalue()


def printing_config(cups, tmp_path, **overrides) -> dict:
    return {
        "print_enabled": True,
        "print_server": cups.server,
        "print_printer": "PDF",
        "outbox_dir": tmp_path / "outbox",
        **overrides,
    }


def page_difference(pdf, expected: Image.Image, tmp_path) -> float:
    """Mean absolute difference (0-255) between the printed page, rendered, and the page the kiosk laid out,
    both brought to a quarter of the print's resolution (CUPS may round the paper to whole points)."""
    rendered = Image.open(cups_server.render(pdf, DPI, tmp_path / "page.png")).convert("RGB")
    small = (expected.width // 4, expected.height // 4)
    printed, laid_out = (np.asarray(p.resize(small, Image.Resampling.BOX), float) for p in (rendered, expected))
    return float(np.abs(printed - laid_out).mean())


def test_a_print_is_a_pdf_of_the_paper_size_showing_the_portrait(cups, painting, tmp_path):
    config = KioskConfig(**printing_config(cups, tmp_path, print_paper="a6", print_margin_mm=8))
    spool = PrintSpool(tmp_path / "prints")
    job = print_painting(painting, config, spool)
    pdf = cups.output(job)
    width, height = cups_server.media_box(pdf)
    assert abs(width - 105 * POINTS) < 1.5 and abs(height - 148 * POINTS) < 1.5, (width, height)  # A6
    page, (left, top, width, height) = compose_page(painting, PAPERS["a6"], "portrait", margin_mm=8)
    assert page_difference(pdf, page, tmp_path) < 3  # the page printed is the one laid out (upside down: 75)
    portrait = np.asarray(page.crop((left, top, left + width, top + height)), float)
    expected = Image.open(io.BytesIO(painting)).convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    assert np.abs(portrait - np.asarray(expected, float)).mean() < 3  # and it shows the painting, 8 mm in
    assert min(left, top) == round(8 / 25.4 * DPI)
    assert spool.files() == []  # the page left the kiosk once lp had the job


def test_the_visitor_prints_from_the_result_screen_up_to_the_operators_limit(qtbot, tmp_path, cups, painting, video):
    window = make_window(
        qtbot, tmp_path, camera=str(video), **printing_config(cups, tmp_path, print_copies_max=2, print_paper="10x15")
    )
    offer = window.result.print_offer
    window.flow.start("result", None, painting)
    assert offer.isVisible() and offer.button.isEnabled()
    click(qtbot, offer.button)
    assert window.current() == "result" and offer.button.isEnabled()  # the screen did not wait for CUPS
    click(qtbot, offer.button)
    assert not offer.button.isEnabled() and offer.button.text() == "Printed"  # two copies: the operator's limit
    qtbot.waitUntil(lambda: len(window.print_desk.jobs) == 2, timeout=30000)
    for job in window.print_desk.jobs:
        width, height = cups_server.media_box(cups.output(job))
        assert (round(width), round(height)) == (288, 432)  # 4 x 6 in
    assert window.print_desk.spool.files() == []
    click(qtbot, window.result.finish_button)
    assert window.current() == "attract" and not offer.isVisible()
    window.flow.start("result", None, painting)  # the next visitor has their own copies
    assert offer.button.isEnabled() and offer.button.text() == "Print"


def test_print_is_offered_only_when_printing_is_on_and_a_refused_print_is_said(qtbot, tmp_path, cups, painting, video):
    window = make_window(qtbot, tmp_path, camera=str(video), **printing_config(cups, tmp_path, print_enabled=False))
    window.flow.start("result", None, painting)
    assert not window.result.print_offer.isVisible()  # the operator has not turned printing on
    window.config = window.config.model_copy(update={"print_enabled": True, "print_printer": "Gone"})
    window.flow.start("result", None, None)
    assert not window.result.print_offer.isVisible()  # nothing to print: the painting did not arrive
    window.flow.start("result", None, painting)
    offer = window.result.print_offer
    assert offer.isVisible()
    click(qtbot, offer.button)  # a printer CUPS does not know
    qtbot.waitUntil(lambda: offer.note.text() == "Printing did not work. Please ask the staff.", timeout=20000)
    assert window.print_desk.jobs == [] and window.print_desk.spool.files() == []


def test_the_operator_panel_lists_the_printers_cups_knows_with_state_and_failed_jobs(qtbot, tmp_path, cups, video):
    stuck = Cups(cups.server).submit("Empty", _blank_pdf(tmp_path), "iso_a6_105x148mm")  # it will wait
    window = make_window(qtbot, tmp_path, camera=str(video), **printing_config(cups, tmp_path))
    unlock_panel(qtbot, window)
    panel = window.operator.print_panel
    qtbot.waitUntil(lambda: panel.printer.findData("Empty") >= 0, timeout=20000)
    assert {panel.printer.itemData(i) for i in range(panel.printer.count())} == {"", "Empty", "PDF"}
    assert panel.chosen() == "PDF"
    qtbot.waitUntil(lambda: panel.state.text() == "PDF: idle", timeout=20000)
    panel.printer.setCurrentIndex(panel.printer.findData("Empty"))
    qtbot.waitUntil(lambda: panel.state.text() == "Empty: out of paper (Out of paper)", timeout=30000)
    qtbot.waitUntil(lambda: panel.failed_list.count() == 1, timeout=20000)
    listed = panel.failed_list.item(0).text()
    assert listed.startswith(stuck) and listed.endswith("Out of paper (waiting)"), listed
    assert panel.failed_title.text() == "Print jobs that failed: 1"
    copies = window.operator.fields["print_copies_max"]
    assert (copies.minimum(), copies.maximum()) == (1, 10)  # the operator's limit per visitor
    copies.setValue(3)
    click(qtbot, window.operator.buttons["save"])
    assert (window.config.print_printer, window.config.print_copies_max) == ("Empty", 3)
    assert KioskConfig.load(tmp_path / "kiosk.json").print_printer == "Empty"
    click(qtbot, window.operator.buttons["close"])
    assert not window.print_desk.timer.isActive()  # CUPS is asked only while the panel is open


def _blank_pdf(tmp_path):
    path = tmp_path / "blank.pdf"
    Image.new("RGB", (105, 148), "white").save(path, "PDF", resolution=25.4)
    return path


def test_the_event_frame_layout_puts_the_portrait_in_the_frames_window(painting, tmp_path):
    paper = PAPERS["10x15"]
    size = (round(101.6 / 25.4 * DPI), round(152.4 / 25.4 * DPI))
    frame = Image.new("RGBA", (200, 300), (200, 20, 20, 255))  # any size: it is stretched to the page
    frame.paste((0, 0, 0, 0), (40, 40, 160, 220))  # the see-through window
    frame.save(tmp_path / "frame.png")
    page, (left, top, width, height) = compose_page(painting, paper, "frame", str(tmp_path / "frame.png"))
    assert page.size == size
    assert (left, top) == (round(40 * size[0] / 200), round(40 * size[1] / 300))  # the window, scaled
    pixels = np.asarray(page, float)
    assert np.abs(pixels[10, 10] - (200, 20, 20)).max() < 3  # the frame around it
    inside = pixels[top + 20 : top + height - 20, left + 20 : left + width - 20]
    assert inside.std() > 20 and np.abs(inside - (200, 20, 20)).mean() > 40  # the painting shows through
    alone, box = compose_page(painting, paper, "frame", str(tmp_path / "no-such-frame.png"))
    same, same_box = compose_page(painting, paper, "portrait")
    assert box == same_box and alone.tobytes() == same.tobytes()  # no frame to use: the portrait alone


def test_print_pages_are_erased_after_the_retention_with_the_outbox(qtbot, tmp_path, video):
    window = make_window(qtbot, tmp_path, camera=str(video))
    old, new = window.print_desk.spool.write(b"%PDF old"), window.print_desk.spool.write(b"%PDF new")
    two_days_ago = time.time() - 48 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    window.catalogue.retention_hours = 24
    window.orders.send_outbox()  # the outbox round that erases what is older than the retention
    assert window.print_desk.spool.files() == [new]
    window.close()
    restarted = make_window(qtbot, tmp_path, camera=str(video))
    assert restarted.print_desk.spool.files() == []  # a page a crash left behind does not survive a restart
