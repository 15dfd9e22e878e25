"""The docks down the window's right edge: Test samples, Training, My samples, What each layer
sees and Models side by side (tabbed, Ctrl+1…5 raise them), and the Model menu's Train, Teach
and Export actions that go with them."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QLabel

log = logging.getLogger("desktop_app.main_window")


def on_screen(dock: QDockWidget) -> bool:
    """The dock can be seen: shown, and its tab raised (a tabbed dock behind another stays
    "visible" to Qt)."""
    return dock.isVisible() and not dock.visibleRegion().isEmpty()


class DocksMixin:
    """MainWindow's ``*_dock`` attributes and the panels in them."""

    def _build_docks(self) -> None:
        self._add_docks()
        self.canvas.classKeyPressed.connect(self.store_sample)
        self._check_classifier(self.settings.dataset())  # a class folder made by hand counts
        self._fill_this_is(self.settings.dataset())
        self._build_dock_actions()
        self._build_model_actions()

    def _add_docks(self) -> None:
        # The docks are made empty, with their names and places (the saved layout restores
        # them); their panels are built after the first frame (_fill_docks).
        docks = (("samples_dock", "Test samples", "samplesDock"),
                 ("training_dock", "Training", "trainingDock"),
                 ("personal_dock", "My samples", "personalSamples"),
                 ("layers_dock", "What each layer sees", "layersView"),
                 ("compare_dock", "Models side by side", "compareView"))
        made = []
        for attribute, title, name in docks:
            dock = QDockWidget(title, self)
            dock.setObjectName(name)
            dock.setWidget(QLabel("…"))
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
            setattr(self, attribute, dock)
            made.append(dock)
        for first, second in zip(made, made[1:]):
            self.tabifyDockWidget(first, second)
        self.samples_dock.raise_()

    def _fill_docks(self) -> None:
        """The docks' panels, built after the first frame: each imports its own modules."""
        from desktop_app.views.compare_view import CompareView
        from desktop_app.views.layers_view import LayersView
        from desktop_app.views.personal_samples import PersonalSamplesPanel
        from desktop_app.views.sample_browser import SampleBrowser

        dataset = self.controller.dataset
        self.samples = SampleBrowser(self.jobs)
        self.samples.sampleChosen.connect(lambda image, label: self._show_new_sample(image))
        self.samples.dataFolderChosen.connect(self._data_folder_chosen)
        self.samples_dock.setWidget(self.samples)
        self.samples.show_dataset(dataset, self.settings.data_dir() or None)
        self.personal = PersonalSamplesPanel(dataset)
        self.personal.sampleChosen.connect(self._show_new_sample)
        self.personal.message.connect(self.show_info)
        self.personal.trainRequested.connect(self.train_classes)
        self.personal.fine_tune.setChecked(self.settings.fine_tune_classes())
        self.personal.fine_tune.toggled.connect(self.settings.set_fine_tune_classes)
        self.personal.stopRequested.connect(
            lambda: self._classes is not None and self._classes.request_stop())
        self.personal_dock.setWidget(self.personal)
        # "What each layer sees" and "Models side by side" (issue #10) compute only when shown.
        self.layers_view = LayersView(self.controller, self.jobs)
        self.layers_dock.setWidget(self.layers_view)
        self.compare_view = CompareView(self.controller, self.settings, self.jobs)
        self.compare_dock.setWidget(self.compare_view)
        for dock, view in ((self.layers_dock, self.layers_view),
                           (self.compare_dock, self.compare_view)):
            dock.visibilityChanged.connect(view.set_shown)
            view.set_shown(on_screen(dock))
        self._build_training_panel()
        self._show_classifier_figures(dataset)
        if not self.canvas.is_empty():
            self.controller.picture_changed()  # the views follow the drawing made meanwhile

    def _build_dock_actions(self) -> None:
        # Ctrl+1 / Ctrl+2 show and raise their dock (a dock's own toggle action would hide one
        # that is merely tabbed behind another); the View menu keeps the show/hide toggles.
        for dock, key, name in ((self.samples_dock, "Ctrl+1", "showSamples"),
                                (self.training_dock, "Ctrl+2", "showTraining"),
                                (self.personal_dock, "Ctrl+3", "showPersonalSamples"),
                                (self.layers_dock, "Ctrl+4", "showLayers"),
                                (self.compare_dock, "Ctrl+5", "showCompare")):
            show = QAction(f"Show {dock.windowTitle()}", self)
            show.setObjectName(name)
            show.setShortcut(key)
            show.triggered.connect(lambda _=False, d=dock: self.show_dock(d))
            self.addAction(show)
            self.view_menu.addAction(show)
        self.view_menu.addSeparator()
        for dock in (self.samples_dock, self.training_dock, self.personal_dock,
                     self.layers_dock, self.compare_dock):
            self.view_menu.addAction(dock.toggleViewAction())

    def _build_model_actions(self) -> None:
        show_training = QAction("&Train a model…", self)
        show_training.setShortcut("Ctrl+T")
        show_training.triggered.connect(self.show_training_panel)
        self.addAction(show_training)
        self.train_menu_action = show_training
        self.model_menu.addAction(show_training)
        self.teach_action = QAction("T&each it my handwriting…", self)
        self.teach_action.setObjectName("teachModel")
        self.teach_action.setShortcut("Ctrl+Shift+T")
        self.teach_action.setToolTip("Fine-tune the model in use on your samples (My samples), "
                                     "then compare before → after and keep it or not")
        self.teach_action.triggered.connect(self.teach_model)
        self.addAction(self.teach_action)
        self.model_menu.addAction(self.teach_action)
        self.model_menu.addAction(self.load_model_action)
        self.model_menu.addAction(self.shipped_action)
        self.export_action = QAction("E&xport…", self)
        self.export_action.setObjectName("exportModel")
        self.export_action.setToolTip("Write the model in use as .keras, .tflite and ONNX, with "
                                      "a JSON describing its input, for a phone or a web page")
        self.export_action.triggered.connect(self.export_model)
        self.addAction(self.export_action)
        self.model_menu.addSeparator()
        self._build_classifier_actions()
        self.model_menu.addSeparator()
        self.model_menu.addAction(self.export_action)

    def _build_training_panel(self) -> None:
        try:
            from desktop_app.learning.training_panel import TrainingPanel

            self.training_panel = TrainingPanel(self.settings, jobs=self.jobs)
        except Exception as exc:  # noqa: BLE001 - drawing and classifying must work regardless
            log.exception("the training panel could not be built")
            self.training_dock.setWidget(QLabel(f"The training panel is unavailable: {exc}"))
            self.show_message(f"The training panel is unavailable: {exc}")
            return
        self.training_panel.modelReady.connect(self._use_trained_model)
        self.training_panel.modelDiscarded.connect(self.controller.drop_model_file)
        self.training_panel.trainingStateChanged.connect(self._update_classifier_actions)
        self.training_panel.modelMeasured.connect(self._reload_if_in_use)
        self.training_panel.sampleChosen.connect(self._show_sample_of)
        self.training_panel.dataFolderChanged.connect(
            lambda folder: self.samples.show_dataset(self.controller.dataset, folder or None))
        # One active dataset: the training form shows the window's and changes it.
        self.training_panel.set_dataset(self.controller.dataset)
        self.training_panel.datasetChosen.connect(self._dataset_chosen_in_form)
        self.training_dock.setWidget(self.training_panel)
        # Its model summary is made when the user first looks at the panel (a tab raised).
        self.training_dock.visibilityChanged.connect(
            lambda visible: visible and QTimer.singleShot(0, self.training_panel.first_shown))
        QTimer.singleShot(0, self.training_panel.first_shown)  # already in view

    def _data_folder_chosen(self, folder: str) -> None:
        """The data folder picked in the samples dock is the app's data folder setting."""
        self.settings.set_data_dir(folder)
        if self.training_panel is not None:
            self.training_panel.data_folder.setText(folder)

    def show_training_panel(self) -> None:
        self.show_dock(self.training_dock)

    def show_dock(self, dock: QDockWidget) -> None:
        dock.show()
        dock.raise_()
