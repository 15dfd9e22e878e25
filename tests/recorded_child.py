"""A training child that replays a real run instead of training: for window tests whose subject
is the window (Save / Discard / Cancel, Use this model, closing, the gallery), not TensorFlow.

Run as ``python tests/recorded_child.py train ... --progress json`` in place of
``python -m training train ...`` (the ``recorded_children`` fixture of conftest.py puts it in
``ChildJob.ENTRY``). It *is* the real command line — the same parser, options, JSON-lines
writer, stop requests on stdin, SIGTERM handling and error lines — with one part swapped: the
fitting and measuring of ``train`` are replaced by the lines and files of a real ``train`` run
recorded once per test session (``record_training``). What it writes is that run's, adjusted
to what was asked: the epochs (one recorded epoch's lines per epoch, paced like a small run),
the stop after the current batch, the config, the paths. ``describe`` answers from the shipped
summaries (resources/architectures.jsonl, which a slow test checks against ``describe``).

Anything else — another command, another dataset or architecture than the recording's, a data
folder without the dataset (a download) — runs the real command, TensorFlow and all.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

RECORDINGS_ENV = "DRAW_CLASSIFY_TEST_RECORDINGS"
RECORDED = dict(dataset="mnist", architecture="lecture_dense")
PACE_S = 0.05     # between two lines of a replayed epoch: a small real run's rhythm (~0.1 s/epoch)
STARTUP_S = 1.0   # describe: TensorFlow's import, the moment a Start may end it (a test does)
MEASURE_S = 0.75  # the twin, then the evaluation: kept a while before it is measured, as for real


def record_training(folder: Path, data_dir: Path) -> Path:
    """Run the real ``train`` child once (one epoch on ``data_dir``) and keep its lines and
    files in ``folder/train-<dataset>-<architecture>``; returns that folder."""
    target = folder / f"train-{RECORDED['dataset']}-{RECORDED['architecture']}"
    if (target / "lines.jsonl").is_file():
        return target
    work = folder / ".recording"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    command = [sys.executable, "-m", "training", "train", "--dataset", RECORDED["dataset"],
               "--architecture", RECORDED["architecture"], "--epochs", "1", "--batch-size", "32",
               "--validation-split", "0.1", "--data-dir", str(data_dir),
               "--out", str(work / "model.keras"), "--progress", "json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        raise RuntimeError(f"the run to record failed: {done.stderr[-2000:]}")
    (work / "lines.jsonl").write_text(done.stdout)
    (work / "stderr.txt").write_text(done.stderr)
    (work / "paths.json").write_text(json.dumps({"out": str(work / "model.keras"),
                                                 "data_dir": str(data_dir)}))
    work.rename(target)
    return target


TEACH_STEPS = 100_000  # a teaching run a test means to stop (or close) while it teaches


def record_teaching(folder: Path, data_dir: Path) -> Path:
    """Run the real ``teach`` child once on two samples of "3" (what the window tests store),
    stop it once it teaches (its first lines are the pictures being read), and keep its lines
    in ``folder/teach-mnist-stopped``."""
    import numpy as np

    from training.runtime.samples import SampleStore

    target = folder / "teach-mnist-stopped"
    if (target / "lines.jsonl").is_file():
        return target
    work = folder / ".recording-teach"
    shutil.rmtree(work, ignore_errors=True)
    store = SampleStore("mnist", root=work / "samples")
    for shift in (0, 2):
        three = np.zeros((28, 28), np.uint8)
        three[5:7, 8 + shift:20], three[13:15, 10:20], three[21:23, 8:20] = 255, 255, 255
        three[5:23, 18:20] = 255
        store.add(3, three)
    command = [sys.executable, "-m", "training", "teach", "--model", "mnist", "--dataset", "mnist",
               "--samples", str(work / "samples"), "--data-dir", str(data_dir),
               "--out", str(work / "taught.keras"), "--steps", str(TEACH_STEPS),
               "--cv-steps", "0", "--progress", "json"]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True,
                             cwd=Path(__file__).resolve().parents[1])
    lines = []
    for line in child.stdout:
        lines.append(line)
        teaching = (line.startswith('{"event": "batch"')
                    and json.loads(line).get("phase") == "final")  # past reading the pictures
        if teaching and len(lines) > 4 and child.stdin:
            child.stdin.write("stop\n")
            child.stdin.close()
            child.stdin = None
    if child.wait(timeout=600) != 130 or '"stopped"' not in lines[-1]:
        raise RuntimeError(f"the teaching run to record did not stop as asked: {lines[-1:]}")
    (work / "lines.jsonl").write_text("".join(lines))
    (work / "counts.json").write_text(json.dumps(store.counts()))
    work.rename(target)
    return target


# ------------------------------------------------------------------------- the replay
def _replayed_train(real_train):
    def run(args, protocol):
        from training.cli.train_command import _train_config

        config = _train_config(args)
        recording = Path(os.environ.get(RECORDINGS_ENV, "-")) / (
            f"train-{config.dataset}-{config.architecture}")
        if protocol is None or not (recording / "lines.jsonl").is_file() \
                or not _has_dataset(config):
            return real_train(args, protocol)
        return _replay(recording, config, Path(args.out), protocol)
    return run


def _has_dataset(config) -> bool:
    from training.core.datasets import DATASETS

    folder = Path(config.data_dir or "-")
    return any((folder / name).is_dir() for name in DATASETS[config.dataset].folder_names)


def _replay(recording: Path, config, out: Path, protocol) -> int:
    from training.cli.plumbing import StopRequests

    messages = _recorded_messages(recording, config, out)
    begin = [m for m in messages if m.event in ("train_begin", "download", "warning")]
    one_epoch = [m for m in messages if m.event == "batch"]
    epoch_line = next(m for m in messages if m.event == "epoch")
    for message in begin:
        protocol.write(_with(message, epochs=config.epochs))
    stop = StopRequests(protocol)
    stop.listen_on_stdin()
    completed = 0
    for epoch in range(1, config.epochs + 1):
        for batch in one_epoch:
            time.sleep(PACE_S)
            protocol.write(_with(batch, epoch=epoch, epochs=config.epochs))
            last_of_epoch = batch is one_epoch[-1]
            if stop() and not last_of_epoch:
                break
        else:
            protocol.write(_with(epoch_line, epoch=epoch, epochs=config.epochs))
            completed = epoch
        if stop():
            break
    status = "stopped" if completed < config.epochs else "finished"
    return _keep_and_measure(recording, messages, config, out, protocol, status, completed)


def _keep_and_measure(recording, messages, config, out, protocol, status, completed) -> int:
    """The recorded files at ``out`` (sidecar first, as the real run keeps them), then the
    recorded ``saved`` … ``result`` lines with this run's status, epochs and history."""
    from training.core.atomic import write_bytes, write_text
    from training.modelfile.sidecar import read_metadata, sidecar_path, tflite_path
    sidecar = json.loads((recording / "model.json").read_text())
    history = {key: values[:1] * completed for key, values in sidecar["history"].items()}
    sidecar.update(config=config.to_dict(), status=status, epochs_completed=completed,
                   history=history, model_file=out.name)
    write_bytes(out, (recording / "model.keras").read_bytes())
    write_text(sidecar_path(out), json.dumps(sidecar, indent=2))
    changes = dict(status=status, epochs_completed=completed, history=history,
                   config=config.to_dict(), metadata=read_metadata(out))
    for message in messages[messages.index(_first(messages, "saved")):]:
        if message.event == "evaluate_begin":  # the twin comes between the two (see train)
            time.sleep(MEASURE_S)
            write_bytes(tflite_path(out), tflite_path(recording / "model.keras").read_bytes())
        elif message.event == "train_end":
            time.sleep(MEASURE_S)
        fields = {f.name for f in dataclasses.fields(message)}
        protocol.write(_with(message, **{k: v for k, v in changes.items() if k in fields}))
    return 0


def _recorded_messages(recording: Path, config, out: Path) -> list:
    from training.protocol.messages import decode

    text = (recording / "lines.jsonl").read_text()
    recorded = json.loads((recording / "paths.json").read_text())
    # The recorded run's out and data folder become this run's (JSON leaves "/" as it is).
    text = text.replace(recorded["out"], str(out)).replace(recorded["data_dir"],
                                                           str(config.data_dir))
    return [m for m in map(decode, text.splitlines()) if m is not None]


def _first(messages, event):
    return next(m for m in messages if m.event == event)


def _with(message, **changes):
    return dataclasses.replace(message, **{k: v for k, v in changes.items()
                                           if hasattr(message, k)})


# ------------------------------------------------------------------------- describe
def _shipped_describe(real_describe):
    def run(args, protocol):
        from training.protocol.messages import DescribeResult, Summary, decode
        from training.protocol.summaries import summaries_path

        shipped = [m for m in map(decode, summaries_path().read_text().splitlines())
                   if isinstance(m, Summary) and bool(m.dropout) == bool(args.dropout)
                   and args.architecture in ("all", m.architecture)]
        if protocol is None or not shipped:
            return real_describe(args, protocol)
        time.sleep(STARTUP_S)
        for summary in shipped:
            time.sleep(PACE_S)
            protocol.write(dataclasses.replace(summary, dropout=args.dropout))
        protocol.write(DescribeResult(count=len(shipped)))
        return 0
    return run


# ------------------------------------------------------------------------- teach
def _replayed_teaching(real_teach):
    """The teaching engine, replayed for a run the test will stop: the same samples per class,
    no cross-validation, the recorded number of steps, the shipped MNIST model."""
    def run(base, samples, dataset, target, data_dir, progress, should_stop, seed, settings):
        from training.cli.plumbing import JsonLines
        from training.modelfile.sidecar import shipped_model_path
        from training.runtime.samples import SampleStore

        recording = Path(os.environ.get(RECORDINGS_ENV, "-")) / "teach-mnist-stopped"
        if not (isinstance(progress, JsonLines) and (recording / "lines.jsonl").is_file()
                and settings.cv_steps == 0 and settings.steps == TEACH_STEPS
                and dataset == "mnist" and Path(base) == shipped_model_path("mnist")
                and SampleStore(dataset, root=samples).counts()
                == json.loads((recording / "counts.json").read_text())):
            return real_teach(base, samples, dataset, target, data_dir, progress=progress,
                              should_stop=should_stop, seed=seed, settings=settings)
        return _replay_teaching(recording, progress, should_stop)
    return run


def _replay_teaching(recording: Path, progress, should_stop) -> dict:
    from training.protocol.messages import TeachBatch, decode

    messages = [m for m in map(decode, (recording / "lines.jsonl").read_text().splitlines())
                if m is not None]
    steps = [m for m in messages if isinstance(m, TeachBatch)]
    for message in messages[:messages.index(steps[0])]:
        progress.write(message)
    step = 0
    while not should_stop():
        time.sleep(PACE_S)
        step += 1
        progress.write(_with(steps[(step - 1) % len(steps)], step=step, batch=step))
    result = messages[-1].to_dict()
    result.pop("event")
    return result


def main(argv: list[str]) -> int:
    from training.cli import file_commands, main as cli, teach, train_command

    train_command._train = _replayed_train(train_command._train)
    file_commands._describe = _shipped_describe(file_commands._describe)
    teach.teach = _replayed_teaching(teach.teach)
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
