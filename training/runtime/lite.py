"""Live inference with LiteRT, for the window's process (issue #8).

Neither this module nor anything it imports loads TensorFlow or Keras: LiteRT's interpreter
imports in ~50 ms and runs the shipped models in a few hundredths of a millisecond per picture
(XNNPACK), where TensorFlow takes seconds to import and hundreds of MB of memory. The ``.tflite``
files are written by ``training.learn.export.export_tflite``.

:class:`LiteRunner` is the runtime's one wrapper of LiteRT's interpreter: the classifier here,
the layers model (``activations.LayerModel``) and the OOD features model
(``answer_check.FeatureRunner``) all run through it.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from training.core.classifiers import MAX_CLASSES, MIN_CLASSES
from training.modelfile.sidecar import (
    ModelLoadError,  # store imports Keras only inside its functions
)
from training.runtime.calibration import ends_in_logits, softmax

BATCH_CHUNK = 256  # pictures per invoke in a big batch, when the model takes any batch size
_FLATBUFFER_ID = b"TFL3"  # a LiteRT model is a flatbuffer with this identifier at bytes 4..8


class Tensor(NamedTuple):
    """An input or output of a model: its name (the signature's, else the tensor's), its
    tensor index, its shape with the batch first (-1: any size) and its dtype."""
    name: str
    index: int
    shape: tuple[int, ...]
    dtype: np.dtype


class LiteRunner:
    """One ``.tflite`` file run by LiteRT: the one place that reads and checks the file, makes
    the interpreters, finds the inputs and outputs, runs batches in chunks and serialises calls.

    ``kind`` names what the file should be in messages ("LiteRT model", "layers model"...):
    every failure to load becomes a :class:`ModelLoadError` saying why. ``by_signature``: the
    outputs are the model's one signature's, with its names and in its order (a model with
    named outputs); else the model's outputs as they are. Calls are serialised by ``lock``: an
    interpreter keeps its input and output in shared buffers.
    """

    def __init__(self, path: str | os.PathLike, num_threads: int = 1,
                 kind: str = "LiteRT model", by_signature: bool = False):
        self.path = Path(path).expanduser()
        self.kind = kind
        self.lock = threading.Lock()
        self._num_threads = num_threads
        self._content = read_model_file(self.path)
        self._batch = None                         # a second interpreter, made for big batches
        with self.loading():
            self._single = self._interpreter()
            found = self._named_tensors() if by_signature else self._model_tensors()
            self.inputs, self.outputs = found
            # One picture at a time on this interpreter (the live path): sized once for one.
            self.any_batch = len(self.inputs) == 1 and self.inputs[0].shape[:1] == (-1,)
            if self.any_batch:
                self._single.resize_tensor_input(self.inputs[0].index,
                                                 (1, *self.inputs[0].shape[1:]))
            self._single.allocate_tensors()

    @contextmanager
    def loading(self):
        """Turns what LiteRT raises on a model it cannot use into a ModelLoadError."""
        try:
            yield
        except ModelLoadError:
            raise
        except (ValueError, RuntimeError, KeyError) as exc:  # e.g. ops this runtime lacks
            raise ModelLoadError(f"{self.path.name}: not a usable {self.kind} "
                                 f"({_first_line(str(exc))}).") from None

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """A batch ``x`` (n, *input shape) of the one input -> each output, (n, ...).

        A model that takes any batch size runs full chunks of BATCH_CHUNK pictures on a second
        interpreter and the rest one at a time on the live one: a picture costs about as much
        there as in a full chunk, and padding a few pictures to a chunk would cost the whole
        chunk (68 ms for one picture with the shipped vgg_cnn, against 0.26). Resizing one
        interpreter instead would re-plan its graph at every call."""
        n = len(x)
        if n == 0:
            return [np.zeros((0, *(max(d, 0) for d in out.shape[1:])), out.dtype)
                    for out in self.outputs]
        with self.lock:
            full = n - n % BATCH_CHUNK if self.any_batch else 0
            parts = []
            if full:
                interpreter = self._batch_interpreter()
                parts += [self._invoke(interpreter, x[start:start + BATCH_CHUNK])
                          for start in range(0, full, BATCH_CHUNK)]
            parts += [self._invoke(self._single, x[i:i + 1]) for i in range(full, n)]
        if len(parts) == 1:
            return parts[0]
        return [np.concatenate(column) for column in zip(*parts)]

    def _invoke(self, interpreter: Interpreter, x: np.ndarray) -> list[np.ndarray]:
        interpreter.set_tensor(self.inputs[0].index, x)
        interpreter.invoke()
        # get_tensor copies: the arrays stay valid after the lock is released.
        return [interpreter.get_tensor(out.index) for out in self.outputs]

    def _batch_interpreter(self) -> Interpreter:
        if self._batch is None:
            batch = self._interpreter()
            batch.resize_tensor_input(self.inputs[0].index,
                                      (BATCH_CHUNK, *self.inputs[0].shape[1:]))
            batch.allocate_tensors()
            self._batch = batch
        return self._batch

    def _interpreter(self) -> Interpreter:
        return Interpreter(model_content=self._content, num_threads=self._num_threads)

    def _model_tensors(self) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
        return (tuple(_tensor(d["name"], d) for d in self._single.get_input_details()),
                tuple(_tensor(d["name"], d) for d in self._single.get_output_details()))

    def _named_tensors(self) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
        signatures = self._single.get_signature_list()
        if len(signatures) != 1:
            raise ModelLoadError(f"{self.path.name}: expected one signature, found "
                                 f"{len(signatures)}.")
        (key, names), = signatures.items()
        runner = self._single.get_signature_runner(key)
        given, gives = runner.get_input_details(), runner.get_output_details()
        inputs = tuple(_tensor(name, given[name]) for name in names["inputs"])
        outputs = tuple(_tensor(name, gives[name]) for name in names["outputs"])
        # The tensors are run by index on the main graph: the signature must be that graph's.
        main = {d["index"] for d in self._single.get_input_details()} | {
            d["index"] for d in self._single.get_output_details()}
        if any(t.index not in main for t in inputs + outputs):
            raise ModelLoadError(f"{self.path.name}: its signature is not the model's main "
                                 "graph.")
        return inputs, outputs


def _tensor(name: str, details: dict) -> Tensor:
    return Tensor(name, int(details["index"]), tuple(int(d) for d in details["shape_signature"]),
                  np.dtype(details["dtype"]))


class LiteModel:
    """A ``.tflite`` classifier: 28x28 float pictures in [0, 1] -> ``classes`` probabilities
    (float32; 10 for MNIST and Fashion-MNIST, 2-36 for a classifier of the user's own classes).

    Every failure to load becomes a :class:`ModelLoadError` saying why; calls are serialised
    (:class:`LiteRunner`).
    """

    def __init__(self, path: str | os.PathLike, num_threads: int = 1):
        self._model = LiteRunner(path, num_threads)
        self.path = self._model.path
        self._needs_softmax = False
        self._check_signature()
        with self._model.loading():
            # Detect once whether the model ends in probabilities or logits (like Predictor).
            probe = self.predict(np.zeros((28, 28), np.float32))
        self._needs_softmax = ends_in_logits(probe)

    def predict(self, picture: np.ndarray) -> np.ndarray:
        """One (28, 28) float picture in [0, 1] -> (10,) float32 probabilities."""
        x = np.asarray(picture, np.float32).reshape(1, *self._picture_shape)
        return self._probabilities(self._model.run(x)[0][0])

    def predict_batch(self, images: np.ndarray) -> np.ndarray:
        """(n, 28, 28) pictures, float32 in [0, 1] or uint8 in [0, 255] -> (n, 10) float32."""
        images = np.asarray(images)
        x = images.astype(np.float32)
        if images.dtype == np.uint8:
            x /= 255
        x = x.reshape(len(x), *self._picture_shape)
        if len(x) == 0:
            return np.zeros((0, self.classes), np.float32)
        return self._probabilities(self._model.run(x)[0])

    def _probabilities(self, out: np.ndarray) -> np.ndarray:
        return softmax(out) if self._needs_softmax else out.astype(np.float32)

    def _check_signature(self) -> None:
        """Check the model takes float32 (1|any, 28, 28[, 1]) and gives (..., 10); remember
        the picture shape."""
        name = self.path.name
        inputs, outputs = self._model.inputs, self._model.outputs
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelLoadError(f"{name}: the model has {len(inputs)} inputs and "
                                 f"{len(outputs)} outputs; one of each is needed.")
        given, gives = inputs[0], outputs[0]
        in_shape, out_shape = given.shape, gives.shape
        if given.dtype != np.float32:
            raise ModelLoadError(f"{name}: the model takes {given.dtype.name} "
                                 "input; float32 pictures are needed (export it unquantised).")
        if in_shape[:1] not in ((1,), (-1,)) or in_shape[1:] not in ((28, 28), (28, 28, 1)):
            raise ModelLoadError(f"{name}: the model expects input {in_shape}, "
                                 "but this app gives 28x28 grey pictures.")
        if (len(out_shape) != 2 or not MIN_CLASSES <= out_shape[1] <= MAX_CLASSES
                or gives.dtype != np.float32):
            raise ModelLoadError(f"{name}: the model gives {out_shape[1:]} outputs; "
                                 f"{MIN_CLASSES} to {MAX_CLASSES} class scores are needed.")
        self._picture_shape = in_shape[1:]         # (28, 28) or (28, 28, 1)
        self.classes = int(out_shape[1])


def read_model_file(path: Path) -> bytes:
    if not path.exists():
        raise ModelLoadError(f"{path}: no such file.")
    if path.is_dir():
        raise ModelLoadError(f"{path}: is a folder, not a model file.")
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"{path.name}: cannot read the file ({exc.strerror}).") from None
    if not content:
        raise ModelLoadError(f"{path.name}: the file is empty.")
    if content[:2] == b"PK":  # a zip: most likely a .keras archive renamed
        raise ModelLoadError(f"{path.name}: this is a Keras archive (.keras), not a LiteRT "
                             "model; export it to .tflite first.")
    if content[4:8] != _FLATBUFFER_ID:
        raise ModelLoadError(f"{path.name}: not a LiteRT (.tflite) model; it may be damaged "
                             "or incompletely written.")
    return content


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    return line[:300]
