"""The operator panel's event frame part: the frame on the demo portrait, and what the server said about it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .i18n import tr
from .widgets import ImageView, button, bytes_to_pixmap, say

PREVIEW_SIZE = (360, 240)  # px on the panel: large enough to judge a border and a line of text


class FramePanel(QWidget):
    """A preview of the frame as the server draws it (on the kiosk's demo portrait), a Preview button, and one
    line of news (sent, refused and why). The frame's own settings are the panel's generated fields above it."""

    preview_tapped = Signal()

    def __init__(self, language: str) -> None:
        super().__init__()
        self.setObjectName("framePanel")
        self.language = language
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.view = ImageView(upscale=False, minimum=PREVIEW_SIZE)
        self.view.setObjectName("framePreview")
        row = QHBoxLayout()
        row.addWidget(self.view, 1)
        self.preview_button = button("", secondary=True)
        say(self.preview_button, language, "frame.preview")
        self.preview_button.clicked.connect(self.preview_tapped.emit)
        row.addWidget(self.preview_button)
        layout.addLayout(row)
        self.news = QLabel("")
        self.news.setObjectName("frameNews")
        self.news.setProperty("note", True)
        self.news.setWordWrap(True)
        layout.addWidget(self.news)
        self.view.clear_picture(tr("frame.none", language))

    def set_language(self, language: str) -> None:
        self.language = language
        if not self.view.has_picture:
            self.view.clear_picture(tr("frame.none", language))

    def say(self, text_id: str, **values: Any) -> None:
        """One line of news (``text_id``, i18n), in the panel's language."""
        say(self.news, self.language, text_id, **values)

    def show_preview(self, jpeg: bytes | None) -> None:
        """The frame on the demo portrait, or (None: no frame is set) the placeholder."""
        if jpeg:
            self.view.show_pixmap(bytes_to_pixmap(jpeg))
        else:
            self.view.clear_picture(tr("frame.none", self.language))
