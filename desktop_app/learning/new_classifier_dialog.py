"""NewClassifierDialog: Model ▸ New classifier… asks for a name and 2–36 class names, and makes
the classifier (training.core.classifiers.create). A mistake is said in the dialog, which stays
open with what was typed."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
)

from training.core.atomic import WriteError
from training.core.classifiers import (
    MAX_CLASSES,
    MIN_CLASSES,
    Classifier,
    ClassifierError,
    create,
    parse_class_names,
)


class NewClassifierDialog(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("New classifier")
        self.setObjectName("newClassifierDialog")
        self.created: Classifier | None = None
        self.title = QLineEdit(objectName="classifierName")
        self.title.setPlaceholderText("e.g. Shapes")
        self.classes = QLineEdit(objectName="classifierClasses")
        self.classes.setPlaceholderText("e.g. star, heart, house, cat — or A-Z")
        self.classes.textChanged.connect(self._preview)
        self.preview = QLabel(objectName="classifierPreview")
        self.preview.setWordWrap(True)
        self.error = QLabel(objectName="classifierError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b00020")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Name", self.title)
        form.addRow("Classes", self.classes)
        intro = QLabel(f"Teach it {MIN_CLASSES} to {MAX_CLASSES} classes of your own: then draw "
                       "about ten examples of each, keep them in My samples, and press Train.")
        intro.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.preview)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(460, self.sizeHint().height())

    def _preview(self, text: str) -> None:
        try:
            names = parse_class_names(text)
        except ClassifierError:
            self.preview.setText("")
            return
        self.preview.setText(f"{len(names)} classes: {', '.join(names)}")

    def accept(self) -> None:
        try:
            self.created = create(self.title.text(), self.classes.text())
        except (ClassifierError, WriteError) as exc:
            self.error.setText(str(exc))
            return
        super().accept()
