"""The child protocol (training/protocol/messages.py): one typed message per event, one codec."""

import json

import pytest

from training.protocol import messages as m

# One line per message type, as the commands write it today (field names, values, order).
LINES = {
    m.Download: {"event": "download", "file": "t10k-labels-idx1-ubyte.gz", "done": 10,
                 "total": 20},
    m.WarningMessage: {"event": "warning", "message": "only 1 class"},
    m.Error: {"event": "error", "message": "invalid epochs"},
    m.TrainBegin: {"event": "train_begin", "epochs": 2, "steps": 10, "train_samples": 270,
                   "val_samples": 30, "source": "/data", "steps_per_execution": 8,
                   "strategy": "default", "replicas": 1, "devices": "CPU",
                   "speed": {"precision": "float32", "jit_compile": False,
                             "steps_per_execution": 8, "intra_threads": 0, "inter_threads": 0,
                             "source": "cached", "images_per_second": 9000.0, "seconds": 0.1,
                             "note": ""}},
    m.Tuning: {"event": "tuning", "architecture": "compact_cnn", "batch_size": 128},
    m.Batch: {"event": "batch", "epoch": 1, "epochs": 2, "batch": 3, "steps": 10, "loss": 0.5,
              "accuracy": 0.75, "eta_seconds": 4.0},
    m.TeachBatch: {"event": "batch", "phase": "final", "fold": None, "step": 2, "steps": 9,
                   "batch": 2, "epoch": 1, "epochs": 1, "loss": None, "accuracy": 1.0,
                   "eta_seconds": 1.5},
    m.Epoch: {"event": "epoch", "epoch": 1, "epochs": 2, "seconds": 1.5, "loss": 0.4,
              "accuracy": 0.8, "val_loss": 0.5, "val_accuracy": 0.7},
    m.Saved: {"event": "saved", "status": "finished", "path": "/runs/m.keras",
              "epochs_completed": 2, "train_seconds": 3.0, "history": {"loss": [1.0, 0.5]},
              "dataset": "mnist", "architecture": "lecture_dense", "config": {"epochs": 2},
              "class_names": ["0", "1"], "metadata": {"status": "finished"},
              "saved_where_asked": False, "message": "kept in the recovery folder"},
    m.EvaluateBegin: {"event": "evaluate_begin", "model": "base", "samples": 100},
    m.TrainEnd: {"event": "train_end", "status": "stopped", "test_accuracy": 0.5,
                 "test_loss": None, "epochs_completed": 1, "train_seconds": 2.0},
    m.CalibrateBegin: {"event": "calibrate_begin", "held_out": "validation", "images": 30},
    m.OodBegin: {"event": "ood_begin"},
    m.CalibrateEnd: {"event": "calibrate_end", "temperature": 1.2, "ece_before": 0.1,
                     "ece_after": 0.05},
    m.TeachBegin: {"event": "teach_begin", "samples": 6, "per_class": {"1": 6}, "folds": 3,
                   "cv_steps": 2, "steps": 8, "final_steps": 2, "skipped": 0, "source": "/d",
                   "base_model": "/m.keras"},
    m.FoldEnd: {"event": "fold_end", "fold": 1, "folds": 3, "held_out": 2, "correct": 1},
    m.TeachEnd: {"event": "teach_end", "status": "finished", "test_accuracy": 0.9,
                 "path": "/t.keras"},
    m.Summary: {"event": "summary", "architecture": "compact_cnn", "dropout": 0.5,
                "name": "compact_cnn", "layers": [{"type": "Dense"}], "parameters": 10,
                "text": "compact_cnn\n..."},
    m.TrainResult: {"event": "result", "status": "finished", "epochs_completed": 2,
                    "train_seconds": 3.0, "test_accuracy": 0.9, "test_loss": 0.3,
                    "history": {"loss": [1.0]}, "confusion": [[1, 0], [0, 1]],
                    "class_names": ["0", "1"], "dataset": "mnist",
                    "architecture": "lecture_dense", "config": {}, "source": "/d",
                    "path": "/m.keras", "metadata": {}, "misclassified": [4],
                    "misclassified_predicted": [1], "mistakes": 1},
    m.TeachResult: {"event": "result", "status": "finished", "dataset": "mnist", "samples": 6,
                    "per_class": {"1": 6}, "skipped": [], "test_images": 100,
                    "before": {}, "after": {}, "cross_validation": {"folds": 0},
                    "confused_classes": [], "settings": {}, "seed": 0,
                    "seconds": {"total": 3.0}, "path": "/t.keras", "calibration": None},
    m.ClassesResult: {"event": "result", "status": "finished", "dataset": "letters",
                      "class_names": ["A", "B"], "folder": "/l", "samples": 4,
                      "per_class": {"A": 2, "B": 2}, "cross_validation": {"folds": 2},
                      "fit_accuracy": 1.0, "settings": {}, "seed": 0,
                      "seconds": {"total": 9.0}, "path": "/l.keras"},
    m.DownloadResult: {"event": "result", "dataset": "mnist", "source": "/d",
                       "train_images": 300, "test_images": 100},
    m.DescribeResult: {"event": "result", "count": 6},
    m.ExportResult: {"event": "result", "files": ["/o/m.keras", "/o/m.tflite"]},
    m.ConvertResult: {"event": "result", "path": "/c/m.tflite"},
    m.TuneResult: {"event": "result", "cpu": "CPU: X, 2 cores", "tensorflow": "2.21.0",
                   "threads": {"intra": 0, "inter": 0, "measured": []},
                   "models": [{"architecture": "lecture_dense", "batch_size": 32}]},
}


def test_every_message_type_has_an_example():
    assert set(LINES) == set(m.MESSAGE_TYPES)


@pytest.mark.parametrize("kind", list(LINES), ids=lambda kind: kind.__name__)
def test_every_message_round_trips_unchanged(kind):
    line = json.dumps(LINES[kind])
    message = m.decode(line)
    assert type(message) is kind
    assert m.encode(message) == line  # the same names, values and order on the wire
    assert m.decode(m.encode(message)) == message


def test_left_out_is_not_null():
    """A field left out stays out; a null stays null (a final teaching step has fold null)."""
    stopped = m.decode('{"event": "result", "status": "stopped", "seconds": {"total": 1}}')
    assert type(stopped) is m.TeachResult and stopped.path is m.ABSENT
    assert json.loads(m.encode(stopped)) == {"event": "result", "status": "stopped",
                                             "seconds": {"total": 1}}
    begin = m.EvaluateBegin(samples=5)
    assert m.encode(begin) == '{"event": "evaluate_begin", "samples": 5}'
    assert m.decode(json.dumps(LINES[m.TeachBatch])).fold is None
    assert begin.get("model", "none") == "none" and begin.get("samples") == 5


def test_fields_a_newer_child_adds_are_kept():
    line = json.dumps({**LINES[m.OodBegin], "pictures": 12})
    message = m.decode(line)
    assert type(message) is m.OodBegin and message.extra == {"pictures": 12}
    assert m.encode(message) == line


@pytest.mark.parametrize("line", [
    "Epoch 1/2 loading...", "", "[1, 2]", '"text"', "{broken", '{"no_event": 1}',
    '{"event": 7}', '{"event": "hello", "x": 1}', '{"event": "batch", "epoch": 1}',
    '{"event": "result"}', "{" * 10000])
def test_a_stray_line_decodes_to_none(line):
    assert m.decode(line) is None


def test_the_child_writes_at_most_10_batch_lines_a_second(monkeypatch):
    """The one rate limit of batch (and download) lines, in the child's writer; the last batch
    of an epoch always goes out. (A fake clock: no timing in the test.)"""
    import io

    from training.cli import plumbing

    clock = [1000.0]
    monkeypatch.setattr(plumbing.time, "monotonic", lambda: clock[0])
    out = io.StringIO()
    lines = plumbing.JsonLines(out)
    for batch in range(1, 11):  # 10 batches in 0.09 s
        lines({**LINES[m.Batch], "batch": batch, "steps": 10})
        clock[0] += 0.01
    clock[0] += 0.1
    lines(m.Download(file="f", done=1, total=5))
    lines(m.Download(file="f", done=2, total=5))     # too soon
    lines(m.Download(file="f", done=5, total=5))     # the end of the file
    lines(m.Epoch(epoch=1, epochs=2, seconds=1.0))   # never limited
    written = [m.decode(line) for line in out.getvalue().splitlines()]
    assert [(type(x).__name__, x.get("batch") or x.get("done")) for x in written] == [
        ("Batch", 1), ("Batch", 10), ("Download", 1), ("Download", 5), ("Epoch", None)]


@pytest.mark.slow
def test_a_real_training_run_decodes_fully(child_recordings):
    """Every line a real `python -m training train --progress json` writes is a typed message
    (and encodes back to the very same JSON): the run the window tests replay, recorded from
    the real child this session (tests/recorded_child.py)."""
    recording = next(child_recordings.glob("train-*"))
    lines = (recording / "lines.jsonl").read_text().splitlines()
    decoded = [m.decode(line) for line in lines]
    assert None not in decoded, [line for line, msg in zip(lines, decoded) if msg is None]
    assert [m.encode(msg) for msg in decoded] == lines
    kinds = [type(msg) for msg in decoded]
    for kind in (m.TrainBegin, m.Batch, m.Epoch, m.Saved, m.EvaluateBegin, m.TrainEnd):
        assert kind in kinds, kind
    out = json.loads((recording / "paths.json").read_text())["out"]
    assert kinds[-1] is m.TrainResult and decoded[-1].path == out
    stderr = (recording / "stderr.txt").read_text()
    assert "protocol:" not in stderr  # no event the codec did not know was dropped
