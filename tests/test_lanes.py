"""The lane table (``shared/lanes.py``) and the server's (``service/lanes.py``): a lane is declared once, and
everything lane-specific reads it."""

from __future__ import annotations

import string
from typing import get_args

from booth_client.i18n import CATALOGUES
from shared.lanes import FAST, LANES, MASTERPIECE, methods_for
from shared.protocol import Method
from style_server.config import Settings
from style_server.service import jobtypes
from style_server.service.lanes import SERVER_LANES
from style_server.service.runner import painted_side


def test_every_lane_is_declared_on_both_sides_with_its_kiosk_text():
    assert tuple(LANES) == get_args(Method) == tuple(SERVER_LANES) == jobtypes.LANES
    for lane in LANES.values():
        placeholder = "s" if lane.wait_unit == "s" else "m"
        for language, texts in CATALOGUES.items():
            fields = {name for _, name, _, _ in string.Formatter().parse(texts[lane.button_text]) if name}
            assert fields == {placeholder}, (language, lane.button_text)


def test_a_style_without_a_painting_offers_only_the_lanes_that_need_none():
    assert methods_for(has_painting=True) == [FAST.method, MASTERPIECE.method]
    assert methods_for(has_painting=False) == [FAST.method]


def test_a_job_is_painted_at_its_lanes_size_never_beyond_the_photo():
    settings = Settings(fast_size=640, gatys_size=320, gatys_concurrency=2, fast_batch_max=6)
    assert painted_side(settings, FAST.method, None, 1000) == 640
    assert painted_side(settings, MASTERPIECE.method, None, 1000) == 320
    assert painted_side(settings, MASTERPIECE.method, None, 200) == 200  # no upscaling
    assert painted_side(settings, FAST.method, 480, 1000) == 480  # the kiosk asked for it
    fast, masterpiece = SERVER_LANES[FAST.method], SERVER_LANES[MASTERPIECE.method]
    assert (fast.batch_max(settings), masterpiece.batch_max(settings)) == (6, 1)
    assert (fast.concurrency(settings), masterpiece.concurrency(settings)) == (1, 2)
    assert masterpiece.needs_loss_network and not fast.needs_loss_network
