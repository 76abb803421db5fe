"""The main window: drop a video, see the matched tracks, audition them against the picture, hand them off.

Threads (see :mod:`emomv_desktop.engine.service` for what each lane's session owns):

* the GUI thread only builds widgets and reacts to signals; it never decodes, runs a model or queries SQLite;
* ``inference`` — the SlowFast backbone, the retrieval model and the ranker (one request at a time);
* ``indexing`` — the VGGish backbone and the library writer; paused while a video is analysed, so the user's
  query has the device to itself (indexing may take hours and would otherwise slow every query down);
* ``io`` — short library reads/writes, video probes and result exports;
* ``transfer`` — weight downloads/imports and preview-MP4 exports (long, no model);
* ``waveform`` — reading the selected track's waveform (seconds for a long file; a newer track cancels it).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QObject, QPoint, Qt, QUrl
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSlider,
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTabBar,
    QSplitter,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from emomv_desktop.engine import logs, paths
from emomv_desktop.engine.errors import EngineError
from emomv_desktop.engine.scenes import merge_scenes, split_scene
from emomv_desktop.engine.emotions import Emotion
from emomv_desktop.engine.library import AUDIO_EXTENSIONS
from emomv_desktop.engine.queries import QueryError, image_paths
from emomv_desktop.engine.scale import ScoreScale
from emomv_desktop.engine.service import (
    STILLS_NOTE,
    Analysis,
    Backends,
    IndexSession,
    InferenceSession,
    LibraryReader,
    ModelInfo,
)
from emomv_desktop.engine.shortlist import Shortlists

from . import appearance, text
from .about import APP_TITLE, TEST_MODE_TEXT, about_details, about_html
from .analysis import AnalysisController
from .handoff import HandOff
from .library_panel import LibraryPanel
from .model_setup import ModelSetupDialog
from .player import Player
from .sound import SoundControl
from .preview import PreviewPane
from .query_modes import QueryModes, query_label
from .query_panel import QueryPanel
from .results import MATCH_MARK, OWN_DRAG_MIME, Column, ResultsFilter, ResultsModel
from .scoring import ChoicesController
from .settings import Key, Settings
from .timeline_strip import CuePanel
from .va_map import VAMapView
from .waveform import SectionEdits, WaveformController
from .worker import Job, WorkerLane, job

_log = logging.getLogger(__name__)

SEEK_STEP_SECONDS = 5.0
DEFAULT_TOP = 500  # tracks ranked per query (the table filters them further)
DISABLED_HINT = "Video analysis is disabled:\nsee the notice above."
NO_PICTURE = {"temp_track": "a temp track has no picture", "stills": "stills are no video"}
"""Why the actions that need the query's video (the preview MP4 muxes a track into it) are off, by query kind."""
SHUTDOWN_WAIT_MS = 30_000
LIBRARY_DOCK_HEIGHT = 210  # first launch: the results and the picture get the rest


PRECISION_CHOICES = (
    ("auto", "Automatic", "Fast arithmetic for the music library, exact for the video (the default)"),
    ("exact", "Exact (fp32)", "Full precision (fp32) for both networks: the reference features up to fp32 rounding; music indexes slowest"),
    ("fast", "Fast (bf16 / fp16)", "Half precision where this computer has it (bf16 CPUs, CUDA GPUs), else exact"),
)


class Lanes:
    """The worker lanes of one window (threads start on first use)."""

    def __init__(self, parent: QWidget) -> None:
        self.inference = WorkerLane("inference", parent)
        self.indexing = WorkerLane("indexing", parent)
        self.io = WorkerLane("io", parent)
        self.transfer = WorkerLane("transfer", parent)
        self.waveform = WorkerLane("waveform", parent)

    def all(self) -> tuple[WorkerLane, ...]:
        return (self.inference, self.indexing, self.io, self.transfer, self.waveform)

    def cancel_all(self) -> None:
        for lane in self.all():
            lane.cancel_all()

    def shutdown(self) -> None:
        """Wait for every lane to run what is queued (cancel first with :meth:`cancel_all`) and stop."""
        for lane in self.all():
            if not lane.shutdown(SHUTDOWN_WAIT_MS, cancel=False):
                _log.warning("worker lane %s did not stop in time", lane.name)


class MainWindow(QMainWindow):
    """See the module docstring. Construct, then :meth:`start` (nothing runs before that)."""

    def __init__(
        self,
        backends: Backends | None = None,
        *,
        settings: Settings | None = None,
        multimedia: bool = True,
        download_urls: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.backends = backends or Backends.from_environment()
        self.settings = settings or Settings()
        self.download_urls = download_urls
        self.lanes = Lanes(self)
        self.library_reader = LibraryReader(self.backends)
        self.index_session = IndexSession(self.backends)
        self.inference = InferenceSession(self.backends)
        self.analysis = AnalysisController(
            self.lanes.inference, self.lanes.io, self.inference, self.settings.get(Key.TOP, DEFAULT_TOP), self
        )
        self.modes = QueryModes(self.analysis, self.lanes.io, self)
        self.player = Player(self, unavailable_reason=None if multimedia else "the preview is turned off")
        self.sound = SoundControl(self.player, self.lanes.io, self.settings, self)
        self.model_info: ModelInfo | None = None
        self.handoff = HandOff(self.lanes.io, self.lanes.transfer, self.settings, self)
        self.choices = ChoicesController(self.lanes.io, self.library_reader, self)
        self.section_edits = SectionEdits()
        self._setup_dialog: ModelSetupDialog | None = None
        self._closed = False
        self._pending_files: list[Path] = []  # opened while the networks load: run once they are ready
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self._build_central()
        self._build_library_dock()
        self._build_map_dock()
        self._build_actions()
        self._build_status_bar()
        self._connect()
        self._restore_settings()
        self._set_analysis_enabled(False)
        self.preview.show_hint("Loading the models…")

    # ================================================================== construction
    def _build_central(self) -> None:
        self.banner = QFrame(self)
        self.banner.setFrameShape(QFrame.Shape.StyledPanel)
        self.banner.setObjectName("banner")
        self.banner_label = QLabel("", self.banner)
        self.banner_label.setWordWrap(True)
        self.banner_label.setAccessibleName("Notice")
        self.banner_button = QPushButton("Model setup…", self.banner)
        self.banner_button.setAccessibleName("Open model setup")
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.addWidget(self.banner_label, 1)
        banner_layout.addWidget(self.banner_button)
        self.banner.hide()

        self.preview = PreviewPane(self.player, self)
        self.query_panel = QueryPanel(self)
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.preview, 1)
        self.waveform = WaveformController(self.player, self.lanes.waveform, self)
        left_layout.addWidget(self.waveform.view)
        self.cue_panel = CuePanel(self)
        # its buttons may be squeezed rather than set the window's minimum width (they keep their tooltips)
        self.cue_panel.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.timeline = self.cue_panel.strip
        left_layout.addWidget(self.cue_panel)
        left_layout.addWidget(self.query_panel)

        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(self._build_filter_bar())
        right_layout.addWidget(self.modes.weight_box)  # over the results it re-ranks (the left column is full)
        right_layout.addWidget(self._build_table(), 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setChildrenCollapsible(False)

        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

    def _build_filter_bar(self) -> QHBoxLayout:
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search title, artist, album, file…")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search results")
        self.search.setToolTip("Show only tracks whose title, artist, album or path contains this text (Ctrl+F)")
        self.emotion_filter = QComboBox(self)
        self.emotion_filter.setAccessibleName("Emotion filter")
        self.emotion_filter.setToolTip("Show only tracks with this predicted emotion")
        self.emotion_filter.addItem("All emotions", None)
        for emotion in Emotion:
            self.emotion_filter.addItem(emotion.label.capitalize(), int(emotion))
        self.length_filter = QCheckBox("At least as long as the video", self)
        self.length_filter.setAccessibleName("Only tracks at least as long as the video")
        self.length_filter.setToolTip("Hide tracks shorter than the video")
        self.shortlist_filter = QCheckBox("Shortlist", self)
        self.shortlist_filter.setAccessibleName("Show only the shortlist")
        self.shortlist_filter.setToolTip("Show only the starred tracks (star one with Ctrl+D)")
        self.count_label = QLabel("", self)
        self.count_label.setAccessibleName("Result count")
        # takes the room left over, never widens the window: a long "hidden by" summary is cut, whole in the tooltip
        self.count_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bar = QHBoxLayout()
        bar.setSpacing(4)  # five controls: the window still narrows to 760 px
        bar.addWidget(self.search, 3)
        bar.addWidget(self.emotion_filter)
        bar.addWidget(self.length_filter)
        bar.addWidget(self.shortlist_filter)
        bar.addWidget(self.count_label, 2)
        return bar

    def _build_table(self) -> QTableView:
        self.results = ResultsModel(self, Shortlists())
        self.proxy = ResultsFilter(self)
        self.proxy.setSourceModel(self.results)
        table = self.table = QTableView(self)
        table.setModel(self.proxy)
        table.setAccessibleName("Matched tracks")
        table.setSortingEnabled(True)
        table.sortByColumn(Column.RANK, Qt.SortOrder.AscendingOrder)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setDragEnabled(True)
        table.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        table.setDefaultDropAction(Qt.DropAction.CopyAction)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.verticalHeader().hide()
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(Column.TITLE, QHeaderView.ResizeMode.Stretch)
        header.moveSection(header.visualIndex(Column.STAR), 0)  # star first, album/folder after the title
        header.moveSection(header.visualIndex(Column.ALBUM), header.visualIndex(Column.TITLE) + 1)
        header.setSectionResizeMode(Column.ALBUM, QHeaderView.ResizeMode.Interactive)  # long albums: cut, in the tooltip
        header.resizeSection(Column.ALBUM, header.sectionSizeHint(Column.ALBUM))
        # the emotion's header names the video's emotion ("Emotion (video: relaxing)", twice its cells' width):
        # the column is as wide as its widest cell and the header is cut, whole in its tooltip and the query pane
        widest = max((f"{e.label} {MATCH_MARK}" for e in Emotion), key=table.fontMetrics().horizontalAdvance)
        header.setSectionResizeMode(Column.EMOTION, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(Column.EMOTION, table.fontMetrics().horizontalAdvance(widest) + 4 * table.style().pixelMetric(
            QStyle.PixelMetric.PM_HeaderMargin))
        header.setHighlightSections(False)
        return table

    def _build_library_dock(self) -> None:
        self.library_panel = LibraryPanel(
            self.lanes.io, self.lanes.indexing, self.library_reader, self.index_session, self.settings, self
        )
        self.library_dock = QDockWidget("Library", self)
        self.library_dock.setObjectName("libraryDock")
        scroll = QScrollArea(self.library_dock)  # squeezed (a 1024x700 screen), the panel scrolls, the window fits
        scroll.setWidget(self.library_panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setAccessibleName("Library panel")
        self.library_dock.setWidget(scroll)
        self.library_dock.setAllowedAreas(Qt.DockWidgetArea.BottomDockWidgetArea | Qt.DockWidgetArea.TopDockWidgetArea)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.library_dock)

    def _build_map_dock(self) -> None:
        """The valence-arousal map, a tab beside the library (``ui/va_map.py``)."""
        self.va_map = VAMapView(self)
        self._region: frozenset[int] | None = None
        self.map_dock = QDockWidget("Emotion map", self)
        self.map_dock.setObjectName("emotionMapDock")
        self.map_dock.setWidget(self.va_map)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.map_dock)
        self.tabifyDockWidget(self.library_dock, self.map_dock)
        self.library_dock.raise_()
        for bar in self.findChildren(QTabBar):  # the tabs Qt made for the two docks: keyboard users hear a name
            bar.setAccessibleName("Panels: library and emotion map")
        self.va_map.trackClicked.connect(self._map_track_clicked)
        self.va_map.regionChanged.connect(self._map_region_changed)

    def _action(self, name: str, slot: Callable, shortcut: QKeySequence | str | None = None, tip: str = "") -> QAction:
        action = QAction(name, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(f"{tip or name.replace('…', '')} ({action.shortcut().toString()})" if shortcut else tip)
        action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.open_action = self._action("&Open video…", self.choose_video, QKeySequence.StandardKey.Open,
                                        "Analyse a video and list matching tracks")
        self.cancel_action = self._action("&Cancel analysis", self.analysis.cancel, "Esc", "Stop the analysis")
        self.export_results_action = self._action("Export &results…", self.export_results, "Ctrl+E",
                                                  "Save the list of matched tracks as CSV or JSON")
        self.export_preview_action = self._action("Export &preview MP4…", self.export_preview, "Ctrl+Shift+E",
                                                  "Save the video with the selected track's best section as MP4")
        self._picture_tips = {a: (a.toolTip(), a.statusTip()) for a in (self.export_preview_action,)}
        self.export_timeline_action = self._action(
            "Export &timeline…", lambda: self.export_choices("timeline"), "Ctrl+T",
            "Save the video and every cue's chosen section for an editor: .otio, FCP 7 .xml, .fcpxml or .edl")
        self.export_cue_sheet_action = self._action("Export cue &sheet…", lambda: self.export_choices("cue sheet"),
                                                    None, "Save the chosen music as a cue sheet (CSV)")
        self.export_scored_action = self._action(
            "Export scored &cut MP4…", lambda: self.export_choices("scored preview"), None,
            "Save the whole cut with every cue's chosen section as MP4")
        self.use_action = QAction("&Use for this cue", self)
        self.use_action.setShortcuts([QKeySequence("Return"), QKeySequence("Enter")])
        self.use_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.use_action.triggered.connect(lambda _checked=False: self.use_for_cue())
        self.table.addAction(self.use_action)
        self.table.installEventFilter(self)  # Enter on a row: an item view may take the key for itself first
        self.nudge_actions = [
            self._action(name, lambda s=steps, u=unit: self.nudge_section(s, u), keys)
            for name, steps, unit, keys in (("Section a beat earlier", -1, "beat", "Ctrl+["),
                                            ("Section a beat later", 1, "beat", "Ctrl+]"),
                                            ("Section a bar earlier", -1, "bar", "Ctrl+Shift+["),
                                            ("Section a bar later", 1, "bar", "Ctrl+Shift+]"))
        ]
        self.preview_cut_action = self._action("Preview the scored &cut", self.preview_cut, "Ctrl+P",
                                               "Play the whole cut with every cue's chosen section")
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.play_action = self._action("&Play / pause", self._space, "Space", "Play or pause the preview")
        self.back_action = self._action("Back 5 s", lambda: self._seek_by(-SEEK_STEP_SECONDS), "Left")
        self.ahead_action = self._action("Ahead 5 s", lambda: self._seek_by(SEEK_STEP_SECONDS), "Right")
        self.previous_action = self._action("P&revious track", lambda: self.step_track(-1), "Ctrl+Up")
        self.next_action = self._action("&Next track", lambda: self.step_track(1), "Ctrl+Down")
        self.reveal_action = self._action("Reveal in &folder", self.reveal_selected, None,
                                          "Open the folder that holds the track")
        self.copy_action = self._action("&Copy path", self.copy_selected_path, "Ctrl+Shift+C",
                                        "Copy the track's full path")
        self.star_action = self._action("&Star / unstar", self.toggle_star, "Ctrl+D",
                                        "Put the selected track on the shortlist, or take it off")
        self.find_action = self._action("&Find", self.search.setFocus, QKeySequence.StandardKey.Find,
                                        "Search the results")
        self.setup_action = self._action("&Model setup…", self.show_model_setup, None,
                                         "Download or import the pretrained networks")
        self.about_action = self._action("&About EmoMV Desktop", self.show_about)
        self.log_action = self._action("Open &log folder", self.open_log_folder, None,
                                       "Where unexpected errors are logged with their details")
        self.like_action = self._action("More &like this", lambda: self.rate_selected(True), "Ctrl+Shift+L",
                                        "Move the ranking towards the selected track")
        self.dislike_action = self._action("&Less like this", lambda: self.rate_selected(False), "Ctrl+Shift+D",
                                           "Move the ranking away from the selected track")
        self.undo_rating_action = self._action("&Undo rating", self.undo_rating, QKeySequence.StandardKey.Undo,
                                               "Take the last rating back")
        self.like_track_action = self._action("More like this &track", self.query_like_selected, None,
                                              "Use the selected track as a temp track: rank the library by it")
        self.library_action = self.library_dock.toggleViewAction()
        self.library_action.setShortcut(QKeySequence("Ctrl+L"))
        self.library_action.setToolTip("Show or hide the music library panel (Ctrl+L)")
        for action in (self.back_action, self.ahead_action, self.play_action):
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)

        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        for action in (self.open_action, self.cancel_action, None, self.export_results_action,
                       self.export_preview_action, None, self.export_timeline_action, self.export_cue_sheet_action,
                       self.export_scored_action, None, self.quit_action):
            file_menu.addSeparator() if action is None else file_menu.addAction(action)
        play_menu = menus.addMenu("&Playback")
        for action in (self.play_action, self.back_action, self.ahead_action, self.previous_action, self.next_action,
                       self.preview_cut_action):
            play_menu.addAction(action)
        track_menu = menus.addMenu("&Track")
        for action in (self.use_action, *self.nudge_actions, None, self.star_action, self.reveal_action,
                       self.copy_action, self.export_preview_action, self.find_action, None,
                       self.like_action, self.dislike_action, self.undo_rating_action, self.like_track_action):
            track_menu.addSeparator() if action is None else track_menu.addAction(action)
        view_menu = menus.addMenu("&View")
        view_menu.addAction(self.library_action)
        view_menu.addAction(self.map_dock.toggleViewAction())
        view_menu.addSeparator()
        view_menu.addActions(self.sound.actions())
        precision_menu = view_menu.addMenu("&Precision")
        precision_menu.setToolTipsVisible(True)
        self.precision_group = QActionGroup(self)
        for value, label, tip in PRECISION_CHOICES:
            action = precision_menu.addAction(label)
            action.setCheckable(True)
            action.setData(value)
            action.setToolTip(tip)
            self.precision_group.addAction(action)
        self.precision_group.triggered.connect(self._precision_chosen)
        self.sort_menu = view_menu.addMenu("&Sort by")  # the headers' clicks, for the keyboard
        self.sort_menu.aboutToShow.connect(self._fill_sort_menu)
        colours = view_menu.addMenu("&Colours")
        group = QActionGroup(colours)
        current = self.settings.get(Key.COLOR_SCHEME, "system")
        for scheme, title in appearance.TITLES.items():
            action = colours.addAction(title, lambda s=scheme: self.set_color_scheme(s))
            action.setCheckable(True)
            action.setChecked(scheme == current)
            group.addAction(action)
        tools_menu = menus.addMenu("&Help")
        tools_menu.addAction(self.setup_action)
        tools_menu.addAction(self.log_action)
        tools_menu.addAction(self.about_action)

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        for action in (self.open_action, self.cancel_action, self.export_results_action,
                       self.export_preview_action, self.library_action, self.setup_action):
            toolbar.addAction(action)

    def set_color_scheme(self, scheme: str) -> None:
        """Light, dark or the system's colours, now and at the next start."""
        self.settings.set(Key.COLOR_SCHEME, scheme)
        appearance.apply_color_scheme(QApplication.instance(), scheme)

    def _fill_sort_menu(self) -> None:
        """One entry per column (read when the menu opens, so new columns appear): sorts as a header click does."""
        self.sort_menu.clear()
        for column in range(self.proxy.columnCount()):
            title = self.proxy.headerData(column, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole)
            action = self.sort_menu.addAction(str(title), lambda c=column: self.sort_by(c))
            action.setCheckable(True)
            action.setChecked(self.table.horizontalHeader().sortIndicatorSection() == column)

    def sort_by(self, column: int) -> None:
        """Sort as a click on the column's header: the same column flips, a new one starts in its first order."""
        header = self.table.horizontalHeader()
        if header.sortIndicatorSection() == column:
            ascending = header.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
            order = Qt.SortOrder.DescendingOrder if ascending else Qt.SortOrder.AscendingOrder
        else:
            first = self.proxy.headerData(column, Qt.Orientation.Horizontal, Qt.ItemDataRole.InitialSortOrderRole)
            order = Qt.SortOrder(first) if first is not None else Qt.SortOrder.AscendingOrder
        self.table.sortByColumn(column, order)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.test_mode_label = QLabel(f" {TEST_MODE_TEXT} ", self)
        self.test_mode_label.setObjectName("testModeMarker")
        self.test_mode_label.setAccessibleName(TEST_MODE_TEXT)
        self.test_mode_label.setToolTip("The backbones have random weights (EMOMV_RANDOM_NETWORKS=1 or tests): "
                                         "rankings are meaningless")
        self.test_mode_label.setStyleSheet("QLabel#testModeMarker { background: #b3261e; color: white; "
                                           "font-weight: bold; border-radius: 3px; }")
        self.test_mode_label.hide()
        self.device_label = QLabel("Device: –", self)
        self.device_label.setAccessibleName("Device")
        self.device_label.setToolTip("Where the networks run")
        self.library_label = QLabel("Library: –", self)
        self.library_label.setAccessibleName("Library size")
        for widget in (self.test_mode_label, self.handoff.progress, self.handoff.cancel_button, self.device_label,
                       self.library_label):
            bar.addPermanentWidget(widget)

    def _connect(self) -> None:
        self.banner_button.clicked.connect(self.show_model_setup)
        self.query_panel.cancelRequested.connect(self.analysis.cancel)
        self.preview.previousRequested.connect(lambda: self.step_track(-1))
        self.preview.nextRequested.connect(lambda: self.step_track(1))
        self.search.textChanged.connect(self._filters_changed)
        self.emotion_filter.currentIndexChanged.connect(self._filters_changed)
        self.length_filter.toggled.connect(self._filters_changed)
        self.shortlist_filter.toggled.connect(self._filters_changed)
        self.results.dataChanged.connect(lambda *_: self._update_count())  # a star clicked in the Shortlist view
        self.table.selectionModel().currentRowChanged.connect(lambda current, _prev: self._preview_row(current))
        self.table.selectionModel().currentRowChanged.connect(lambda *_rows: self._update_cue_panel())
        self.table.selectionModel().currentRowChanged.connect(lambda current, _prev: self._show_waveform(current))
        self.waveform.sectionMoved.connect(self._section_moved)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.doubleClicked.connect(lambda _index: self.use_for_cue(play=True))
        self.timeline.cueSelected.connect(self._cue_selected)
        self.timeline.seekRequested.connect(self.player.seek)
        self.timeline.splitRequested.connect(self.split_scene_at)
        self.timeline.mergeRequested.connect(self.merge_scene)
        self.player.positionChanged.connect(self.timeline.set_playhead)
        self.cue_panel.useRequested.connect(self.use_for_cue)
        self.cue_panel.nudgeRequested.connect(self.nudge_section)
        self.cue_panel.previewRequested.connect(self.preview_cut)
        self.choices.changed.connect(self._choices_changed)
        self.choices.message.connect(self.statusBar().showMessage)
        self.handoff.message.connect(self.statusBar().showMessage)
        self.sound.message.connect(self.statusBar().showMessage)
        self.player.errorOccurred.connect(lambda message: self.statusBar().showMessage(f"Preview: {message}", 8000))

        a = self.analysis
        a.loaded.connect(self._models_loaded)
        a.unavailable.connect(self._models_unavailable)
        a.started.connect(self._analysis_started)
        a.started.connect(lambda _path: self.waveform.clear())
        a.progressed.connect(self.query_panel.set_progress)
        a.finished.connect(self._analysis_finished)
        a.scenesReady.connect(self._scenes_ready)
        a.failed.connect(self._analysis_failed)
        a.cancelled.connect(self._analysis_cancelled)
        a.busyChanged.connect(self.library_panel.hold)
        a.busyChanged.connect(lambda busy: self.cancel_action.setEnabled(busy))
        self.library_panel.statsChanged.connect(self._show_library_stats)
        self.library_panel.libraryChanged.connect(self.modes.rerank_library_changed)
        self.modes.started.connect(self._query_started)
        self.modes.video.connect(self.open_video)

    # ================================================================== start / stop
    def start(self, video: Path | str | None = None, *, rescan: bool = True) -> None:
        """Load the models and the library (in workers); analyse ``video`` once the models are ready."""
        self.analysis.load()
        if video:
            self.open_files([Path(video)])
            # probed at once: a bad file is refused before the networks have loaded
            self.analysis.preflight(Path(video)).errored.connect(lambda *_: self._drop_pending(Path(video)))
        refresh = self.library_panel.refresh()
        if rescan:
            refresh.returned.connect(self._rescan_if_any_folder)

    def _drop_pending(self, path: Path) -> None:
        if self._pending_files == [path]:
            self._pending_files = []

    def _rescan_if_any_folder(self, _request: int, snapshot: Any) -> None:
        """Reopening the app brings the index up to date (incrementally: unchanged files are skipped)."""
        if snapshot.folders:
            self.library_panel.start_index()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closed:
            self._closed = True
            self._save_settings()
            self.player.stop()
            self.lanes.cancel_all()
            self.lanes.inference.submit(Job(self.inference.close, name="close library"))
            self.lanes.io.submit(Job(self.library_reader.close, name="close library"))
            self.lanes.shutdown()
        super().closeEvent(event)

    def _restore_settings(self) -> None:
        geometry = self.settings.get_bytes(Key.GEOMETRY)
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 800)
        state = self.settings.get_bytes(Key.WINDOW_STATE)
        if state is None or not self.restoreState(state):
            self.resizeDocks([self.library_dock], [LIBRARY_DOCK_HEIGHT], Qt.Orientation.Vertical)
        splitter = self.settings.get_bytes(Key.SPLITTER)
        if splitter is not None:
            self.splitter.restoreState(splitter)
        else:
            self.splitter.setSizes([500, 700])
        self._set_precision(self.settings.get(Key.PRECISION, self.precision()))
        self.player.set_volume(self.settings.get(Key.VOLUME, self.player.volume))
        self.preview.volume_slider.setValue(round(self.player.volume * 100))
        self.length_filter.setChecked(self.settings.get(Key.FILTER_MIN_DURATION, False))
        emotion = self.settings.get(Key.FILTER_EMOTION, -1)
        self.emotion_filter.setCurrentIndex(max(0, self.emotion_filter.findData(emotion)))

    def _save_settings(self) -> None:
        self.settings.set(Key.GEOMETRY, self.saveGeometry())
        self.settings.set(Key.WINDOW_STATE, self.saveState())
        self.settings.set(Key.SPLITTER, self.splitter.saveState())
        self.settings.set(Key.VOLUME, self.player.volume)
        self.settings.set(Key.FILTER_MIN_DURATION, self.length_filter.isChecked())
        emotion = self.emotion_filter.currentData()
        self.settings.set(Key.FILTER_EMOTION, -1 if emotion is None else emotion)
        self.settings.sync()

    # ================================================================== models
    def _set_analysis_enabled(self, enabled: bool, message: str = "") -> None:
        self.open_action.setEnabled(enabled)
        self.cancel_action.setEnabled(self.analysis.busy)
        if enabled:
            self.banner.hide()
            self.preview.show_hint()
        else:
            self.banner_label.setText(message)
            self.banner.setVisible(bool(message))
            self.preview.show_hint(DISABLED_HINT if message else "")

    def _models_loaded(self, info: ModelInfo) -> None:
        self.model_info = info
        self.results.set_scale(ScoreScale.from_card(info.card))
        self._set_analysis_enabled(True)
        device = "GPU" if info.device.startswith("cuda") else "CPU"
        self.device_label.setText(f"Device: {device}")
        self.device_label.setToolTip(f"The networks run on {info.device}")
        self.test_mode_label.setVisible(not info.pretrained)
        suffix = f" — {TEST_MODE_TEXT}" if not info.pretrained else ""
        self.setWindowTitle(APP_TITLE + suffix)
        if self._pending_files:
            files, self._pending_files = self._pending_files, []
            self.modes.open(files)

    def _models_unavailable(self, message: str, weights_missing: bool) -> None:
        self.model_info = None
        self._set_analysis_enabled(False, f"Video analysis is disabled: {message}")
        self.banner_button.setVisible(weights_missing)
        if self._pending_files:  # kept when the weights are missing: analysed once they are set up
            files = self._pending_files
            later = " It will be analysed once they are set up." if weights_missing else ""
            self._pending_files = files if weights_missing else []
            self._analysis_failed(files[0], f"Video analysis is disabled: {message.rstrip('.')}.{later}")
        if weights_missing:
            self.show_model_setup()

    def model_setup_dialog(self) -> ModelSetupDialog:
        if self._setup_dialog is None:
            self._setup_dialog = ModelSetupDialog(
                self.lanes.io, self.lanes.transfer, self.settings, self, urls=self.download_urls
            )
            self._setup_dialog.weightsChanged.connect(self._weights_changed)
        return self._setup_dialog

    def show_model_setup(self) -> ModelSetupDialog:
        """Open the model-setup dialog (window-modal, never blocks the event loop)."""
        dialog = self.model_setup_dialog()
        dialog.refresh()
        dialog.open()
        return dialog

    def precision(self) -> str:
        """The networks' arithmetic chosen in View → Precision: "auto", "exact" or "fast"."""
        return self.backends.precision or "auto"

    def _set_precision(self, value: str) -> None:
        value = value if value in {v for v, _, _ in PRECISION_CHOICES} else "auto"
        self.backends.precision = None if value == "auto" else value
        for action in self.precision_group.actions():
            action.setChecked(action.data() == value)

    def _precision_chosen(self, action: QAction) -> None:
        """A new precision takes effect at once: both networks are loaded again with it (tracks indexed before
        keep theirs; the library records each track's precision)."""
        if action.data() == self.precision():
            return
        self._set_precision(action.data())
        self.settings.set(Key.PRECISION, action.data())
        self._weights_changed()

    def _weights_changed(self) -> None:
        self.lanes.indexing.submit(Job(self.index_session.forget_extractor, name="forget VGGish"))
        self.analysis.load()

    def show_about(self) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Information, f"About {APP_TITLE}", "", QMessageBox.StandardButton.Ok, self)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(self.about_text())
        box.setDetailedText(about_details(self.model_info))  # the research figures, behind Show Details
        box.open()
        return box

    def open_log_folder(self) -> bool:
        """Show the folder of the error log in the file manager (created now, so there is one to show)."""
        folder = logs.log_file().parent
        folder.mkdir(parents=True, exist_ok=True)
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def about_text(self) -> str:
        return about_html(self.model_info, self.analysis.problem)

    # ================================================================== queries
    def choose_video(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Open a video, a temp track or stills", self.settings.get_path(Key.LAST_VIDEO_DIR),
            "Videos (*.mp4 *.mov *.m4v *.mkv *.webm *.avi *.mpg *.mpeg *.wmv *.mts);;"
            "Temp tracks (*.wav *.flac *.mp3 *.m4a *.aac *.ogg *.opus *.aif *.aiff);;"
            "Stills (*.png *.jpg *.jpeg *.webp *.avif *.bmp *.tif *.tiff *.heic *.heif);;All files (*)",
        )
        if paths:
            self.settings.set(Key.LAST_VIDEO_DIR, str(Path(paths[0]).parent))
            self.open_files([Path(p) for p in paths])

    def open_video(self, path: Path | str) -> int:
        """Analyse ``path`` (what a drop, File → Open and the command line call); returns the request id."""
        path = Path(path)
        self.settings.set(Key.LAST_VIDEO_DIR, str(path.parent))
        return self.analysis.open(path)

    @staticmethod
    def _accept_drag(event: QDragMoveEvent) -> bool:
        """Take a drag of local files from outside the app, as a copy (or a link): never a move.

        A drop accepted as a move lets a file manager move or delete the user's file; rows dragged from the
        results table carry :data:`OWN_DRAG_MIME` and are no drop at all.
        """
        mime = event.mimeData()
        action = next((a for a in (Qt.DropAction.CopyAction, Qt.DropAction.LinkAction)
                       if event.possibleActions() & a), None)
        if mime.hasFormat(OWN_DRAG_MIME) or action is None or not any(u.isLocalFile() for u in mime.urls()):
            event.ignore()
            return False
        event.setDropAction(action)
        event.accept()
        return True

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self._accept_drag(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        self._accept_drag(event)

    def dropEvent(self, event: QDropEvent) -> None:
        if not self._accept_drag(event):
            return
        files = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if files[0].is_dir():
            try:
                image_paths(files[0])  # one folder listing: a folder of stills is a mood board
            except QueryError:
                self._analysis_failed(files[0], f"{files[0]} is a folder: drop a video file, a temp track or "
                                                "stills (add music folders in the Library panel).")
                return
        self.open_files(files)

    def open_files(self, files: list[Path]) -> None:
        """Query with ``files`` (a drop, File → Open, the command line), told apart by content: a video, a temp
        track, stills. Opened while the networks still load, the newest files wait and run once they are ready
        (a drop made at start-up is not lost)."""
        if self.analysis.loading:
            self._pending_files = list(files)
            self.query_panel.wait(files[0])
            self.statusBar().showMessage(f"{files[0].name}: waiting for the networks to load…")
            return
        self.modes.open(files)

    def _show_query_kind(self, kind: str) -> None:
        """What needs the query's picture is on for a video, off (the tooltip says why) for a temp track or stills."""
        for action, (tip, status) in self._picture_tips.items():
            if kind != "video":
                tip = status = f"{action.text().replace('&', '').rstrip('…')} needs a video query: {NO_PICTURE[kind]}"
            action.setEnabled(kind == "video")
            action.setToolTip(tip)
            action.setStatusTip(status)

    def _analysis_started(self, path: Path) -> None:
        self._show_query_kind("video")
        self.results.clear()
        self.timeline.set_scenes([])
        self.timeline.set_assignments([])
        self.cue_panel.set_cue(None, None)
        self._region = None
        self._update_count()
        self.query_panel.start(path)
        self.player.set_video(path)
        self.sound.video_changed(path)
        self.preview.show_video()
        self.preview.set_enabled(True)
        self.preview.set_track_text("")
        self.statusBar().showMessage(f"Analysing {path.name}…")

    def _query_started(self, label: Path, kind: str) -> None:
        """A temp-track or still query began: no picture to preview; the results make way."""
        self._show_query_kind(kind)
        self.results.clear()
        self._update_count()
        self.query_panel.start(label)
        self.preview.set_track_text("")
        self._region = None
        what = "temp track" if kind == "temp_track" else "stills"
        self.statusBar().showMessage(f"Ranking the library for the {what} {label.name}…")

    def _analysis_finished(self, analysis: Analysis) -> None:
        """New results: the best track is selected; a re-ranking (same video) keeps the track selected."""
        query = analysis.query
        self._show_query_kind(analysis.kind)
        kept = self.selected_suggestion()  # None for a new video: its start cleared the results
        probs = None if query.emotion_probs is None else [float(p) for p in query.emotion_probs]
        by_id = analysis.kind == "temp_track" and self.analysis.current_path is not None
        label = self.analysis.current_path if by_id else query_label(analysis)  # a library track: its file
        self.query_panel.finish(label, getattr(query, "duration", None), probs, len(analysis.suggestions))
        if analysis.kind == "stills":
            self.query_panel.message.setText(f"{self.query_panel.message.text()} Note: {STILLS_NOTE}.")
        self.results.set_results(self._shown(analysis.suggestions), self.query_panel.chart.top_emotion(),
                                 Path(label))
        self._filters_changed()
        self._refresh_map(analysis)
        message = f"{len(analysis.suggestions)} tracks ranked for {label.name}"
        if analysis.feedback is not None and (analysis.feedback.liked or analysis.feedback.disliked):
            message += (f" ({len(analysis.feedback.liked)} liked, {len(analysis.feedback.disliked)} disliked; "
                        f"{self.undo_rating_action.shortcut().toString()} undoes)")
        features = query.features if analysis.kind == "video" else None  # a temp track's are VGGish means
        if features is not None and (note := text.damage_note(features.skipped_clips, features.skipped_seconds)):
            message += f"; {note}"
        self.statusBar().showMessage(message, 8000 if features is None or not features.skipped_clips else 20000)
        rows = range(self.proxy.rowCount())
        row = next((r for r in rows if kept is not None and self.proxy.suggestion(r).path == kept.path), None)
        if row is not None:
            self.table.selectRow(row)
        elif rows:
            self.table.selectRow(0)
            self.table.setFocus()

    # ---- the valence-arousal map
    def _refresh_map(self, analysis: Analysis) -> Job:
        mapping = Job(job(self.inference.va_map, analysis), name="valence-arousal map")
        mapping.returned.connect(lambda _id, va: self.va_map.set_map(va))
        mapping.errored.connect(lambda _id, exc: self.va_map.setToolTip(f"No map: {exc}"))  # e.g. single-task
        return self.lanes.inference.submit(mapping)

    def _shown(self, suggestions: list) -> list:
        """What the table shows of a ranking: the tracks in the map's region, with the sections the user moved."""
        return self.section_edits.apply(self._section_context(), self._in_region(suggestions))

    def _in_region(self, suggestions: list) -> list:
        return suggestions if self._region is None else [s for s in suggestions if s.track_id in self._region]

    def _map_region_changed(self, region: frozenset[int] | None) -> None:
        """A rectangle drawn on the map shows only the results inside it (None: all again)."""
        self._region = region
        analysis = self.analysis.analysis
        if analysis is not None:
            self.results.set_results(self._shown(analysis.suggestions), self.query_panel.chart.top_emotion())
            self._filters_changed()
        if region is not None:
            self.statusBar().showMessage(f"Map region: {len(region)} library tracks; results inside it shown "
                                         "(double-click the map's background to show all)", 8000)

    def _map_track_clicked(self, track_id: int) -> None:
        """A dot clicked on the map: its result row is selected, so the preview auditions it."""
        row = next((r for r in range(self.proxy.rowCount()) if self.proxy.suggestion(r).track_id == track_id), None)
        if row is None:
            self.statusBar().showMessage("That track is not among the results shown", 5000)
            return
        self.table.selectRow(row)

    def _analysis_failed(self, path: Path, message: str) -> None:
        """The current video failed: say so in its place. Another file failed: keep what is shown, add a notice."""
        self.statusBar().showMessage(message, 10000)
        nothing_shown = self.analysis.analysis is None and not self.analysis.busy
        if path == self.analysis.current_path or nothing_shown:
            self.query_panel.fail(path, message)
        else:
            self.query_panel.notice(message)

    def _analysis_cancelled(self, path: Path) -> None:
        self.query_panel.cancelled(path)
        self.statusBar().showMessage(f"Analysis of {path.name} cancelled", 8000)

    # ================================================================== results and preview
    def _filters_changed(self) -> None:
        emotion = self.emotion_filter.currentData()
        self.proxy.set_emotion(None if emotion is None else Emotion(emotion))
        query = self.analysis.analysis.query if self.analysis.analysis is not None else None
        duration = getattr(query, "duration", None)  # a temp track or stills have no length to fill
        minimum = duration if self.length_filter.isChecked() and query is not None else None
        self.proxy.set_min_duration(minimum)
        self.proxy.set_text(self.search.text())
        self.proxy.set_shortlist_only(self.shortlist_filter.isChecked())
        self._update_count()

    def _update_count(self) -> None:
        """"3 of 12" (which filters hide the rest in the tooltip); with nothing shown, the reasons themselves."""
        total, shown = self.results.rowCount(), self.proxy.rowCount()
        hidden = self.proxy.hidden_summary()
        self.count_label.setText(hidden if total and not shown else f"{shown} of {total}" if hidden else f"{total} tracks")
        self.count_label.setToolTip(hidden)

    def toggle_star(self) -> bool:
        """Star or unstar the selected track (Ctrl+D); False when nothing is selected."""
        index = self.table.selectionModel().currentIndex()
        if not index.isValid():
            return False
        row = self.proxy.mapToSource(index).row()
        self.results.set_starred(row, not self.results.is_starred(row))
        self._update_count()
        return True

    def selected_suggestion(self) -> Any:
        index = self.table.selectionModel().currentIndex()
        return self.proxy.suggestion(index.row()) if index.isValid() else None

    def _preview_row(self, index: QModelIndex) -> None:
        if not index.isValid():
            return
        s = self.proxy.suggestion(index.row())
        self.sound.track_selected(s)
        self.player.set_track(s.path, float(s.best_start), at=self._section_anchor())
        self._show_now_playing(s)

    def _section_anchor(self) -> float:
        """Where on the video a result's section starts: at its cue's start (a scene's section is auditioned
        against that scene), 0 for the whole video."""
        cue = self.analysis.cue
        return float(cue.start) if cue is not None else 0.0

    def _show_now_playing(self, s: Any) -> None:
        title = text.track_title(s.title, s.artist, s.path)
        self.preview.set_track_text(f"♪ {title} — from {text.section(s.best_start, s.best_end)}")

    # ---- the waveform and the moved section
    def _section_context(self) -> tuple:
        """What a moved section belongs to: the query (video) and the cue its results are for."""
        cue = self.analysis.cue
        return (self.analysis.current_path, None if cue is None else (round(cue.start, 3), round(cue.end, 3)))

    def _show_waveform(self, index: QModelIndex) -> None:
        if not index.isValid() or self._closed:  # closed: results arriving late start no new reading
            return
        s = self.proxy.suggestion(index.row())
        original = self.analysis.analysis.suggestions if self.analysis.analysis is not None else []
        best = next((o.best_start for o in original if o.path == s.path), s.best_start)
        self.waveform.show(s, float(best), self.choices.beats.get(Path(s.path)))

    def _section_moved(self, path: Path, start: float) -> None:
        """The section dragged on the waveform (or moved by its keys) becomes the result's section: the table,
        the preview export, a cue's choice and the exported documents use it from now on."""
        row = next((r for r in range(self.results.rowCount()) if Path(self.results.suggestion(r).path) == path), None)
        if row is None:
            return
        s = self.section_edits.move(self._section_context(), self.results.suggestion(row), start)
        self.results.replace_suggestion(row, s)
        self._show_now_playing(s)
        chosen = self.choices.choice_for(self.analysis.cue)
        if chosen is not None and Path(chosen.track_path) == path:
            self.choices.move_section(self.analysis.cue, s.best_start)

    def step_track(self, step: int) -> None:
        """Select the next (``step=1``) or previous (``-1``) row; the preview follows, the video keeps its place."""
        rows = self.proxy.rowCount()
        if not rows:
            return
        current = self.table.selectionModel().currentIndex()
        row = min(rows - 1, max(0, (current.row() if current.isValid() else -1) + step))
        self.table.selectionModel().setCurrentIndex(
            self.proxy.index(row, 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
        )

    def play_from_section(self) -> None:
        """Double-click: the selected track from the start of its best section, against its cue's start."""
        self.player.seek(self.player.section_anchor)
        self.player.play()

    def _space(self) -> None:
        """Space plays/pauses, except on a focused button or check box, which it presses as usual."""
        focus = self.focusWidget()
        if isinstance(focus, QAbstractButton):
            focus.click()
        else:
            self.player.toggle()

    def _seek_by(self, seconds: float) -> None:
        """Left/Right seek the preview, except on a focused slider (volume), which they move as usual."""
        focus = self.focusWidget()
        if isinstance(focus, QAbstractSlider):
            step = QAbstractSlider.SliderAction.SliderSingleStepAdd
            focus.triggerAction(step if seconds > 0 else QAbstractSlider.SliderAction.SliderSingleStepSub)
            return
        self.player.seek(max(0.0, self.player.position() + seconds))

    def _context_menu(self, point: QPoint) -> None:
        if not self.table.indexAt(point).isValid():
            return
        menu = QMenu(self)
        for action in (self.star_action, self.reveal_action, self.copy_action, self.export_preview_action, None,
                       self.like_action, self.dislike_action, self.like_track_action):
            menu.addSeparator() if action is None else menu.addAction(action)
        menu.popup(self.table.viewport().mapToGlobal(point))

    def reveal_selected(self) -> bool:
        """Open the selected track's folder; where the desktop has no file launcher, say so and offer Copy path."""
        s = self.selected_suggestion()
        if s is None or self.handoff.reveal(s.path):
            return s is not None
        box = QMessageBox(QMessageBox.Icon.Information, "Reveal in folder",
                          f"This desktop could not open a file manager for {Path(s.path).parent}.", parent=self)
        box.setInformativeText("Copy the track's path and paste it where you need it.")
        box.addButton("Copy path", QMessageBox.ButtonRole.AcceptRole).clicked.connect(self.copy_selected_path)
        box.addButton(QMessageBox.StandardButton.Close)
        box.setObjectName("revealFailed")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return False

    def rate_selected(self, liked: bool) -> Any:
        """Thumbs up (``liked``) or down on the selected track: the ranking moves at once (undo: Ctrl+Z)."""
        s = self.selected_suggestion()
        return None if s is None else self.modes.rate(s.track_id, liked)

    def undo_rating(self) -> bool:
        return self.modes.undo()

    def query_like_selected(self) -> Any:
        """"More like this track": the selected track becomes a temp track."""
        s = self.selected_suggestion()
        return None if s is None else self.modes.temp_track(int(s.track_id), label=Path(s.path))

    def copy_selected_path(self) -> None:
        s = self.selected_suggestion()
        if s is not None:
            self.handoff.copy_path(s.path)

    def _show_library_stats(self, stats: Any) -> None:
        self.library_label.setText(f"Library: {stats.indexed} tracks")
        self.library_label.setToolTip(f"{stats.indexed} indexed, {stats.failed} failed, {stats.windows} sections, "
                                      f"index {text.file_size(stats.db_bytes)}")

    # ================================================================== hand-off
    def visible_suggestions(self) -> list:
        """The rows as shown: filtered and sorted."""
        return [self.proxy.suggestion(row) for row in range(self.proxy.rowCount())]

    def export_results(self, path: Path | str | None = None) -> Job | None:
        """Save the rows as shown as CSV or JSON (asks for a file when ``path`` is None)."""
        return self.handoff.export_results(self.analysis.analysis, self.visible_suggestions(), path,
                                           self.results.starred_paths())

    def export_preview(self, path: Path | str | None = None) -> Job | None:
        """Save the video with the selected track's best section as MP4 (asks for a file when ``path`` is None)."""
        return self.handoff.export_preview(self.analysis.analysis, self.selected_suggestion(), path)

    # ================================================================== scenes, cues and the chosen music
    def _scenes_ready(self, found: Any) -> None:
        """The video's scenes (first, or again after a split/merge): show them; a new video loads its choices."""
        self.timeline.set_scenes(found.scenes, keep=self.analysis.cue if self.analysis.cue in found.cues else None)
        video = self.choices.choices.video if self.choices.choices is not None else None
        if video is None or Path(video.path) != Path(found.path):
            self.choices.open(Path(found.path), found.info.fps, found.info.duration)
        self._update_cue_panel()

    def _cue_selected(self, cue: Any) -> None:
        self.analysis.select_cue(cue)
        self._update_cue_panel()

    def _choices_changed(self, choices: Any) -> None:
        self.timeline.set_assignments([
            (c.cue_start, c.cue_end, text.track_title(c.title, c.artist, c.track_path)) for c in choices.choices
        ])
        self._update_cue_panel()

    def _update_cue_panel(self) -> None:
        cue = self.analysis.cue
        chosen = self.choices.choice_for(cue)
        title = text.track_title(chosen.title, chosen.artist, chosen.track_path) if chosen is not None else None
        self.cue_panel.set_cue(cue, title, can_use=self.selected_suggestion() is not None)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Enter/Return in the results table assigns the selected track to the cue, whatever the view does."""
        if (watched is self.table and event.type() == QEvent.Type.KeyPress
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not event.modifiers()):
            self.use_action.trigger()
            return True
        return super().eventFilter(watched, event)

    def use_for_cue(self, *, play: bool = False) -> bool:
        """Assign the selected track and its section to the cue the results are for (Enter, double-click)."""
        cue, track = self.analysis.cue, self.selected_suggestion()
        assigned = cue is not None and track is not None and self.choices.choices is not None
        if assigned:
            self.choices.assign(cue, track)
            title = text.track_title(track.title, track.artist, track.path)
            self.statusBar().showMessage(f"{cue.label}: {title}", 8000)
        elif not play:
            self.statusBar().showMessage("Select a cue on the timeline and a track first.", 8000)
        if play:  # a double-click also auditions it from its section, as before
            self.play_from_section()
        return assigned

    def nudge_section(self, steps: int, unit: str) -> None:
        self.choices.nudge(self.analysis.cue, steps, unit)

    def split_scene_at(self, seconds: float) -> None:
        self._edit_scenes(lambda scenes: split_scene(scenes, seconds))

    def merge_scene(self, index: int) -> None:
        self._edit_scenes(lambda scenes: merge_scenes(scenes, index))

    def _edit_scenes(self, edit: Callable[[list], list]) -> None:
        if self.analysis.scenes is None:
            return
        try:
            self.analysis.edit_scenes(edit(self.timeline.scenes()))
        except EngineError as exc:
            self.statusBar().showMessage(str(exc), 8000)

    def export_choices(self, kind: str, path: Path | str | None = None) -> Job | None:
        """Export the chosen music: ``"timeline"``, ``"cue sheet"`` or ``"scored preview"`` (asks for a file)."""
        return self.handoff.export_choices(kind, self.choices.choices, path)

    def preview_cut(self) -> Job | None:
        """Render the scored cut (every cue's section, crossfaded at the boundaries) and play it from the start."""
        choices = self.choices.choices
        if choices is None or not choices.choices:
            self.statusBar().showMessage("Choose music for a cue first (Use for this cue).", 8000)
            return None
        folder = paths.cache_dir() / "previews"
        folder.mkdir(parents=True, exist_ok=True)
        rendering = self.handoff.export_choices("scored preview", choices, folder / f"{Path(choices.video.path).stem}"
                                                "-scored.mp4")
        if rendering is not None:
            rendering.returned.connect(lambda _id, report: self._play_scored(report.path))
        return rendering

    def _play_scored(self, path: Path) -> None:
        self.sound.track_selected(None)  # the rendered mix was never measured: its own level
        self.player.set_track(path, 0.0)  # the rendered mix is on the video's own clock
        self.player.seek(0.0)
        self.player.play()
        self.preview.set_track_text("♪ The scored cut: every cue's chosen section")
