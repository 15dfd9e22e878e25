"""Model ▸ Teach it my handwriting and Model ▸ Export…: the window's side of both (what may
start, the questions, the status bar); the work is the teach dialog's and the exporter's, each
in a child process (desktop_app/learning)."""

from __future__ import annotations

import os
from pathlib import Path

from desktop_app.texts import exported_text, lite_only_text
from training.core.datasets import DATASETS


class TeachExportMixin:
    """MainWindow's teach dialog (``_teach_dialog``) and exporter (``_exporter``)."""

    def teach_model(self) -> None:
        """Model ▸ Teach it my handwriting: fine-tune the model in use on the personal samples
        of its dataset, in a child process, in a dialog that ends with Keep or Discard."""
        info = self.controller.model()
        dataset = self.controller.dataset
        if dataset not in DATASETS and self.personal is not None:
            self.show_dock(self.personal_dock)  # a classifier of the user's own: Train it
            self.train_classes()
            return
        if info is None or self.personal is None:
            self.show_message("Wait for the model to load, then teach it.")
            return
        if not str(info.path).lower().endswith(".keras"):
            self.show_message(lite_only_text(info.name, "teach"))
            return
        count = sum(self.personal.store.counts())
        if count == 0:
            self.show_dock(self.personal_dock)
            self.show_message("No samples to teach yet: draw something the model gets wrong, "
                              "then press its key (0–9) or a \"This is…\" button. A handful "
                              "of examples of your style is enough.")
            return
        dialog = self.teach_dialog()
        if dialog.controller.is_running():
            dialog.show()
            dialog.raise_()
            return
        from training.runtime.samples import taught_before

        path, name = info.path, info.name
        history = taught_before((info.metadata or {}).get("lineage"),
                                self.personal.store.samples())
        if history is not None:
            from PySide6.QtWidgets import QMessageBox  # (dialogs: not in the first frame)

            if history.nothing_new and QMessageBox.question(
                    self, "Teach it again?",
                    f"{name} was already taught these {count} samples ({history.when}); "
                    "nothing was added or changed since. Teach again anyway?",
                    QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                    QMessageBox.StandardButton.No) != QMessageBox.StandardButton.Yes:
                self.show_info("Nothing taught: add samples of what it gets wrong, then teach.")
                return
            if history.original is not None:
                # Teaching the original on all samples instead of the taught copy on the same
                # ones again: the earlier samples are not learned twice.
                path, name = str(history.original), history.describe(name)
        dialog.start(path, name, dataset, count, self.settings.data_dir())

    def teach_dialog(self):
        from desktop_app.learning.teach_dialog import TeachDialog

        if self._teach_dialog is None:
            self._teach_dialog = TeachDialog(self)
            self._teach_dialog.controller.jobs = self.jobs
            self._teach_dialog.kept.connect(self._use_taught_model)
        return self._teach_dialog

    def _use_taught_model(self, path: str) -> None:
        self.show_info("Switching the canvas to the taught model…")
        # Remembered now, not when it has loaded: a model kept as the window closes is the
        # one the next launch opens.
        self.settings.set_model_path(self.controller.dataset, path)
        self.controller.load_model_file(path)

    def export_model(self) -> None:
        """Model ▸ Export…: asks for a folder, then exports the model in use into it. (No
        optional argument: ``triggered`` would pass its ``checked`` flag into it.)"""
        if self._export_refused():
            return
        start = self.settings.export_folder() or os.path.expanduser("~")
        from PySide6.QtWidgets import QFileDialog

        folder = QFileDialog.getExistingDirectory(self, "Export the model into a folder", start)
        if folder:
            self.settings.set_export_folder(folder)
            self.export_model_to(folder)

    def _export_refused(self) -> bool:
        """True (with the reason on the status bar) when the model in use cannot be exported
        now."""
        info = self.controller.model()
        if info is None:
            self.show_message("Wait for the model to load, then export it.")
            return True
        if not str(info.path).lower().endswith(".keras"):
            self.show_message(lite_only_text(info.name, "export"))
            return True
        if self._exporter is not None and self._exporter.is_running():
            self.show_message("An export is already under way.")
            return True
        return False

    def export_model_to(self, folder: str) -> None:
        """The model in use as .keras, .tflite, ONNX and a JSON, into ``folder``, by a child
        process; the status bar names the folder and the files when they are written."""
        if self._export_refused():
            return
        info = self.controller.model()
        if self._exporter is None:
            from desktop_app.learning.model_export import ModelExporter

            self._exporter = ModelExporter(self, self.jobs)
            self._exporter.exported.connect(self._model_exported)
            self._exporter.failed.connect(self.show_message)
        self._exporter.export(info.path, folder, _export_name(info))
        self.show_info(f"Exporting {info.name} as .keras, .tflite and ONNX into {folder}…")

    def _model_exported(self, files: list) -> None:
        self.show_info(exported_text(files))


def _export_name(info) -> str:
    """The exported files' stem: a shipped model's file name, a classifier's own name (its
    model file is ``model.keras``, which said nothing once exported), else the file's (""). """
    from training.core.datasets import DATASETS

    if info.shipped:
        return Path(info.path).stem
    return info.dataset if info.dataset not in DATASETS else ""
