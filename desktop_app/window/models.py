"""The model in use and the active dataset: choosing and loading a model file, going back to
the shipped one, the status bar's model line, and switching dataset from the tool bar or the
training form (after Save / Discard of an unsaved trained model)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt

from desktop_app.prediction.requests import ModelInfo
from desktop_app.texts import LOADING, model_status_text
from training.core.datasets import dataset_info, dataset_title

if TYPE_CHECKING:  # the training panel is imported when its dock is first built
    from desktop_app.learning.training_panel import TrainedModel


class ModelsMixin:
    """MainWindow's model and dataset choice (through its prediction controller)."""

    def choose_model(self) -> None:
        from desktop_app.prediction.model_choices import MODEL_FILTER, model_behind

        if not self._keep_trained_model("load another model"):
            return
        from PySide6.QtWidgets import QFileDialog  # (dialogs: not in the first frame)

        path, _ = QFileDialog.getOpenFileName(self, "Load model", self.settings.models_folder(),
                                              MODEL_FILTER)
        if not path:
            return
        model = model_behind(path)
        if model is None:
            self.show_message(f"{os.path.basename(path)} is not a model but a file the app keeps "
                              "beside one (its check, layers or description); open the .keras "
                              "file of the same name.")
            return
        self.settings.set_model_folder(os.path.dirname(model))
        self.load_model(model)

    def load_model(self, path: str) -> None:
        self.show_info(f"Loading {os.path.basename(path)}…")
        self.controller.load_model_file(path)

    def model_ready(self) -> bool:
        """The model answers, and the window around it is whole (its chart and docks are
        built once the model has loaded)."""
        return self._background_done and self.controller.model() is not None

    def _show_model(self, info: ModelInfo) -> None:
        self.model_status.setText(model_status_text(info.name, info.dataset, info.test_accuracy))
        self._show_model_line()
        if info.path in self._measured and not info.calibrated:
            self._measured.discard(info.path)   # its sidecar was read before it was measured
            self.controller.load_model_file(info.path)
        if info.dataset == self.controller.dataset:
            self._set_class_names(info.class_names)
        metadata = info.metadata or {}
        user_loaded = not info.shipped and info.path
        panel = self.training_panel
        if panel and metadata.get("history") and (user_loaded or panel.last_result() is None):
            panel.show_saved_model(metadata)

    def _reload_if_in_use(self, paths: list) -> None:
        """A model used before it was measured now has its temperature and "doesn't look
        like" check in its sidecar: load it again so the canvas answers with them (now, or
        when a load of it that started earlier ends without them)."""
        self._measured.update(paths)
        info = self.controller.model()
        if info is not None and info.path in paths and not info.calibrated:
            self.controller.load_model_file(info.path)
            self.show_info(f"{info.name} is measured: its answers are now calibrated and "
                           "checked.")

    def _show_model_line(self) -> None:
        """The line under the answer names the model that gave it: the model in use, or the
        model just trained while one of its misclassified test pictures is shown."""
        pinned, info = self._pinned, self.controller.model()
        if pinned is not None:
            self.model_name.setText(pinned["model_line"])
            self.model_name.setToolTip("Draw to see the answer of the model in use again")
        elif info is not None:
            self.model_name.setText(info.name)
            self.model_name.setToolTip(self.model_status.text())

    def _use_trained_model(self, trained: TrainedModel) -> None:
        """"Use this model" in the training panel: the canvas switches to it (and its dataset)."""
        self.show_info("Switching the canvas to the trained model…")
        self.controller.load_model_file(trained.path)

    def use_shipped_model(self) -> None:
        self.show_info("Going back to the shipped model…")
        self.controller.use_shipped_model()

    def _show_busy(self, message: str) -> None:
        if message:
            self.show_info(message)
            self.model_status.setText(message)

    def _model_failed(self, message: str) -> None:
        self.show_message(message)
        self._model_problem = message  # this dataset's: withdrawn when another is chosen
        if self.controller.model() is None and not self.controller.is_loading():
            self.model_status.setText("No model")
            self.model_name.setText("No model")  # not "Loading model…" for ever

    def _fill_dataset_selector(self) -> None:
        """MNIST, Fashion-MNIST, then the user's classifiers (Model ▸ New classifier…)."""
        from training.core.datasets import DATASETS, all_datasets

        current = self.dataset_selector.currentData()
        self.dataset_selector.blockSignals(True)
        self.dataset_selector.clear()
        for info in all_datasets():
            self.dataset_selector.addItem(info.title, info.name)
            if info.name not in DATASETS:
                self.dataset_selector.setItemData(
                    self.dataset_selector.count() - 1,
                    f"Your classifier: {', '.join(info.class_names)}",
                    Qt.ItemDataRole.ToolTipRole)
        self.dataset_selector.setCurrentIndex(max(0, self.dataset_selector.findData(current)))
        self.dataset_selector.blockSignals(False)

    def _select_dataset_in_combo(self, dataset: str) -> None:
        index = self.dataset_selector.findData(dataset)
        if index >= 0 and index != self.dataset_selector.currentIndex():
            self.dataset_selector.blockSignals(True)
            self.dataset_selector.setCurrentIndex(index)
            self.dataset_selector.blockSignals(False)

    def _dataset_chosen(self, index: int) -> None:
        dataset = self.dataset_selector.itemData(index)
        if dataset != self.controller.dataset and not self._keep_trained_model(
                f"switch to {dataset_title(dataset)}"):
            self._select_dataset_in_combo(self.controller.dataset)  # cancelled: stay
            return
        self.controller.set_dataset(dataset)

    def _dataset_chosen_in_form(self, dataset: str) -> None:
        if dataset != self.controller.dataset and not self._keep_trained_model(
                f"switch to {dataset_title(dataset)}"):
            self.training_panel.set_dataset(self.controller.dataset)
            return
        self.controller.set_dataset(dataset)

    def _keep_trained_model(self, action: str) -> bool:
        """Save / Discard / Cancel before an action that would leave an unsaved trained model
        behind; True when the action may go ahead."""
        panel = self.training_panel
        return panel is None or panel.keep_or_discard(action)

    def _dataset_changed(self, dataset: str) -> None:
        self.withdraw_message(self._model_problem)
        self._check_classifier(dataset)
        self._select_dataset_in_combo(dataset)
        self._update_classifier_actions()
        if self.training_panel is not None:  # the docks' panels follow once built
            self.training_panel.set_dataset(dataset)
        if self.personal is not None:
            self.personal.set_dataset(dataset)
        if self.samples is not None:
            self.samples.show_dataset(dataset, self.settings.data_dir() or None)
        self._fill_this_is(dataset)
        info = self.controller.model(dataset)
        self._set_class_names(info.class_names if info else list(dataset_info(dataset).class_names))
        if info is None:
            self.model_status.setText(LOADING)
        self._show_classifier_figures(dataset)

    def _set_class_names(self, names: list[str]) -> None:
        if self.chart is not None and names != self.chart.class_names():
            self.chart.set_class_names(names)
