"""``python -m training tune``: measure the fastest training settings for this CPU, and cache them.

The first training run of a model measures its precision, XLA and batches per call by itself
(training/learn/tuning.py); this command measures them again for the presets' models at once,
and also what a run cannot measure: whether TensorFlow runs oneDNN's kernels (fixed as it
loads) and its thread counts (fixed before its first operation). So each of these is timed in
a child process (this same command with ``--threads I,J --no-save`` and TF_ENABLE_ONEDNN_OPTS
set), and the models are then measured here with the fastest.

    python -m training tune                          # the presets' models, threads first
    python -m training tune --architecture compact_cnn --batch-size 128 --json
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import replace

from training.cli.plumbing import JsonLines
from training.core import speed_cache
from training.core.cpu import cpu_line
from training.core.datasets import DATASETS, dataset_title
from training.learn import tuning
from training.protocol.config import ARCHITECTURES
from training.protocol.messages import TuneResult, decode, speed_text
from training.protocol.presets import PRESETS, preset_config, preset_values

THREAD_PROBE = ("compact_cnn", 128)  # the quick preset's MNIST model: times the thread choices


def add_parsers(sub) -> None:
    tune = sub.add_parser("tune", help="measure the fastest training settings for this CPU "
                                       "(precision, XLA, batches per call, threads) and cache "
                                       "them for later runs")
    tune.add_argument("--architecture", choices=[*ARCHITECTURES, "all"],
                      help="one model (default: the models of every preset)")
    tune.add_argument("--batch-size", type=int, default=None,
                      help="with --architecture: its batch size (default 128)")
    tune.add_argument("--threads", type=_thread_pair, default=None, metavar="INTRA,INTER",
                      help="measure with these thread counts instead of searching them")
    tune.add_argument("--save", action=argparse.BooleanOptionalAction, default=True,
                      help="keep what is measured for later runs (default: on)")
    tune.add_argument("--json", action="store_true",
                      help="one JSON result line on stdout instead of the table")
    tune.set_defaults(run=_tune, measures_onednn=True)  # main() leaves oneDNN to it


def _tune(args, protocol: JsonLines | None) -> int:
    from training.cli.plumbing import import_keras_quietly

    pairs = _models(args)
    say = (lambda text: None) if protocol else (lambda text: print(text, file=sys.stderr,
                                                                   flush=True))
    say(cpu_line())
    if args.threads is not None:  # a probe (or a choice given): oneDNN as the environment says
        threads, measured, onednn = args.threads, {}, tuning.onednn_choice()
    else:
        onednn = _measure_onednn(say, args.save)
        say("threads: timing each choice in a child process (about 10 s each)...")
        measured = {pair: _probe_threads(pair, onednn) for pair in tuning.thread_candidates()}
        threads = tuning.pick_threads(measured)
        if args.save:
            _warn(say, tuning.save_threads(threads, measured))
        for (intra, inter), speed in measured.items():
            say(f"  intra {intra or 'default'}, inter {inter or 'default'}: "
                f"{speed:,.0f} pictures/s")
    tuning.apply_onednn(onednn)  # before TensorFlow loads, as main() does for other commands
    import_keras_quietly()  # TensorFlow's start-up lines filtered (the pools are not sized yet)
    note = tuning.apply_threads(*threads)
    _warn(say, note)
    results = []
    for architecture, batch_size in pairs:
        best, trials = tuning.tune_model(architecture, batch_size, save=args.save)
        _warn(say, best.note)
        best = replace(best, intra_threads=threads[0], inter_threads=threads[1],
                       onednn=tuning.onednn_in_use(), note="")
        say(f"{architecture}, batch {batch_size}: {speed_text(best.to_dict())}; "
            f"{best.images_per_second:,.0f} pictures/s ({best.seconds:.1f} s to measure)")
        results.append({"architecture": architecture, "batch_size": batch_size,
                        "speed": best.to_dict(), "trials": [t.__dict__ for t in trials]})
    result = TuneResult(cpu=cpu_line(), tensorflow=speed_cache.tensorflow_version(),
                        threads={"intra": threads[0], "inter": threads[1], "measured": [
                            {"intra": i, "inter": j, "images_per_second": round(v, 1)}
                            for (i, j), v in measured.items()]},
                        models=results)
    if protocol is not None:
        protocol.write(result)
    elif args.save:
        say(f"kept in {speed_cache.cache_path()}")
        if not args.architecture:
            say_preset_times(say)
    return 0


def say_preset_times(say) -> None:
    """How long each preset trains here, as the training panel says it before Start."""
    say("Training time of each preset on this CPU:")
    for preset in PRESETS.values():
        for dataset in DATASETS:
            guess = speed_cache.run_estimate(preset_config(preset.name, dataset))
            time = (f"about {speed_cache.spoken_duration(guess.seconds)}" if guess
                    else "not measured")
            say(f"  {preset.title}, {dataset_title(dataset)}: {time}")


def _models(args) -> list[tuple[str, int]]:
    """(architecture, batch size) pairs to measure."""
    if args.architecture and args.architecture != "all":
        return [(args.architecture, args.batch_size or 128)]
    if args.architecture == "all":
        return [(name, args.batch_size or 128) for name in ARCHITECTURES]
    pairs = []
    for preset in PRESETS.values():
        for dataset in ("mnist", "fashion_mnist"):
            values = preset_values(preset.name, dataset)
            pairs.append((values["architecture"], args.batch_size or values["batch_size"]))
    return list(dict.fromkeys(pairs))


def _measure_onednn(say, save: bool) -> bool | None:
    """oneDNN on or off, each timed in a child with TensorFlow's thread counts; the choice
    (kept unless ``save`` is off), or the environment's when the user set it there."""
    if tuning.ONEDNN_ENV_VAR in os.environ:
        say(f"oneDNN: as {tuning.ONEDNN_ENV_VAR} sets it (not measured)")
        return None
    say("oneDNN: timing its kernels and TensorFlow's default ones in a child process each...")
    measured = {on: _probe_threads((0, 0), on) for on in (True, False)}
    choice = tuning.pick_onednn(measured)
    if save:
        _warn(say, tuning.save_onednn(choice, measured))
    say(f"  oneDNN on: {measured[True]:,.0f}, off: {measured[False]:,.0f} pictures/s: "
        f"{'on' if choice else 'off'}")
    return choice


def _probe_threads(pair: tuple[int, int], onednn: bool | None = None) -> float:
    """Pictures per second of the probe model with these threads (and oneDNN on or off;
    None: as this process's environment says), measured in a child (both are fixed for a
    process's life); 0 when the child fails."""
    architecture, batch_size = THREAD_PROBE
    command = [sys.executable, "-m", "training", "tune", "--architecture", architecture,
               "--batch-size", str(batch_size), "--threads", f"{pair[0]},{pair[1]}",
               "--no-save", "--json"]
    env = dict(os.environ)
    if onednn is not None:
        env[tuning.ONEDNN_ENV_VAR] = "1" if onednn else "0"
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    for line in done.stdout.splitlines():
        message = decode(line)
        if isinstance(message, TuneResult) and message.models:
            return float(message.models[0]["speed"]["images_per_second"] or 0.0)
    return 0.0


def _thread_pair(text: str) -> tuple[int, int]:
    try:
        intra, inter = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("expected two counts, e.g. 2,1 (0: TensorFlow's "
                                         "default)") from None
    if not (0 <= intra <= 1024 and 0 <= inter <= 1024):
        raise argparse.ArgumentTypeError("thread counts go from 0 (default) to 1024")
    return intra, inter


def _warn(say, note: str) -> None:
    if note:
        say(f"warning: {note}")

