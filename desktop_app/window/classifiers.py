"""Classifiers of the user's own classes (issue #23) in the window: Model ▸ New classifier…,
opening one from the dataset list (its drawings' folder checked: classes added or removed by
hand are reported, nothing is lost), and My samples ▸ Train (a child process, then the canvas
uses the model it made)."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog

from desktop_app.texts import teach_progress_text
from training.core.classifiers import find, reconcile
from training.core.datasets import DATASETS

NEW_CLASSIFIER_TIP = ("Make a classifier of your own classes (shapes, letters, anything you can "
                      "draw): name it, draw a few of each, press Train in My samples")


class ClassifiersMixin:
    """MainWindow's ``new_classifier_action`` and its classifiers' trainer (``_classes``)."""

    def _build_classifier_actions(self) -> None:
        self.new_classifier_action = self._action(
            "&New classifier…", self.new_classifier, ["Ctrl+Shift+N"], "newClassifier",
            NEW_CLASSIFIER_TIP)
        self.model_menu.addAction(self.new_classifier_action)
        self._classes = None   # the ClassesTrainer, made on the first Train

    def new_classifier(self) -> None:
        from desktop_app.learning.new_classifier_dialog import NewClassifierDialog

        if not self._keep_trained_model("make a new classifier"):
            return
        dialog = NewClassifierDialog(self)
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.created is None:
            return
        classifier = dialog.created
        self._fill_dataset_selector()
        self.controller.set_dataset(classifier.name)
        self.show_dock(self.personal_dock)
        self.show_info(f"{classifier.title}: draw each class and keep it with its key (0–9) or "
                       "its “This is…” button; about ten of each, then press Train in "
                       "My samples.")

    def _check_classifier(self, dataset: str) -> None:
        """The dataset about to be shown, if it is a classifier: its drawings' folder checked
        against its classes (a class folder made or removed by hand), the changes said."""
        classifier = find(dataset) if dataset not in DATASETS else None
        if classifier is None:
            return
        try:
            classifier, changes = reconcile(classifier)
        except OSError as exc:
            self.show_message(f"{classifier.title}: its samples folder cannot be checked ({exc}).")
            return
        if changes:
            self.show_message(f"{classifier.title}: {'; '.join(changes)}. Train again to "
                              "include the change.")

    def _show_classifier_figures(self, dataset: str) -> None:
        """My samples shows the held-out figures of the classifier's model, as it was saved."""
        classifier = find(dataset) if dataset not in DATASETS else None
        if classifier is not None and self.personal is not None and not self._classes_training():
            self.personal.show_classes_result(self._stored_figures(classifier))

    @staticmethod
    def _stored_figures(classifier) -> dict | None:
        from training.modelfile.sidecar import read_metadata

        if not classifier.model_path.is_file():
            return None
        metadata = read_metadata(classifier.model_path)
        lineage = metadata.get("lineage") if isinstance(metadata.get("lineage"), dict) else {}
        cv = dict(lineage.get("cross_validation") or {})
        if "confusion" in metadata:
            cv["confusion"] = metadata["confusion"]
        return {"class_names": metadata.get("class_names"), "cross_validation": cv} if (
            metadata.get("class_names")) else None

    def train_classes(self) -> None:
        """My samples ▸ Train: learn the classifier's classes from its samples, in a child."""
        classifier = find(self.controller.dataset)
        if classifier is None or self.personal is None or self._classes_training():
            return
        classifier, _ = reconcile(classifier)
        counts = self.personal.store.counts()
        missing = [n for n, c in zip(self.personal.store.info.class_names, counts) if c == 0]
        if missing:
            self.show_message(f"Keep at least one drawing of {', '.join(missing)} first (about "
                              "ten of each class is good): draw it, then press its key or its "
                              "“This is…” button.")
            return
        self._classes_trainer().start(classifier)

    def _classes_trainer(self):
        if self._classes is None:
            from desktop_app.learning.classes_trainer import ClassesTrainer

            self._classes = ClassesTrainer(self.jobs, self)
            self._classes.stateChanged.connect(self._classes_state)
            self._classes.progress.connect(self._classes_progress)
            self._classes.finished.connect(self._classes_finished)
            self._classes.failed.connect(self._classes_failed)
        return self._classes

    def _classes_training(self) -> bool:
        return self._classes is not None and self._classes.is_running()

    def _classes_state(self, running: bool) -> None:
        if self.personal is not None:
            self.personal.set_training(running)

    def _classes_progress(self, message) -> None:
        from training.protocol.messages import TeachBatch, TeachBegin  # after the first frame

        if isinstance(message, TeachBegin):
            self.show_info(f"Training on {message.samples} drawings: {message.folds}-fold "
                           "cross-validation, then the final model…")
        elif isinstance(message, TeachBatch) and self.personal is not None:
            self.personal.show_classes_progress(message.step, message.steps,
                                                teach_progress_text(message.to_dict()))

    def _classes_finished(self, result) -> None:
        if self.personal is not None:
            self.personal.show_classes_result(result.to_dict(), "The canvas now uses it.")
        if self.controller.dataset == result.dataset:
            self.controller.load_model_file(result.path)
        self.show_info(f"Trained: {len(result.class_names)} classes from {result.samples} "
                       "drawings.")

    def _classes_failed(self, message: str) -> None:
        if self.personal is not None:
            self.personal.classes_result.setText(message)
        self.show_message(message)
