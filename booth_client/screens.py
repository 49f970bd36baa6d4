"""The visitor's screens, in the order they meet them. Screens show things and emit what was touched;
the controller (app.py) decides where to go next."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QGraphicsOpacityEffect,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from shared.lanes import FAST, LANES
from shared.protocol import StyleInfo

from .i18n import tr, translated
from .print_widgets import PrintOffer
from .widgets import THEME, ImageView, Keyboard, WrapCheckBox, button, bytes_to_pixmap, kinetic, qr_pixmap, title

QR_SIDE = 240  # px: big enough for a phone at arm's length
THUMB_SIDE = 150  # px: a style's thumbnail in the gallery at least; it grows with the window (GalleryScreen)
TILE_TEXT_HEIGHT = 110  # px: a tile's name and artist lines under its picture
TILE_MIN_WIDTH = 190  # px: even four tiles side by side fit a 1080 px portrait screen
TILE_COMFORT_WIDTH = 290  # px: a tile this wide holds a long German name on two lines


class Screen(QWidget):
    name = "screen"

    def __init__(self, language: str = "en") -> None:
        super().__init__()
        self.language = language
        self.setObjectName(self.name)

    def t(self, key: str, **values) -> str:
        return tr(key, self.language, **values)

    def say(self, text: str) -> None:
        """The screen's note under its content (live, gallery and e-mail have one)."""
        self.message.setText(text)


class AttractScreen(Screen):
    name = "attract"
    start = Signal()
    corner = Signal()

    def __init__(self, language: str) -> None:
        super().__init__(language)
        layout = QVBoxLayout(self)
        self.hidden_corner = QToolButton(self)  # operators tap here five times
        self.hidden_corner.setObjectName("operatorCorner")
        self.hidden_corner.setStyleSheet("background: transparent; border: none;")
        self.hidden_corner.setFixedSize(90, 90)
        self.hidden_corner.clicked.connect(self.corner.emit)
        layout.addWidget(title("Portrait Booth"))
        self.samples = QGridLayout()  # two rows of two on a portrait screen, one row of four on a landscape one
        self.sample_views: list[ImageView] = []
        self._sample_columns = 0
        layout.addLayout(self.samples, 1)
        self.start_button = button(self.t("touch_to_start"))
        self.start_button.setMinimumHeight(120)
        self.start_button.clicked.connect(self.start.emit)
        layout.addWidget(self.start_button)
        self.note = QLabel("")
        self.note.setProperty("note", True)
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        self.unavailable = QLabel("")
        self.unavailable.setProperty("note", True)
        self.unavailable.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.unavailable.setWordWrap(True)
        layout.addWidget(self.unavailable)
        self.hidden_corner.raise_()

    def set_availability(self, note: str, can_start: bool) -> None:
        """What the booth can do now, said before the visitor starts (``note``: a text key, "" for none); the
        start button only where a portrait can be taken and kept."""
        self.unavailable.setText(self.t(note) if note else "")
        self.start_button.setEnabled(can_start)

    def set_note(self, text: str) -> None:
        """The operator's note (e.g. the demo camera's), in the screen's language when it is one of ours."""
        self.note.setText(translated(text, self.language))

    def set_samples(self, thumbnails: list[bytes]) -> None:
        while self.samples.count():
            self.samples.takeAt(0).widget().deleteLater()
        self.sample_views = []
        for data in thumbnails[:4]:
            view = ImageView(minimum=(120, 120))  # four side by side fit a portrait screen too
            view.show_pixmap(bytes_to_pixmap(data))
            self.sample_views.append(view)
        self._place_samples()

    def _place_samples(self) -> None:
        self._sample_columns = columns = 2 if self.height() > self.width() else 4
        for view in self.sample_views:
            self.samples.removeWidget(view)
        for i, view in enumerate(self.sample_views):
            self.samples.addWidget(view, i // columns, i % columns)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if (2 if self.height() > self.width() else 4) != self._sample_columns:
            self._place_samples()


class CameraScreen(Screen):
    """A screen around the camera's picture (``view``): the live one and the review of the still."""

    view: ImageView

    def show_frame(self, frame: QPixmap) -> None:
        self.view.show_pixmap(frame)

    def clear_picture(self) -> None:
        self.view.clear_picture()


class LiveScreen(CameraScreen):
    name = "live"
    capture = Signal()
    back = Signal()

    def __init__(self, language: str) -> None:
        super().__init__(language)
        layout = QVBoxLayout(self)
        layout.addWidget(title(self.t("pose")))
        self.view = ImageView(guide=True)
        layout.addWidget(self.view, 1)
        self.message = QLabel("")
        self.message.setProperty("note", True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        self.countdown = QLabel("", self.view)
        self.countdown.setStyleSheet("font-size: 160px; font-weight: bold; background: transparent;")
        self.countdown.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.flash = QLabel("", self)
        self.flash.setStyleSheet("background: white;")
        self.flash.hide()
        row = QHBoxLayout()
        self.back_button = button(self.t("back"), secondary=True)
        self.back_button.clicked.connect(self.back.emit)
        self.take_button = button(self.t("take_photo"))
        self.take_button.clicked.connect(self.capture.emit)
        row.addWidget(self.back_button)
        row.addWidget(self.take_button, 2)
        layout.addLayout(row)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.countdown.setGeometry(self.view.rect())
        self.flash.setGeometry(self.rect())

    def set_camera_available(self, available: bool) -> None:
        self.message.setText("" if available else self.t("camera_missing"))
        if not available:  # never the last frame: it may show the previous visitor
            self.view.clear_picture(self.t("no_picture"))
        self.take_button.setEnabled(available)

    def show_count(self, value: int | None) -> None:
        self.countdown.setText(str(value) if value else "")
        self.take_button.setEnabled(value is None)

    def do_flash(self) -> None:
        self.flash.setGeometry(self.rect())
        self.flash.show()
        self.flash.raise_()
        QTimer.singleShot(180, self.flash.hide)


class ReviewScreen(CameraScreen):
    name = "review"
    retake = Signal()
    keep = Signal()

    def __init__(self, language: str) -> None:
        super().__init__(language)
        layout = QVBoxLayout(self)
        self.view = ImageView()
        layout.addWidget(self.view, 1)
        row = QHBoxLayout()
        self.retake_button = button(self.t("retake"), secondary=True)
        self.retake_button.clicked.connect(self.retake.emit)
        self.keep_button = button(self.t("keep"))
        self.keep_button.clicked.connect(self.keep.emit)
        row.addWidget(self.retake_button)
        row.addWidget(self.keep_button, 2)
        layout.addLayout(row)


class StyleTile(QToolButton):
    """A style in the gallery: its thumbnail, its name and artist in the kiosk's language, wrapped to the tile
    (never cut off). Disabled (not offered for the chosen method), it fades."""

    def __init__(self, style: StyleInfo, language: str, thumbnail: bytes | None) -> None:
        super().__init__()
        self.setObjectName(f"style-{style.id}")
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)  # the labels below draw it all
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.side = THUMB_SIDE
        self.picture.setFixedHeight(self.side)
        self._pixmap = QPixmap()
        self.thumbnail, self.shown = thumbnail, None  # shown: the picture's bytes (the thumbnail, or a preview)
        if thumbnail:
            self.set_picture(thumbnail)
        self.name_label = QLabel(style.names.get(language) or style.name)  # type: ignore[call-overload]
        self.name_label.setStyleSheet("font-size: 21px; font-weight: bold;")
        self.artist_label = QLabel(style.artists.get(language) or style.artist)  # type: ignore[call-overload]
        self.artist_label.setStyleSheet(f"font-size: 17px; color: {THEME['muted']};")
        for label in (self.picture, self.name_label, self.artist_label):
            label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            layout.addWidget(label)
        for label in (self.name_label, self.artist_label):
            label.setWordWrap(True)
            label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        layout.addStretch(1)
        self.setMinimumWidth(TILE_MIN_WIDTH)

    def set_picture(self, data: bytes) -> None:
        """Show ``data`` (a JPEG or PNG) as the tile's picture, at the tile's size."""
        self._pixmap, self.shown = bytes_to_pixmap(data), data
        self.setIcon(self._pixmap)  # kept for who asks; the picture label shows it
        self._show_picture()

    def show_thumbnail(self) -> None:
        """The style's own thumbnail again (none known: no picture)."""
        if self.thumbnail:
            self.set_picture(self.thumbnail)
            return
        self._pixmap, self.shown = QPixmap(), None
        self.setIcon(QIcon())
        self.picture.clear()

    def set_side(self, side: int) -> None:
        """The picture's side in px (the gallery makes its tiles as large as the window allows)."""
        if side != self.side:
            self.side = side
            self.picture.setFixedHeight(side)
            self._show_picture()

    def _show_picture(self) -> None:
        if self._pixmap.isNull():
            return
        ratio = self.devicePixelRatioF()
        scaled = self._pixmap.scaled(
            QSize(self.side, self.side) * ratio,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        scaled.setDevicePixelRatio(ratio)
        self.picture.setPixmap(scaled)

    def sizeHint(self) -> QSize:
        return self.layout().sizeHint()

    def minimumSizeHint(self) -> QSize:
        return self.layout().minimumSize()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.EnabledChange:
            faded = None if self.isEnabled() else QGraphicsOpacityEffect(self)
            if faded is not None:
                faded.setOpacity(0.35)
            self.setGraphicsEffect(faded)


class GalleryScreen(Screen):
    name = "gallery"
    chosen = Signal(str, str)  # style id, method
    back = Signal()

    def __init__(self, language: str) -> None:
        super().__init__(language)
        layout = QVBoxLayout(self)
        layout.addWidget(title(self.t("choose_style")))
        methods = QHBoxLayout()
        self.method_buttons: dict[str, QPushButton] = {}  # one per lane, in the table's order
        for method in LANES:
            choice = button("", secondary=method != FAST.method)
            choice.setCheckable(True)
            choice.setChecked(method == FAST.method)
            choice.clicked.connect(lambda _=False, m=method: self.set_method(m))
            methods.addWidget(choice)
            self.method_buttons[method] = choice
        layout.addLayout(methods)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll_area.setWidget(self.grid_host)
        self.scroller = kinetic(self.scroll_area)  # a finger flicks through all the styles
        layout.addWidget(self.scroll_area, 1)
        self.message = QLabel("")
        self.message.setProperty("note", True)
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        self.back_button = button(self.t("back"), secondary=True)
        self.back_button.clicked.connect(self.back.emit)
        layout.addWidget(self.back_button)
        self.method = FAST.method
        self.styles: list[StyleInfo] = []
        self.style_buttons: dict[str, StyleTile] = {}
        self.previews: dict[str, bytes] = {}  # the visitor's face per style, shown over the thumbnails
        self._placed_columns = 0
        self.set_eta({})

    def set_eta(self, eta: dict[str, float]) -> None:
        """Each lane's button with the wait the server announced (the lane's own guess until it does)."""
        for method, choice in self.method_buttons.items():
            lane = LANES[method]
            seconds = max(eta.get(method, lane.expected_seconds), 60.0 if lane.wait_unit == "min" else 1.0)
            wait = {"s": seconds} if lane.wait_unit == "s" else {"m": seconds / 60}
            choice.setText(self.t(lane.button_text, **wait))

    def set_method(self, method: str) -> None:
        self.method = method
        for lane, choice in self.method_buttons.items():
            chosen = lane == method
            choice.setChecked(chosen)
            choice.setProperty("secondary", not chosen)  # the chosen method is the highlighted one
            choice.style().unpolish(choice)
            choice.style().polish(choice)
        for style in self.styles:
            self.style_buttons[style.id].setEnabled(method in style.methods)

    @property
    def columns(self) -> int:
        """As many tiles a row as the width holds comfortably (4 on a landscape screen, 3 on a portrait one)."""
        return max(2, min(4, (self.width() - 60) // TILE_COMFORT_WIDTH))

    def tile_side(self) -> int:
        """The pictures' side: a column's width, less the tile's margins, but a whole tile (picture and text)
        always fits the scrolling area's height."""
        columns = self.columns
        spacing = self.grid.horizontalSpacing() * (columns - 1)
        margins = self.grid.contentsMargins()
        width = self.scroll_area.width() - self.scroll_area.verticalScrollBar().sizeHint().width()
        column = (width - margins.left() - margins.right() - spacing) // columns - 24
        high = self.scroll_area.height() - TILE_TEXT_HEIGHT - 24
        return max(THUMB_SIDE, min(column, high))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.columns != self._placed_columns:
            self._place_tiles()
        self._size_tiles()

    def _size_tiles(self) -> None:
        side = self.tile_side()
        for tile in self.style_buttons.values():
            tile.set_side(side)

    def _place_tiles(self) -> None:
        tiles = [self.style_buttons[s.id] for s in self.styles if s.id in self.style_buttons]
        for tile in tiles:
            self.grid.removeWidget(tile)
        self._placed_columns = columns = self.columns
        for i, tile in enumerate(tiles):
            self.grid.addWidget(tile, i // columns, i % columns)
        for row in range(self.grid.rowCount()):  # tiles keep their height; what is left stays below them
            self.grid.setRowStretch(row, 0)
        self.grid.setRowStretch(-(-len(tiles) // columns), 1)

    def set_styles(self, styles: list[StyleInfo], thumbnails: dict[str, bytes]) -> None:
        while self.grid.count():
            self.grid.takeAt(0).widget().deleteLater()
        self.styles, self.style_buttons = styles, {}
        for style in styles:
            tile = StyleTile(style, self.language, thumbnails.get(style.id))
            tile.clicked.connect(lambda _=False, s=style.id: self.chosen.emit(s, self.method))
            self.style_buttons[style.id] = tile
            if style.id in self.previews:
                tile.set_picture(self.previews[style.id])
        self._place_tiles()
        self._size_tiles()
        self.set_method(self.method)

    def show_preview(self, style_id: str, jpeg: bytes) -> None:
        """The visitor's own face painted in this style, in place of the style's thumbnail."""
        self.previews[style_id] = jpeg
        if tile := self.style_buttons.get(style_id):
            tile.set_picture(jpeg)

    def clear_previews(self) -> None:
        """Every tile shows its style's thumbnail again: nothing of the last visitor's face stays."""
        self.previews = {}
        for tile in self.style_buttons.values():
            tile.show_thumbnail()


class EmailScreen(Screen):
    name = "email"
    submit = Signal(str)
    back = Signal()

    def __init__(self, language: str, retention_hours: float = 24) -> None:
        super().__init__(language)
        layout = QVBoxLayout(self)
        layout.addWidget(title(self.t("email_title")))
        self.address = QLineEdit()
        self.address.setPlaceholderText("name@example.org")
        layout.addWidget(self.address)
        self.keyboard = Keyboard()
        self.keyboard.typed.connect(lambda text: self.address.insert(text))
        self.keyboard.backspace.connect(self.address.backspace)
        layout.addWidget(self.keyboard)
        self.consent = WrapCheckBox(self.t("consent", h=retention_hours))  # long texts wrap, never cut off
        self.consent.toggled.connect(lambda _checked: self.message.clear())
        layout.addWidget(self.consent)
        # a consent of its own, never ticked for the visitor: the mail's consent alone shows nobody on the wall
        self.wall = WrapCheckBox(self.t("wall_consent"))
        layout.addWidget(self.wall)
        self.message = QLabel("")
        self.message.setProperty("note", True)
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        row = QHBoxLayout()
        self.back_button = button(self.t("back"), secondary=True)
        self.back_button.clicked.connect(self.back.emit)
        self.send_button = button(self.t("send"))
        self.send_button.clicked.connect(lambda: self.submit.emit(self.address.text().strip()))
        row.addWidget(self.back_button)
        row.addWidget(self.send_button, 2)
        layout.addLayout(row)

    def consent_given(self) -> bool:
        return self.consent.isChecked()

    def wall_wanted(self) -> bool:
        return self.wall.isChecked()

    def set_sending(self, sending: bool) -> None:
        """While a request is sent the button waits: one send per touch."""
        self.send_button.setEnabled(not sending)

    def set_retention(self, hours: float) -> None:
        """The server's promise, as the server states it (never a number written here)."""
        self.consent.setText(self.t("consent", h=round(hours, 2)))

    def reset(self) -> None:
        self.address.clear()
        self.consent.setChecked(False)
        self.wall.setChecked(False)
        self.message.clear()


class PictureScreen(Screen):
    """What progress and result have in common: a heading, the picture (shown 1:1 or smaller, never blown
    up), a line of detail and a Finish button. Subclasses add their own rows under the picture."""

    finish = Signal()

    def __init__(self, language: str, heading: str, finish_secondary: bool) -> None:
        super().__init__(language)
        self.layout_ = QVBoxLayout(self)
        self.heading = title(self.t(heading))
        self.layout_.addWidget(self.heading)
        self.picture_row = QHBoxLayout()
        self.view = ImageView(upscale=False)
        self.picture_row.addWidget(self.view, 1)
        self.layout_.addLayout(self.picture_row, 1)
        self.rows = QVBoxLayout()  # a subclass's own rows
        self.layout_.addLayout(self.rows)
        self.detail = QLabel("")
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail.setWordWrap(True)
        self.layout_.addWidget(self.detail)
        self.finish_button = button(self.t("finish"), secondary=finish_secondary)
        self.finish_button.clicked.connect(self.finish.emit)
        self.layout_.addWidget(self.finish_button)

    def set_heading(self, text: str) -> None:
        self.heading.setText(text)

    def set_detail(self, text: str) -> None:
        self.detail.setText(text)

    def detail_text(self) -> str:
        return self.detail.text()

    def show_picture(self, jpeg: bytes) -> None:
        self.view.show_pixmap(bytes_to_pixmap(jpeg))

    def clear(self) -> None:
        """Nothing of the last visitor: no detail, no picture."""
        self.detail.clear()
        self.view.clear_picture()


class ProgressScreen(PictureScreen):
    name = "progress"

    def __init__(self, language: str) -> None:
        super().__init__(language, "painting", finish_secondary=True)
        self.preview = self.view
        self.preview.upscale = True  # a preview fills the screen (the result alone is shown 1:1 at most)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.rows.addWidget(self.bar)
        self.remaining = QLabel("")
        self.remaining.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.remaining.setWordWrap(True)
        self.rows.addWidget(self.remaining)
        self.detail.setText(self.t("can_leave"))

    def set_remaining(self, text: str) -> None:
        self.remaining.setText(text)

    def update_status(self, progress: float, position: int | None, eta_seconds: float | None = None) -> None:
        """Progress, place in the queue and the server's estimate of the time left (None: not known)."""
        self.bar.setValue(round(progress * 100))
        self.heading.setText(self.t("queued", n=position + 1) if position else self.t("painting"))
        self.remaining.setText(remaining_text(eta_seconds, self.language))


def remaining_text(seconds: float | None, language: str) -> str:
    if seconds is None or seconds < 0:
        return ""
    if seconds < 1:
        return tr("almost_done", language)
    if seconds < 90:
        return tr("remaining_s", language, s=max(1, round(seconds)))
    return tr("remaining_min", language, m=round(seconds / 60))


class ResultScreen(PictureScreen):
    name = "result"
    retry = Signal()
    print_tapped = Signal()  # the visitor wants a print (``offer_print`` shows the button)

    def __init__(self, language: str) -> None:
        super().__init__(language, "done", finish_secondary=False)
        self.qr_box = QVBoxLayout()
        self.qr = QLabel("")
        self.qr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.qr_note = QLabel(self.t("scan_qr"))
        self.qr_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.qr_note.setWordWrap(True)
        self.qr_note.setMaximumWidth(QR_SIDE + 40)
        self.qr_box.addStretch(1)
        self.qr_box.addWidget(self.qr)
        self.qr_box.addWidget(self.qr_note)
        self.qr_box.addStretch(1)
        self.picture_row.addLayout(self.qr_box)
        self.retry_button = button(self.t("try_again"))  # a failed painting: the same photo and style again
        self.retry_button.clicked.connect(self.retry.emit)
        self.rows.addWidget(self.retry_button)
        self.print_offer = PrintOffer(language)  # shown when the operator turned printing on
        self.print_offer.tapped.connect(self.print_tapped.emit)
        self.rows.addWidget(self.print_offer)
        self.show_qr(None)
        self.set_failed(False)

    def offer_print(self, copies_left: int) -> None:
        self.print_offer.offer(copies_left)

    def print_sending(self, copies_left: int) -> None:
        self.print_offer.sending(copies_left)

    def print_failed(self) -> None:
        self.print_offer.failed()

    def withdraw_print(self) -> None:
        self.print_offer.withdraw()

    def set_failed(self, can_retry: bool) -> None:
        """A failed painting offers Retry (when there is a photo to send again) and Start over; else Finish."""
        self.retry_button.setVisible(can_retry)
        self.finish_button.setText(self.t("start_over" if can_retry else "finish"))

    def show_qr(self, url: str | None) -> None:
        """A QR code of the painting's download link beside it (the operator's ``show_qr``); None: no code."""
        self.qr_url = url
        self.qr.setVisible(bool(url))
        self.qr_note.setVisible(bool(url))
        if url:
            self.qr.setPixmap(qr_pixmap(url, QR_SIDE))
        else:
            self.qr.clear()
