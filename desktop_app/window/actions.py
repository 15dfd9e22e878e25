"""The window's actions, menus and tool bar: File, Edit (undo, tools, pen colours), View, Model
and Help, their shortcuts (which work with the menu bar hidden), the brush size, and the About
and Keyboard shortcuts boxes."""

from __future__ import annotations

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QSize, Qt, qVersion
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QSlider, QSpinBox, QToolBar

from desktop_app.settings import AppSettings
from desktop_app.views.class_keys import class_keys, keys_text
from training.core.datasets import dataset_info

SALIENCY_TIP = ("Where it looks (S): orange strokes pushed the model towards its answer, blue "
                "ones against it (occlusion: what erasing each part of the ink changes)")


class ActionsMixin:
    """MainWindow's actions (its ``*_action`` attributes), menus and tool bar."""

    def _build_actions(self) -> None:
        self._build_file_edit_actions()
        self._build_tool_actions()
        self._build_menus()
        self.addToolBar(self._build_toolbar())

    def _action(self, text, slot, shortcuts=(), name=None, tip=None) -> QAction:
        act = QAction(text, self)
        act.triggered.connect(slot)
        if shortcuts:
            act.setShortcuts([QKeySequence(s) for s in shortcuts])
        if name:
            act.setObjectName(name)
        if tip:
            act.setToolTip(tip)
        self.addAction(act)  # shortcuts work even when the menu bar is hidden
        return act

    def _build_file_edit_actions(self) -> None:
        action = self._action
        self.open_action = action("&Open image…", self.choose_image, [QKeySequence.StandardKey.Open])
        self.paste_action = action("&Paste", self.paste, [QKeySequence.StandardKey.Paste])
        self.save_action = action("&Save drawing as PNG…", self.save_drawing,
                                  [QKeySequence.StandardKey.Save])
        self.load_model_action = action("&Load model…", self.choose_model, ["Ctrl+L"])
        self.quit_action = action("&Quit", self.close, ["Ctrl+Q"], "quit")
        # Ctrl+Q quits from any of the app's windows (the teach dialog has the focus while
        # it runs), as in every desktop app.
        self.quit_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.undo_action = action("&Undo", self.canvas.undo, ["Ctrl+Z"], "undo")
        self.redo_action = action("&Redo", self.canvas.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], "redo")
        self.clear_action = action("&Clear", self.canvas.clear, ["Delete", "Esc"], "clear",
                                   "Clear the canvas (Delete / Esc)")
        self.shipped_action = action("Use the &shipped model", self.use_shipped_model,
                                     name="useShippedModel",
                                     tip="Go back to the model that comes with the app")
        self.about_action = action("&About Draw && Classify", self.show_about)
        self.undo_action.setEnabled(False)
        self.redo_action.setEnabled(False)
        self.canvas.undoAvailable.connect(self.undo_action.setEnabled)
        self.canvas.redoAvailable.connect(self.redo_action.setEnabled)

    def _build_tool_actions(self) -> None:
        # Tools: pen (none checked), eraser or fill; at most one at a time.
        self.eraser_action = QAction("&Eraser", self, checkable=True)
        self.eraser_action.setShortcut("E")
        self.eraser_action.setObjectName("eraserTool")
        self.eraser_action.setToolTip("Eraser for the left button (E); the right button always "
                                      "erases")
        self.eraser_action.toggled.connect(lambda on: setattr(self.canvas, "eraser", on))
        self.fill_action = QAction("&Fill", self, checkable=True)
        self.fill_action.setShortcut("F")
        self.fill_action.setObjectName("fillTool")
        self.fill_action.setToolTip("Fill an enclosed area with ink (F): clothes are drawn as "
                                    "filled shapes")
        self.fill_action.toggled.connect(lambda on: setattr(self.canvas, "fill_tool", on))
        tool_group = QActionGroup(self)
        tool_group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        for act in (self.eraser_action, self.fill_action):
            tool_group.addAction(act)
            self.addAction(act)
        pens = QActionGroup(self)
        self.white_pen_action = QAction("White on black", pens, checkable=True)
        self.black_pen_action = QAction("Black on white", pens, checkable=True)
        current = self.canvas.pen_style
        (self.white_pen_action if current == "white_on_black" else self.black_pen_action
         ).setChecked(True)
        self.white_pen_action.triggered.connect(lambda: self._set_pen_style("white_on_black"))
        self.black_pen_action.triggered.connect(lambda: self._set_pen_style("black_on_white"))

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        for act in (self.open_action, self.paste_action, self.save_action, None,
                    self.load_model_action, None, self.quit_action):
            file_menu.addSeparator() if act is None else file_menu.addAction(act)
        edit = menu.addMenu("&Edit")
        for act in (self.undo_action, self.redo_action, self.clear_action, None,
                    self.eraser_action, self.fill_action, None, self.white_pen_action,
                    self.black_pen_action):
            edit.addSeparator() if act is None else edit.addAction(act)
        self.view_menu = menu.addMenu("&View")
        self.saliency_action = QAction("Show &where it looks", self, checkable=True)
        self.saliency_action.setShortcut("S")
        self.saliency_action.setObjectName("showSaliency")
        self.saliency_action.setToolTip(SALIENCY_TIP)
        self.saliency_action.toggled.connect(self._toggle_saliency)
        self.addAction(self.saliency_action)
        self.view_menu.addAction(self.saliency_action)
        self.view_menu.addSeparator()
        self.model_menu = menu.addMenu("&Model")
        self.shortcuts_action = self._action("&Keyboard shortcuts", self.show_shortcuts,
                                       [QKeySequence.StandardKey.HelpContents, "Ctrl+/"],
                                       "keyboardShortcuts")
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)

    def _build_toolbar(self) -> QToolBar:
        """The dataset, the brush size (a slider and a spin box), the tools and undo."""
        self.brush = QSpinBox()
        self.brush.setObjectName("brushSize")
        self.brush.setRange(*AppSettings.BRUSH_RANGE)
        self.brush.setSuffix(" px")
        self.brush.setValue(self.canvas.brush_size)
        self.brush.setToolTip("Brush size")
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(*AppSettings.BRUSH_RANGE)
        slider.setValue(self.canvas.brush_size)
        slider.setMaximumWidth(120)
        slider.valueChanged.connect(self.brush.setValue)
        self.brush.valueChanged.connect(slider.setValue)
        self.brush.valueChanged.connect(self._set_brush)
        # After typing a size, the keys belong to the canvas again (Delete clears the drawing,
        # not the spin box's text).
        self.brush.editingFinished.connect(self.canvas.setFocus)
        slider.sliderReleased.connect(self.canvas.setFocus)

        tools = QToolBar("Tools")
        tools.setObjectName("toolsToolbar")
        tools.setIconSize(QSize(18, 18))
        tools.addWidget(QLabel(" Dataset "))
        tools.addWidget(self.dataset_selector)
        tools.addSeparator()
        tools.addWidget(QLabel(" Brush "))
        tools.addWidget(slider)
        tools.addWidget(self.brush)
        tools.addAction(self.eraser_action)
        tools.addAction(self.fill_action)
        tools.addSeparator()
        for act in (self.undo_action, self.redo_action, self.clear_action):
            tools.addAction(act)
        tools.addSeparator()
        tools.addAction(self.open_action)
        return tools

    def show_shortcuts(self) -> None:
        """Every action with a shortcut, as the menus name them."""
        rows = []
        for act in self.findChildren(QAction):
            keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in act.shortcuts()]
            keys = [k for k in keys if k]
            if keys and act.text():
                rows.append((act.text().replace("&&", "\0").replace("&", "")
                             .replace("\0", "&"), " or ".join(dict.fromkeys(keys))))
        rows.append(("Draw / erase", "left / right mouse button"))
        # The class keys are read by the canvas itself, not by actions: listed here by hand.
        keys = class_keys(dataset_info(self.controller.dataset).class_names)
        rows.append(("Keep the drawing as a sample of class N (My samples)",
                     f"{keys_text(keys)} on the canvas"))
        table = "".join(f"<tr><td>{name}</td><td>&nbsp;&nbsp;<b>{keys}</b></td></tr>"
                        for name, keys in sorted(set(rows)))
        from PySide6.QtWidgets import QMessageBox  # (dialogs: not in the first frame)

        QMessageBox.information(self, "Keyboard shortcuts", f"<table>{table}</table>")

    def _set_brush(self, size: int) -> None:
        self.canvas.brush_size = size
        self.settings.set_brush_size(size)

    def _set_pen_style(self, style: str) -> None:
        self.canvas.set_pen_style(style)
        self.settings.set_pen_style(style)

    def _toggle_saliency(self, on: bool) -> None:
        self.controller.set_explaining(on)
        self.settings.set_show_saliency(on)
        if on:
            self.show_info(SALIENCY_TIP)
        else:
            self.canvas.set_overlay(None)

    def show_about(self) -> None:
        from importlib import metadata as package_metadata

        def version(name: str) -> str:
            try:
                return package_metadata.version(name)
            except package_metadata.PackageNotFoundError:
                return "not installed"

        from PySide6.QtWidgets import QMessageBox

        QMessageBox.about(self, "About Draw & Classify", (
            "<h3>Draw & Classify</h3>"
            f"<p>Version {version('draw-classify')}</p>"
            "<p>Draw digits or clothes and watch Keras classifiers recognise them.</p>"
            f"<p>TensorFlow {version('tensorflow')} · Keras {version('keras')}<br>"
            f"Qt {qVersion()} · PySide6 {pyside_version}</p>"))
