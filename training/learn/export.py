"""Export Keras models to LiteRT (``.tflite``) files for the window's process.

The window runs live inference with LiteRT (``training.runtime.lite``) so that it never imports
TensorFlow (issue #8); every saved ``.keras`` model gets a ``.tflite`` beside it, same stem.

TensorFlow and Keras are imported inside :func:`export_tflite` only: :func:`tflite_path` is used
by the window, which must stay free of them.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path


def export_tflite(model, path: str | os.PathLike) -> Path:
    """Write ``model`` as a float32 LiteRT model at ``path`` (atomically); returns the path.

    The batch dimension is left free (any batch size), so evaluation can run batches. Only
    LiteRT's built-in ops are allowed: a model that would need TensorFlow ("Flex") ops fails
    here, at export, rather than later in the window, whose runtime has no TensorFlow.
    Raises ``training.core.atomic.WriteError`` when the file cannot be written.
    """
    import tensorflow as tf

    from training.core.atomic import atomic_path, write_bytes

    path = Path(path).expanduser()
    # A mixed-precision model would export bfloat16 convolutions as Flex ops, which plain LiteRT
    # cannot run; its float32 twin computes the same function with built-in ops.
    runner = float32_version(model)
    spec = tf.TensorSpec((None, *tuple(runner.inputs[0].shape)[1:]), tf.float32)
    builtins_only = {tf.lite.OpsSet.TFLITE_BUILTINS}
    with _quiet_absl():
        try:
            data = _frozen_and_converted(runner, spec, builtins_only)
        except Exception:  # noqa: BLE001 - a TensorFlow without that way: Keras's own
            data = None
        if data is not None:
            return write_bytes(path, data)
        # The exporter writes the temporary file (its name must end in .tflite); the context
        # checks it, fsyncs it and renames it over ``path``, or removes it on any failure.
        with atomic_path(path, suffix=".tflite") as temp:
            runner.export(str(temp), format="litert", verbose=False, input_signature=[spec],
                          target_spec={"supported_ops": builtins_only})
    return path


def _frozen_and_converted(runner, spec, supported_ops: set) -> bytes:
    """The model's inference function with its weights made constants, converted, and given
    the signature Keras's export gives (input ``args_0``, outputs named by the model's output
    dict, else ``output_0``): 0.5 s for vgg_cnn on a 2-core Zen 1 where Keras's export (a
    SavedModel written to disk, then converted with its variables) takes 3.0 s."""
    import tensorflow as tf
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2)

    with warnings.catch_warnings():  # a model built on a list of one input, given the tensor
        warnings.filterwarnings("ignore", message="The structure of `inputs`")
        concrete = tf.function(lambda args_0: runner(args_0, training=False)
                               ).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(concrete)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.target_spec.supported_ops = supported_ops
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(converter.convert()))
    graph = model.subgraphs[0]
    structure = concrete.structured_outputs
    names = (tf.nest.flatten({key: key for key in structure}) if isinstance(structure, dict)
             else [f"output_{i}" for i in range(len(tf.nest.flatten(structure)))])
    tensors = [graph.tensors[i].name.decode() for i in graph.outputs]
    if len(graph.inputs) != 1 or tensors != [t.name.split(":")[0] for t in frozen.outputs]:
        raise ValueError(f"the converted outputs {tensors} are not the function's")

    def named(name: str, index: int):
        entry = schema.TensorMapT()
        entry.name, entry.tensorIndex = name, index
        return entry

    signature = schema.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = "serving_default", 0
    signature.inputs = [named("args_0", graph.inputs[0])]
    signature.outputs = [named(name, index) for name, index in zip(names, graph.outputs)]
    model.signatureDefs = [signature]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def float32_version(model):
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
    output's layer and order without TensorFlow (``training.runtime.activations``). Layers that do
    nothing at inference (Dropout, the input) are left out.
    """
    import keras

    runner = float32_version(model)
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
    """The converter logs INFO/WARNING lines through absl; keep only errors for the export's
    duration."""

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
