"""Model ▸ Export… (issue #10, part 5): .keras, .tflite and ONNX with a JSON describing the
input; the exported files give the .keras model's classes; a failed export leaves nothing
half-written."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import TIMEOUT

from training.core.atomic import WriteError
from training.learn import export_all as export_module
from training.modelfile.sidecar import (
    SHIPPED_MODELS,
    file_sha256,
    read_metadata,
    shipped_model_path,
)
from training.runtime import preprocess

ROUND_TRIP_IMAGES = 1000


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    return {name: export_module.export_all(name, out) for name in SHIPPED_MODELS}, out


@pytest.mark.slow
def test_four_files_with_their_description(exported):
    files, out = exported
    for name, paths in files.items():
        assert [p.name for p in paths] == [f"{name}{s}" for s in (".keras", ".tflite", ".onnx",
                                                                  ".json")]
        info = json.loads((out / f"{name}.json").read_text())
        meta = read_metadata(shipped_model_path(name))
        assert info["dataset"] == name and info["class_names"] == meta["class_names"]
        assert info["input"]["shape"] == [None, 28, 28, 1]
        assert info["input"]["range"] == [0.0, 1.0] and "ink bright" in info["input"]["polarity"]
        assert info["output"]["temperature"] == meta["temperature"]
        for kind in ("keras", "tflite", "onnx"):
            entry = info["files"][kind]
            assert entry["sha256"] == file_sha256(out / entry["file"])
        assert info["files"]["keras"]["sha256"] == file_sha256(shipped_model_path(name))
        assert info["files"]["onnx"]["inputs"][0]["shape"] == [None, 28, 28, 1]
    # The preprocessing facts are preprocess.py's own, not a copy that could drift.
    digits = json.loads((out / "mnist.json").read_text())["input"]["preprocessing"]
    assert digits["box"] == preprocess.DIGIT_BOX
    assert digits["centre_of_mass"] == [preprocess.DIGIT_CENTRE] * 2
    clothes = json.loads((out / "fashion_mnist.json").read_text())["input"]["preprocessing"]
    assert clothes["box"] == 28 and clothes["centre_of_mass"] is None
    assert "20x20" in digits["summary"] and "no 20x20" in clothes["summary"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED_MODELS)
def test_tflite_and_onnx_give_the_keras_models_classes(name, exported, shared_data):
    import onnxruntime

    from training.core.datasets import load_dataset
    from training.learn.saving import load_model
    from training.learn.trainer import predict_probabilities
    from training.runtime.lite import LiteModel

    _, out = exported
    images = load_dataset(name, shared_data, allow_download=False).x_test[:ROUND_TRIP_IMAGES]
    keras_classes = predict_probabilities(load_model(out / f"{name}.keras").model,
                                          images).argmax(axis=1)
    lite_classes = LiteModel(out / f"{name}.tflite").predict_batch(images).argmax(axis=1)
    session = onnxruntime.InferenceSession(str(out / f"{name}.onnx"))
    feed = {session.get_inputs()[0].name: (images.astype(np.float32) / 255)[..., None]}
    onnx_probabilities = session.run(None, feed)[0]
    assert onnx_probabilities.shape == (ROUND_TRIP_IMAGES, 10)
    assert np.allclose(onnx_probabilities.sum(axis=1), 1, atol=1e-4)
    assert np.array_equal(lite_classes, keras_classes)
    assert np.array_equal(onnx_probabilities.argmax(axis=1), keras_classes)


def old_export(out):
    out.mkdir(exist_ok=True)
    old = {s: f"previous export {s}".encode() for s in export_module.SUFFIXES}
    for suffix, content in old.items():
        (out / f"mnist{suffix}").write_bytes(content)
    return old


def assert_untouched(out, old):
    assert sorted(p.name for p in out.iterdir()) == sorted(f"mnist{s}" for s in old)
    for suffix, content in old.items():
        assert (out / f"mnist{suffix}").read_bytes() == content


@pytest.mark.slow
def test_a_failed_conversion_leaves_the_previous_export_and_no_temporary(tmp_path,
                                                                        monkeypatch):
    out = tmp_path / "out"
    old = old_export(out)

    def broken(model, path):
        path.write_bytes(b"half an onnx")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_module, "_export_onnx", broken)
    with pytest.raises(WriteError, match="the disk is full"):
        export_module.export_all("mnist", out)
    assert_untouched(out, old)


@pytest.mark.slow
def test_a_rename_failing_halfway_puts_everything_back(tmp_path, monkeypatch):
    out = tmp_path / "out"
    old = old_export(out)
    real_replace = os.replace
    failed = []

    def replace(src, dst):  # the new .onnx fails to move in, once (.keras, .tflite are in)
        if str(dst).endswith("mnist.onnx") and str(src).endswith(".partial.onnx") \
                and not failed:
            failed.append(src)
            raise OSError(5, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(export_module.os, "replace", replace)
    with pytest.raises(WriteError, match="Input/output error"):
        export_module.export_all("mnist", out)
    assert failed
    assert_untouched(out, old)


@pytest.mark.slow
def test_an_unusable_folder_is_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "_export_onnx",
                        lambda *a: pytest.fail("converted before checking the folder"))
    target = tmp_path / "a file"
    target.write_text("not a folder")
    with pytest.raises(WriteError):
        export_module.export_all("mnist", target)
    assert target.read_text() == "not a folder"
    out = tmp_path / "out"
    (out / "mnist.onnx").mkdir(parents=True)  # one of the names is taken by a folder
    with pytest.raises(WriteError, match="is a folder"):
        export_module.export_all("mnist", out)
    assert [p.name for p in out.iterdir()] == ["mnist.onnx"]


@pytest.mark.slow
def test_the_command_line_prints_the_files(tmp_path):
    from cli_runner import run_main

    out = tmp_path / "phone"
    done = run_main("export-all", "--model", "fashion_mnist", "--out", out, "--name", "clothes")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(out / f"clothes{s}") for s in export_module.SUFFIXES]
    bad = run_main("export-all", "--model", "mnist", "--out", out / "clothes.json")
    assert bad.returncode == 2 and bad.stderr.startswith("error:")


@pytest.mark.slow
def test_model_export_in_the_window_asks_for_a_folder_and_writes_the_files_there(
        qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    out = tmp_path / "exported"
    out.mkdir()
    asked = []

    def choose_folder(parent, caption, start, *args, **kwargs):
        asked.append(caption)
        return str(out)

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", choose_folder)
    monkeypatch.chdir(tmp_path)   # a folder named "False" would appear here (issue #20)
    action = window.findChild(type(window.export_action), "exportModel")
    assert action in window.model_menu.actions()
    action.trigger()              # as the menu fires it: triggered(checked=False)
    assert asked == ["Export the model into a folder"]
    qtbot.waitUntil(lambda: "Exported to" in window.statusBar().currentMessage(),
                    timeout=TIMEOUT * 3)
    assert str(out) in window.statusBar().currentMessage()
    assert sorted(p.name for p in out.iterdir()) == sorted(f"mnist{s}" for s in
                                                           export_module.SUFFIXES)
    assert not (tmp_path / "False").exists()
    assert window.settings.export_folder() == str(out)   # the next export starts there


def test_a_cancelled_export_dialog_writes_nothing(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: "")
    monkeypatch.chdir(tmp_path)
    window.findChild(type(window.export_action), "exportModel").trigger()
    assert window._exporter is None or not window._exporter.is_running()
    assert not (tmp_path / "False").exists()
    assert "Exporting" not in window.statusBar().currentMessage()
