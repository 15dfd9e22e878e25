"""Screenshots of the main window with every dock raised in turn, and of the teach dialog, at
several window sizes, in MNIST and Fashion-MNIST mode: the layout is checked by looking.

    xvfb-run -s "-screen 0 2600x1500x24" .venv/bin/python scripts/layout_screenshots.py OUT_DIR
    options: --sizes=1024x700,1400x900,2560x1440@2   (WxH in device pixels; @2 = QT_SCALE_FACTOR)
             --docs  (also write docs/layout-<size>.png, one view per size, and
                      docs/layout-1024x700-all.png, every dock in both modes at 1024×700)

Each size runs in its own process (the scale factor is read when Qt starts). Settings and user
data go to a temporary folder: the user's own are never read or changed. The test sets are read
from DRAW_CLASSIFY_DATA (else ../shared/data beside the repository, when present).

Files written, per size S (e.g. 1024x700 or 2560x1440-hidpi) and dataset D (mnist, fashion):
    OUT_DIR/S-D-<dock>.png   the window with that dock raised (samples, training, personal,
                             layers, compare); the training one shows a running epoch's
                             progress text (set on the bar, no training is run)
    OUT_DIR/S-D-layers-all.png  every layer panel of the layer view, whole (the dock scrolls)
    OUT_DIR/S-D-teach-running.png, S-D-teach.png  the teach dialog with a progress text, then
                             filled with a canned before → after result (nothing is taught)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = "1024x700,1400x900,2560x1440@2"
DOCKS = (("samples", "samples_dock"), ("training", "training_dock"),
         ("personal", "personal_dock"), ("layers", "layers_dock"),
         ("compare", "compare_dock"))


from screenshot import draw_stroke as stroke  # noqa: E402 - the same folder; one copy
from screenshot import wait  # noqa: E402


def line(a, b, steps=24):
    return [(round(a[0] + (b[0] - a[0]) * i / steps), round(a[1] + (b[1] - a[1]) * i / steps))
            for i in range(steps + 1)]


SEVEN = line((110, 90), (286, 90)) + line((286, 90), (180, 340))
SHIRT = (line((120, 80), (270, 80)) + line((270, 80), (330, 150)) + line((330, 150), (290, 180))
         + line((290, 180), (270, 330)) + line((270, 330), (120, 330))
         + line((120, 330), (100, 180)) + line((100, 180), (60, 150)) + line((60, 150), (120, 80)))

CANNED_TEACH = {
    "before": {"test_accuracy": 0.9912, "samples_accuracy": 0.3},
    "after": {"test_accuracy": 0.9907, "samples_accuracy_fit": 1.0},
    "cross_validation": {"held_out": True, "folds": 5, "base_correct": 3, "correct": 9},
    "samples": 10, "test_images": 10000, "seconds": {"total": 41.0},
    "confused_classes": ["7", "4"],
}


def shoot(size: str, out: Path) -> None:
    """One window size, in this process: every dock, both datasets, the teach dialog."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    from desktop_app.main_window import MainWindow
    from desktop_app.settings import AppSettings

    width, height = (int(v) for v in size.split("@")[0].split("x"))
    scale = float(os.environ.get("QT_SCALE_FACTOR", "1"))
    tag = size.split("@")[0] + ("-hidpi" if scale > 1 else "")
    temp = Path(tempfile.mkdtemp(prefix="layout-shots-"))
    settings = AppSettings(QSettings(str(temp / "settings.ini"), QSettings.Format.IniFormat))
    window = MainWindow(settings)
    window.resize(round(width / scale), round(height / scale))
    window.show()
    window.ensure_ready()
    wait(app, until=window.model_ready)
    for dataset, drawing in (("mnist", SEVEN), ("fashion_mnist", SHIRT)):
        if window.controller.dataset != dataset:
            window.dataset_selector.setCurrentIndex(window.dataset_selector.findData(dataset))
            wait(app, until=lambda: window.controller.model(dataset) is not None)
        window.canvas.clear()
        if dataset == "fashion_mnist":
            window.fill_action.setChecked(False)
        stroke(window.canvas, drawing)
        wait(app, until=lambda: window.prediction_label.text() != "Draw something", timeout=20)
        short = "mnist" if dataset == "mnist" else "fashion"
        for name, attribute in DOCKS:
            dock = getattr(window, attribute)
            window.show_dock(dock)
            wait(app, 0.3)
            if name == "samples":
                wait(app, until=lambda: len(window.samples.shown_labels()) == 25, timeout=20)
            elif name == "layers":
                wait(app, until=lambda: bool(window.layers_view.panels), timeout=30)
            elif name == "compare":
                wait(app, until=lambda: window.compare_view.comparisons > 0, timeout=30)
            wait(app, 0.8)
            if name == "training" and window.training_panel is not None:
                # The progress text of a running epoch (as the batch events write it).
                bar = window.training_panel.progress
                bar.setRange(0, 469)
                bar.setValue(120)
                bar.setFormat("Epoch 1/2 · batch %v/%m · ETA 0:42 · loss 0.3123 · "
                              "accuracy 91.2%")
                wait(app, 0.3)
            path = out / f"{tag}-{short}-{name}.png"
            window.grab().save(str(path))
            print(path, flush=True)
            if name == "layers" and window.layers_view.panels:
                from PySide6.QtWidgets import QScrollArea

                content = window.layers_view.findChild(QScrollArea).widget()
                content.grab().save(str(out / f"{tag}-{short}-layers-all.png"))
        dialog = window.teach_dialog()
        dialog.heading.setText(f"Teaching <b>{window.model_name.text()}</b> your "
                               f"{window.dataset_selector.currentText()} samples (10). The "
                               "model in use stays as it is until you keep the result.")
        dialog.progress.setRange(0, 40)
        dialog.progress.setValue(17)
        dialog.progress.setFormat("Measuring on held-out samples 3: step %v of %m · 12 s left")
        dialog.results.setText("")
        dialog.show()
        wait(app, 0.5)
        dialog.grab().save(str(out / f"{tag}-{short}-teach-running.png"))
        dialog._on_finished(CANNED_TEACH)
        wait(app, 0.5)
        path = out / f"{tag}-{short}-teach.png"
        dialog.grab().save(str(path))
        print(path, flush=True)
        dialog.hide()
    window.shutdown()
    window.hide()


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    options = dict(a[2:].split("=", 1) if "=" in a else (a[2:], "") for a in sys.argv[1:]
                   if a.startswith("--"))
    out = Path(args[0] if args else "layout-shots")
    out.mkdir(parents=True, exist_ok=True)
    if "one" in options:
        shoot(options["one"], out)
        return
    env = dict(os.environ)
    data = REPO.parent / "shared" / "data"
    if "DRAW_CLASSIFY_DATA" not in env and data.is_dir():
        env["DRAW_CLASSIFY_DATA"] = str(data)
    env["DRAW_CLASSIFY_HOME"] = tempfile.mkdtemp(prefix="layout-home-")
    for size in options.get("sizes", DEFAULT_SIZES).split(","):
        scale = size.split("@")[1] if "@" in size else "1"
        child_env = {**env, "QT_SCALE_FACTOR": scale}
        subprocess.run([sys.executable, __file__, str(out), f"--one={size}"], env=child_env,
                       check=True)
    if "docs" in options:
        summarise(out)


SUMMARY = {  # docs/layout-<size>.png: one telling view per size
    "1024x700": "fashion-training",        # the form, the progress text on two lines
    "1400x900": "fashion-compare",         # the models' boxes, whole titles
    "2560x1440-hidpi": "fashion-layers",   # scale factor 2
}


def summarise(out: Path) -> None:
    """The docs pictures: one view per size, and every dock and the teach dialog at
    1024×700 (the smallest size) side by side, at half size, in docs/layout-1024x700-all.png."""
    import shutil

    from PIL import Image

    docs = REPO / "docs"
    for tag, view in SUMMARY.items():
        source = out / f"{tag}-{view}.png"
        if source.exists():
            shutil.copy(source, docs / f"layout-{tag}.png")
    names = [f"1024x700-{d}-{n}.png" for d in ("mnist", "fashion") for n, _ in DOCKS]
    shots = [Image.open(out / n).convert("RGB") for n in names if (out / n).exists()]
    if not shots:
        return
    width, height = shots[0].width // 2, shots[0].height // 2
    sheet = Image.new("RGB", (5 * width + 4 * 8, 2 * height + 8), "white")
    for index, shot in enumerate(shots):
        row, column = divmod(index, 5)
        sheet.paste(shot.resize((width, height), Image.Resampling.LANCZOS),
                    (column * (width + 8), row * (height + 8)))
    sheet.save(docs / "layout-1024x700-all.png", optimize=True)


if __name__ == "__main__":
    main()
