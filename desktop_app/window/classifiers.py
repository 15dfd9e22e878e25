"""Classifiers of the user's own classes (issue #23) in the window: Model ▸ New classifier…,
Rename classifier… and Delete classifier… (moved aside, never erased), opening one from the
dataset list (its drawings' folder checked: classes added or removed by hand are reported,
nothing is lost), and My samples ▸ Train (a child process, then the canvas uses the model it
made)."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog

from desktop_app.texts import teach_progress_text
from desktop_app.views.class_keys import class_keys, keys_text
from training.core.atomic import WriteError
from training.core.classifiers import (
    ClassifierError,
    delete,
    drawing_count,
    find,
    reconcile,
    rename,
)
from training.core.datasets import DATASETS

NEW_CLASSIFIER_TIP = ("Make a classifier of your own classes (shapes, letters, anything you can "
                      "draw): name it, draw a few of each, press Train in My samples")
RENAME_TIP = "Give the classifier shown in the dataset list another name"
DELETE_TIP = ("Delete the classifier shown in the dataset list: its model and drawings are "
              "moved to the “deleted” folder of your data, from where they can be put back")


class ClassifiersMixin:
    """MainWindow's ``new_classifier_action`` and its classifiers' trainer (``_classes``)."""

    def _build_classifier_actions(self) -> None:
        self.new_classifier_action = self._action(
            "&New classifier…", self.new_classifier, ["Ctrl+Shift+N"], "newClassifier",
            NEW_CLASSIFIER_TIP)
        self.rename_classifier_action = self._action(
            "&Rename classifier…", self.rename_classifier, name="renameClassifier",
            tip=RENAME_TIP)
        self.delete_classifier_action = self._action(
            "&Delete classifier…", self.delete_classifier, name="deleteClassifier",
            tip=DELETE_TIP)
        for action in (self.new_classifier_action, self.rename_classifier_action,
                       self.delete_classifier_action):
            self.model_menu.addAction(action)
        self._classes = None   # the ClassesTrainer, made on the first Train

    def _shown_classifier(self):
        """The user's classifier the dataset list shows, or None (MNIST, Fashion-MNIST)."""
        dataset = self.dataset_selector.currentData()
        return find(dataset) if dataset and dataset not in DATASETS else None

    def _training_anything(self) -> bool:
        panel = self.training_panel
        return self._classes_training() or (panel is not None and panel.is_training())

    def _update_classifier_actions(self) -> None:
        """Rename and Delete act on the classifier shown, and wait while anything trains (a
        model being written into the folder they would rename or move)."""
        on = self._shown_classifier() is not None and not self._training_anything()
        self.rename_classifier_action.setEnabled(on)
        self.delete_classifier_action.setEnabled(on)

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
        keys = keys_text(class_keys(classifier.class_names))
        self.show_info(f"{classifier.title}: draw each class and keep it with its key ({keys}) "
                       "or its “This is…” button; about ten of each, then press Train in "
                       "My samples.")

    def rename_classifier(self) -> None:
        """Model ▸ Rename classifier…: a new title; the folders keep their name (nothing moves)."""
        classifier = self._shown_classifier()
        if classifier is None or self._training_anything():
            return
        from PySide6.QtWidgets import QInputDialog, QLineEdit  # (dialogs: not in the first frame)

        title, ok = QInputDialog.getText(
            self, "Rename classifier", f"New name for “{classifier.title}”:",
            QLineEdit.EchoMode.Normal, classifier.title)
        if not ok or title.strip() == classifier.title:
            return
        try:
            renamed = rename(classifier, title)
        except ClassifierError as exc:
            self.show_message(f"Not renamed: {exc}")
            return
        except WriteError as exc:
            self.show_message(f"{classifier.title} was not renamed: {exc}")
            return
        self._fill_dataset_selector()
        info = self.controller.model(renamed.name)
        if info is not None and not info.shipped and self.controller.dataset == renamed.name:
            self.controller.load_model_file(info.path)  # its name is made again, with the title
        self.show_info(f"“{classifier.title}” is now “{renamed.title}”.")

    def delete_classifier(self) -> None:
        """Model ▸ Delete classifier…: after a confirmation (Cancel is the default), its folder
        and its drawings' folder are moved to <home>/deleted/ (nothing is erased), and the
        canvas goes back to MNIST."""
        classifier = self._shown_classifier()
        if classifier is None or self._training_anything():
            return
        if not self._keep_trained_model(f"delete {classifier.title}"):
            return
        from PySide6.QtWidgets import QMessageBox  # (dialogs: not in the first frame)

        drawings = drawing_count(classifier)
        model = " and its trained model" if classifier.model_path.is_file() else ""
        question = QMessageBox(
            QMessageBox.Icon.Warning, "Delete classifier",
            f"Delete the classifier “{classifier.title}”: its {len(classifier.class_names)} "
            f"classes, the {drawings} drawing{'s' if drawings != 1 else ''} they hold{model}?\n\n"
            "They are moved to the “deleted” folder of your data, from where they can be put "
            "back by hand.", QMessageBox.StandardButton.Cancel, self)
        question.setObjectName("deleteClassifierQuestion")
        confirm = question.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        question.setDefaultButton(QMessageBox.StandardButton.Cancel)  # Enter deletes nothing
        question.exec()
        if question.clickedButton() is not confirm:
            return
        try:
            where = delete(classifier)
        except OSError as exc:   # WriteError: nothing moved, said why
            self.show_message(str(exc))
            return
        self.controller.set_dataset("mnist")
        self.controller.forget(classifier.name)   # one made again by that name starts afresh
        self._fill_dataset_selector()
        self._update_classifier_actions()
        # A notice, not a routine message: where the drawings went must be seen.
        self.show_notice(f"“{classifier.title}” was deleted: its folder and its drawings' "
                         f"folder were moved to {where}.")

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
        self._classes_trainer().start(classifier, self.personal.fine_tune.isChecked())

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
        self._update_classifier_actions()

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
