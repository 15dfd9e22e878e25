"""Live inference with LiteRT, for the window's process (issue #8).

Neither this module nor anything it imports loads TensorFlow or Keras: LiteRT's interpreter
imports in ~50 ms and runs the shipped models in a few hundredths of a millisecond per picture
(XNNPACK), where TensorFlow takes seconds to import and hundreds of MB of memory. The ``.tflite``
files are written by ``training.learn.export.export_tflite``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from training.modelfile.sidecar import (
    ModelLoadError,  # store imports Keras only inside its functions
)
from training.runtime.calibration import ends_in_logits, softmax

BATCH_CHUNK = 256  # pictures per invoke in predict_batch, when the model takes any batch size
_FLATBUFFER_ID = b"TFL3"  # a LiteRT model is a flatbuffer with this identifier at bytes 4..8


class LiteModel:
    """A ``.tflite`` classifier: 28x28 float pictures in [0, 1] -> 10 probabilities (float32).

    Every failure to load becomes a :class:`ModelLoadError` saying why. Calls are serialised by
    a lock: an interpreter keeps its input and output in shared buffers.
    """

    def __init__(self, path: str | os.PathLike, num_threads: int = 1):
        self.path = Path(path).expanduser()
        self._num_threads = num_threads
        self._content = read_model_file(self.path)
        self._lock = threading.Lock()
        self._batch = None                         # a second interpreter, made for predict_batch
        self._needs_softmax = False
        try:
            self._single = self._interpreter()
            self._check_signature()
            if self._any_batch:
                self._single.resize_tensor_input(self._in, (1, *self._picture_shape))
            self._single.allocate_tensors()
            # Detect once whether the model ends in probabilities or logits (like Predictor).
            probe = self.predict(np.zeros((28, 28), np.float32))
        except (ValueError, RuntimeError) as exc:  # e.g. ops this runtime does not have
            raise ModelLoadError(f"{self.path.name}: not a usable LiteRT model "
                                 f"({_first_line(str(exc))}).") from None
        self._needs_softmax = ends_in_logits(probe)

    def predict(self, picture: np.ndarray) -> np.ndarray:
        """One (28, 28) float picture in [0, 1] -> (10,) float32 probabilities."""
        x = np.asarray(picture, np.float32).reshape(1, *self._picture_shape)
        with self._lock:
            out = self._run(self._single, x)[0]
        return self._probabilities(out)

    def predict_batch(self, images: np.ndarray) -> np.ndarray:
        """(n, 28, 28) pictures, float32 in [0, 1] or uint8 in [0, 255] -> (n, 10) float32."""
        images = np.asarray(images)
        x = images.astype(np.float32)
        if images.dtype == np.uint8:
            x /= 255
        x = x.reshape(len(x), *self._picture_shape)
        if len(x) == 0:
            return np.zeros((0, 10), np.float32)
        with self._lock:
            full = len(x) - len(x) % BATCH_CHUNK if self._any_batch else 0
            outs = []
            if full:
                interpreter = self._batch_interpreter()
                outs += [self._run(interpreter, x[start:start + BATCH_CHUNK])
                         for start in range(0, full, BATCH_CHUNK)]
            # The rest one at a time on the live interpreter: a picture costs about as much
            # there as in a full chunk, and padding a few pictures to a chunk of 256 would cost
            # the whole chunk (68 ms for one picture with the shipped vgg_cnn, against 0.26).
            # Resizing an interpreter instead would re-plan its graph at every call.
            outs += [self._run(self._single, x[i:i + 1]) for i in range(full, len(x))]
        return self._probabilities(np.concatenate(outs))

    def _batch_interpreter(self) -> Interpreter:
        """A second interpreter sized for BATCH_CHUNK pictures, so the live one stays at 1
        (only for a model that takes any batch size; others run one picture at a time)."""
        if self._batch is None:
            batch = self._interpreter()
            batch.resize_tensor_input(self._in, (BATCH_CHUNK, *self._picture_shape))
            batch.allocate_tensors()
            self._batch = batch
        return self._batch

    def _run(self, interpreter: Interpreter, x: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(self._in, x)
        interpreter.invoke()
        return interpreter.get_tensor(self._out)  # a copy: safe after the lock is released

    def _probabilities(self, out: np.ndarray) -> np.ndarray:
        return softmax(out) if self._needs_softmax else out.astype(np.float32)

    def _interpreter(self) -> Interpreter:
        return Interpreter(model_content=self._content, num_threads=self._num_threads)

    def _check_signature(self) -> None:
        """Check the model takes float32 (1|any, 28, 28[, 1]) and gives (..., 10); remember
        the tensor indices and the picture shape."""
        name = self.path.name
        inputs, outputs = self._single.get_input_details(), self._single.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelLoadError(f"{name}: the model has {len(inputs)} inputs and "
                                 f"{len(outputs)} outputs; one of each is needed.")
        given, gives = inputs[0], outputs[0]
        in_shape = tuple(int(d) for d in given["shape_signature"])
        out_shape = tuple(int(d) for d in gives["shape_signature"])
        if given["dtype"] != np.float32:
            raise ModelLoadError(f"{name}: the model takes {np.dtype(given['dtype']).name} "
                                 "input; float32 pictures are needed (export it unquantised).")
        if in_shape[:1] not in ((1,), (-1,)) or in_shape[1:] not in ((28, 28), (28, 28, 1)):
            raise ModelLoadError(f"{name}: the model expects input {in_shape}, "
                                 "but this app gives 28x28 grey pictures.")
        if len(out_shape) != 2 or out_shape[1] != 10 or gives["dtype"] != np.float32:
            raise ModelLoadError(f"{name}: the model gives {out_shape[1:]} outputs; "
                                 "10 class scores are needed.")
        self._in, self._out = given["index"], gives["index"]
        self._picture_shape = in_shape[1:]         # (28, 28) or (28, 28, 1)
        self._any_batch = in_shape[0] == -1


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
