"""Export Keras models to LiteRT (``.tflite``) files for the window's process.

The window runs live inference with LiteRT (``training.lite_runtime``) so that it never imports
TensorFlow (issue #8); every saved ``.keras`` model gets a ``.tflite`` beside it, same stem.

TensorFlow and Keras are imported inside :func:`export_tflite` only: :func:`tflite_path` is used
by the window, which must stay free of them.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from training.atomic import atomic_path


def tflite_path(keras_path: str | os.PathLike) -> Path:
    """``models/mnist.keras`` -> ``models/mnist.tflite``."""
    return Path(keras_path).expanduser().with_suffix(".tflite")


def layers_tflite_path(keras_path: str | os.PathLike) -> Path:
    """``models/mnist.keras`` -> ``models/mnist.layers.tflite`` (every layer's output)."""
    return Path(keras_path).expanduser().with_suffix(".layers.tflite")


def export_tflite(model, path: str | os.PathLike) -> Path:
    """Write ``model`` as a float32 LiteRT model at ``path`` (atomically); returns the path.

    The batch dimension is left free (any batch size), so evaluation can run batches. Only
    LiteRT's built-in ops are allowed: a model that would need TensorFlow ("Flex") ops fails
    here, at export, rather than later in the window, whose runtime has no TensorFlow.
    Raises ``training.atomic.WriteError`` when the file cannot be written.
    """
    import tensorflow as tf

    path = Path(path).expanduser()
    # A mixed-precision model would export bfloat16 convolutions as Flex ops, which plain LiteRT
    # cannot run; its float32 twin computes the same function with built-in ops.
    runner = _float32_version(model)
    spec = tf.TensorSpec((None, *tuple(runner.inputs[0].shape)[1:]), tf.float32)
    # The exporter writes the temporary file (its name must end in .tflite); the context checks
    # it, fsyncs it and renames it over ``path``, or removes it on any failure.
    with atomic_path(path, suffix=".tflite") as temp, _quiet_absl():
        runner.export(str(temp), format="litert", verbose=False, input_signature=[spec],
                      target_spec={"supported_ops": {tf.lite.OpsSet.TFLITE_BUILTINS}})
    return path


def _float32_version(model):
    """The same model with every layer computing in float32 (a copy, if it used mixed precision)."""
    if not any(layer.dtype_policy.name.startswith("mixed") for layer in model.layers):
        return model
    try:
        config = json.loads(json.dumps(model.get_config()).replace('"mixed_bfloat16"', '"float32"')
                            .replace('"mixed_float16"', '"float32"'))
        copy = model.__class__.from_config(config)
        copy.set_weights(model.get_weights())
        return copy
    except Exception:  # an unusual model: keep its own precision rather than fail
        logging.getLogger(__name__).warning("float32 copy failed; using the model as it is",
                                            exc_info=True)
        return model


def export_layers_tflite(model, path: str | os.PathLike) -> Path:
    """Write a LiteRT model whose outputs are all of ``model``'s layers' outputs (for the
    window's "What each layer sees"); returns the path. Its last output is the model's own.

    Each output is named ``l<NN>_<layer class>_<activation>`` (``l00_Conv2D_relu``,
    ``l05_Dense_softmax``): LiteRT keeps those names in its signature, so the window knows each
    output's layer and order without TensorFlow (``training.activations``). Layers that do
    nothing at inference (Dropout, the input) are left out.
    """
    import keras

    runner = _float32_version(model)
    outputs: dict = {}
    for layer, kind, activation in _shown_layers(runner.layers):
        try:
            tensor = layer.output
        except (AttributeError, ValueError):  # a layer used more than once: no single output
            continue
        outputs[f"l{len(outputs):02d}_{kind}_{activation}"] = tensor
    final = runner.outputs[0]
    if not outputs or list(outputs.values())[-1] is not final:
        outputs[f"l{len(outputs):02d}_Output_none"] = final
    return export_tflite(keras.Model(runner.inputs, outputs), path)


def _shown_layers(layers) -> list:
    """(layer, kind, activation) for each layer the view shows, in order.

    A convolution followed by batch norm and then a ReLU (``vgg_cnn``) is one step for the
    user: it is shown once, as the ReLU's output, under the convolution's name; the raw
    convolution and the normalised-but-not-activated maps in between are left out."""
    layers = [layer for layer in layers if type(layer).__name__ not in _NOT_SHOWN]
    kinds = [type(layer).__name__ for layer in layers]
    shown, block = [], None
    for i, (layer, kind) in enumerate(zip(layers, kinds)):
        activation = getattr(getattr(layer, "activation", None), "__name__", "none")
        following = kinds[i + 1] if i + 1 < len(kinds) else None
        if kind in ("Conv2D", "Dense") and activation == "linear" \
                and following == "BatchNormalization":
            block = kind                    # shown at the end of its block
            continue
        if kind == "BatchNormalization" and block and following in ("ReLU", "Activation"):
            continue
        if kind in ("ReLU", "Activation") and block:
            name = "relu" if kind == "ReLU" else activation
            shown.append((layer, block, name))
            block = None
            continue
        block = None
        shown.append((layer, kind, activation))
    return shown


_NOT_SHOWN = {"InputLayer", "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
              "AlphaDropout", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom"}


class _quiet_absl:
    """The SavedModel step of the converter logs INFO/WARNING lines through absl; keep only
    errors for the export's duration."""

    def __enter__(self):
        try:
            from absl import logging as absl_logging
        except ImportError:  # absl comes with TensorFlow; without it there is nothing to quiet
            self._absl = None
            return self
        self._absl, self._level = absl_logging, absl_logging.get_verbosity()
        absl_logging.set_verbosity(absl_logging.ERROR)
        return self

    def __exit__(self, *exc):
        if self._absl is not None:
            self._absl.set_verbosity(self._level)
        return False


def convert_file(keras_path: str | os.PathLike, out: str | os.PathLike | None = None,
                 layers: bool = False) -> Path:
    """Load a ``.keras`` file (safely) and write its ``.tflite`` (default: beside it), or with
    ``layers`` its every-layer twin (default: ``<model>.layers.tflite``)."""
    from training.store import load_model

    loaded = load_model(keras_path)
    if layers:
        return export_layers_tflite(loaded.model, out or layers_tflite_path(loaded.path))
    return export_tflite(loaded.model, out or tflite_path(loaded.path))


def main(argv: list[str] | None = None) -> int:
    """``python -m training.export MODEL.keras [--out FILE.tflite] [--layers]``: what the window
    runs in a child process for a model that has no ``.tflite`` (or ``.layers.tflite``) yet."""
    import argparse
    import sys

    from training.atomic import WriteError, end_cleanly_on_sigterm
    from training.store import ModelLoadError

    end_cleanly_on_sigterm()  # ended by the window mid-write: no temporary left behind
    parser = argparse.ArgumentParser(prog="python -m training.export",
                                     description="Convert a .keras model for LiteRT.")
    parser.add_argument("model")
    parser.add_argument("--out", help="the .tflite to write (default: beside the model)")
    parser.add_argument("--layers", action="store_true",
                        help="write the model whose outputs are all layers' outputs "
                             "(default file: MODEL.layers.tflite)")
    args = parser.parse_args(argv)
    try:
        out = convert_file(args.model, args.out, layers=args.layers)
    except (ModelLoadError, WriteError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    raise SystemExit(main())
