"""Fitting the "That doesn't look like a digit" check (training/runtime/answer_check.py says what
it measures): the features model, the class statistics, the centroids, the junk direction and
the two thresholds. Needs Keras (a child process); the window only scores, with numpy + LiteRT.
"""

from __future__ import annotations

import os
import weakref

import numpy as np

from training.core.atomic import write_bytes
from training.core.classifiers import MAX_CLASSES, MIN_CLASSES
from training.learn.export import export_tflite, float32_version
from training.modelfile.sidecar import features_path, file_sha256, stats_path
from training.runtime.answer_check import SCORES, Detector, junk_taps

CENTROIDS = 1000


KMEANS_SAMPLE = 60_000      # all of MNIST's training pictures (a 30,000 sample lost ~2 % of


KMEANS_ITERATIONS = 15      # the letters rejected; 2,000 centroids gained nothing)


SHRINKAGE = 1e-3            # covariance + SHRINKAGE * mean variance * I: invertible, stable


SCALE_QUANTILE = 0.99       # each score's unit: its held-out 99th percentile above the median


REJECT_QUANTILE = 0.995     # "doesn't look like": 0.5 % of held-out real pictures


UNSURE_QUANTILE = 0.98      # "Not sure": the 2 % most unusual held-out real pictures


DRAWN_CENTROIDS = 200       # k-means centroids of the drawings' features


DRAWN_REJECT_QUANTILE = 0.98   # of held-out drawings: 2 % refused where they were fitted


DRAWN_UNSURE_QUANTILE = 0.95


JUNK_SHRINKAGE = 0.1        # the discriminant's covariance + 0.1 * mean variance * I


JUNK_IN_SAMPLE = 5000       # training pictures on the in-domain side of the discriminant


JUNK_WEIGHT = 3.0           # its share in the sum (Fashion-MNIST, issue #20's eval sets: 1 -> 3
#                             refused 68 -> 84 % of the digits drawn, the drawings unchanged)


def _junk_direction(in_domain: np.ndarray, junk: np.ndarray) -> np.ndarray:
    """Fisher's linear discriminant from in-domain to junk features (shared, shrunk covariance):
    the outlier exposure of Hendrycks et al. 2019 in its simplest, closed form."""
    mean_in, mean_junk = in_domain.mean(axis=0), junk.mean(axis=0)
    centred = np.concatenate([in_domain - mean_in, junk - mean_junk])
    covariance = centred.T @ centred / len(centred)
    covariance += JUNK_SHRINKAGE * np.trace(covariance) / len(covariance) * np.eye(
        len(covariance))
    return np.linalg.solve(covariance, mean_junk - mean_in).astype(np.float32)


def score_weights(label_smoothing: float = 0.0) -> np.ndarray:
    """Which scores count. Label smoothing pulls each class's penultimate features into a tight
    cluster and erases what lies between them (Müller et al. 2019, "When does label smoothing
    help?"): the penultimate Mahalanobis distance and the energy then say little. Measured on
    vgg_cnn trained with smoothing 0.1 (our letter sets, 0.5 % false alarms): all four scores
    rejected 72 % (MNIST) and 93 % (Fashion-MNIST) of the letters, early + nearest centroid
    89 % and 97 %."""
    if label_smoothing > 0:
        return np.array([1.0, 0.0, 0.0, 1.0], np.float32)
    return np.ones(4, np.float32)


def fit_detector(train: dict, train_labels: np.ndarray, held_out: dict, kernel: np.ndarray,
                 bias: np.ndarray, seed: int = 0, weights: np.ndarray | None = None,
                 drawn: dict | None = None, drawn_labels: np.ndarray | None = None,
                 junk: dict | None = None,
                 centroids: int | np.ndarray = CENTROIDS) -> Detector:
    """Statistics from the training pictures' features, normalisation from the held-out ones.

    ``centroids``: how many k-means centroids of the training pictures' ``flat`` features, or
    the centroids themselves when the caller has them (a taught model's convolutions are its
    base's: so are its ``flat`` features, and the base's check found their centroids already).

    ``drawn``: features of pictures drawn the way users draw them (``training.learn.drawn_sets``),
    with their classes. Drawings are not the dataset's photos (an outline-and-fill coat has
    none of a photo's texture): they get class means of their own (10 more Gaussian
    components, the covariance shared) and centroids of their own, so a drawing is measured
    against drawings and a photo against photos. ``junk``: features of pictures that are
    neither (scribbles, letters, noise, the other dataset's drawings): a fifth score, how far
    a picture lies towards them (measured on issue #20's sets: the distances alone could not
    accept 95 % of the drawings and refuse 90 % of the junk)."""
    labels = np.asarray(train_labels, np.int64)
    classes = kernel.shape[1]
    parts = [train] + ([drawn] if drawn is not None else [])
    if drawn is not None:
        labels = np.concatenate([labels, np.asarray(drawn_labels, np.int64) + classes])
    components = classes * len(parts)

    def joined(tap):
        return np.concatenate([np.asarray(p[tap], np.float32) for p in parts])

    early_means, early_precision = (_gaussian(joined("early"), labels, components)
                                    if train.get("early") is not None else (None, None))
    penult_means, penult_precision = _gaussian(joined("penult"), labels, components)
    detector = Detector(
        penult_means=penult_means, penult_precision=penult_precision,
        kernel=np.asarray(kernel, np.float32), bias=np.asarray(bias, np.float32),
        centroids=_centroids(train, drawn, seed, centroids),
        centre=np.zeros(4, np.float32), scale=np.ones(4, np.float32),
        early_means=early_means, early_precision=early_precision,
        weights=None if weights is None else np.asarray(weights, np.float32))
    if junk is not None:
        early = early_means is not None
        pick = np.random.default_rng(seed).permutation(len(train["penult"]))[:JUNK_IN_SAMPLE]
        in_domain = [junk_taps({k: v[pick] for k, v in train.items()}, early)]
        if drawn is not None:
            in_domain.append(junk_taps(drawn, early))
        detector.junk_direction = _junk_direction(np.concatenate(in_domain),
                                                  junk_taps(junk, early))
        detector.centre = np.zeros(5, np.float32)
        detector.scale = np.ones(5, np.float32)
        base = detector.weights if detector.weights is not None else np.ones(4, np.float32)
        detector.weights = np.append(base, JUNK_WEIGHT).astype(np.float32)
    normalise_on(detector, detector.raw_scores(held_out))
    # what the saved file will hold (float16 centroids): the thresholds are set on exactly that
    detector.centroids = detector.centroids.astype(np.float16).astype(np.float32)
    return detector


def _centroids(train: dict, drawn: dict | None, seed: int,
               centroids: int | np.ndarray) -> np.ndarray:
    """The given centroids, else k-means's of the training pictures' and the drawings' ``flat``
    features (``centroids`` and DRAWN_CENTROIDS of them)."""
    if isinstance(centroids, np.ndarray):
        return np.asarray(centroids, np.float32)
    found = _kmeans(np.asarray(train["flat"], np.float32), seed, centroids)
    if drawn is None:
        return found
    return np.concatenate([found, _kmeans(np.asarray(drawn["flat"], np.float32), seed,
                                          DRAWN_CENTROIDS)])


def normalise_on(detector: Detector, raw: np.ndarray) -> None:
    """Each score's unit: its median and 99th percentile on held-out pictures (``raw``: their
    raw scores, (n, 4 or 5))."""
    centre = np.median(raw, axis=0)
    scale = np.quantile(raw, SCALE_QUANTILE, axis=0) - centre
    detector.centre = centre.astype(np.float32)
    detector.scale = np.where(scale > 1e-9, scale, 1.0).astype(np.float32)


def thresholds(held_out_scores: np.ndarray, drawn_scores: np.ndarray | None = None) -> dict:
    """The held-out photos' quantiles, raised to the drawings' own where those score higher
    (held-out drawings: not the ones the statistics came from)."""
    reject = float(np.quantile(held_out_scores, REJECT_QUANTILE))
    unsure = float(np.quantile(held_out_scores, UNSURE_QUANTILE))
    if drawn_scores is not None and len(drawn_scores):
        reject = max(reject, float(np.quantile(drawn_scores, DRAWN_REJECT_QUANTILE)))
        unsure = max(unsure, float(np.quantile(drawn_scores, DRAWN_UNSURE_QUANTILE)))
    return {"reject_above": reject, "unsure_above": min(unsure, reject)}


def _gaussian(features: np.ndarray, labels: np.ndarray, classes: int):
    x = np.asarray(features, np.float64)
    means = np.stack([x[labels == k].mean(axis=0) if np.any(labels == k) else x.mean(axis=0)
                      for k in range(classes)])
    centred = x - means[labels]
    covariance = centred.T @ centred / max(1, len(x))
    covariance += SHRINKAGE * max(np.trace(covariance) / len(covariance), 1e-6) * np.eye(
        len(covariance))
    return means.astype(np.float32), np.linalg.inv(covariance).astype(np.float32)


def _kmeans(flat: np.ndarray, seed: int, centroids: int = CENTROIDS) -> np.ndarray:
    """Spherical k-means (cosine) of the training features: ``centroids`` unit vectors."""
    rng = np.random.default_rng(seed)
    unit = flat / (np.linalg.norm(flat, axis=1, keepdims=True) + 1e-8)
    if len(unit) > KMEANS_SAMPLE:
        unit = unit[rng.choice(len(unit), KMEANS_SAMPLE, replace=False)]
    k = min(centroids, len(unit))
    centroids = unit[rng.choice(len(unit), k, replace=False)].copy()
    for _ in range(KMEANS_ITERATIONS):
        nearest = np.concatenate([(unit[i:i + 4096] @ centroids.T).argmax(axis=1)
                                  for i in range(0, len(unit), 4096)])
        # each centroid's sum of its members, a slice of the sorted rows each: 35 ms an
        # iteration on 60,000 x 1,152 (2-core Zen 1), where np.add.reduceat took 774 ms
        order = np.argsort(nearest, kind="stable")
        members = nearest[order]
        starts = np.flatnonzero(np.r_[True, members[1:] != members[:-1]])
        ends = np.r_[starts[1:], len(members)]
        grouped = unit[order]
        centroids[members[starts]] = np.stack([grouped[start:end].sum(axis=0)
                                               for start, end in zip(starts, ends)])
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True) + 1e-8
    return centroids.astype(np.float32)


def feature_model(model, lower_at: int | None = None):
    """A Keras model giving the three taps of ``model`` (float32): ``early`` (the first two
    pooling layers', else the first convolution's, per-channel mean and max; absent without
    convolutions), ``flat`` (the Flatten layer's output, else the input's pixels) and
    ``penult`` (the input of the last layer, a Dense of one unit per class). With
    ``lower_at`` (> 0), also ``lower``: the input of layer ``lower_at`` itself, in the same
    pass (where fine-tuning a classifier of one's own classes begins)."""
    import keras
    from keras import layers as kl


    runner = float32_version(model)
    last = runner.layers[-1]
    if type(last).__name__ != "Dense" or not MIN_CLASSES <= int(last.units) <= MAX_CLASSES:
        raise ValueError("the model's last layer is not a Dense layer of its classes")
    # The first two pooling layers' outputs (or the first convolution's): with batch norm
    # (vgg_cnn) the first pooling alone separated letters from digits less well (MNIST 69 %
    # rejected by this score alone, Fashion-MNIST 58 %) than the first two (74 %, 85 %).
    pools = [layer for layer in runner.layers
             if type(layer).__name__ in ("MaxPooling2D", "AveragePooling2D")][:2]
    early_layers = pools or [layer for layer in runner.layers
                             if type(layer).__name__ == "Conv2D"][:1]
    flatten = next((layer for layer in runner.layers if type(layer).__name__ == "Flatten"),
                   None)
    outputs = {}
    if early_layers:
        stats = [stat()(layer.output) for layer in early_layers
                 for stat in (kl.GlobalAveragePooling2D, kl.GlobalMaxPooling2D)]
        outputs["early"] = kl.Concatenate()(stats)
    outputs["flat"] = flatten.output if flatten is not None else kl.Flatten()(runner.inputs[0])
    outputs["penult"] = last.input
    if lower_at:
        outputs["lower"] = runner.layers[lower_at - 1].output
    return keras.Model(runner.inputs, outputs), last


FEATURE_BATCH = 1000        # pictures per call of a features model
XLA_FROM = 500              # pictures in one call from which XLA's compile (once) pays


class FeatureRunner:
    """A features model (``feature_model``'s) run over many pictures: XLA-compiled for one
    batch shape (the last batch padded to it), 1.1 s per 1,000 pictures of the shipped
    vgg_cnn on a 2-core Zen 1 against 3.7 s through ``predict_on_batch``, for a compile of
    ~1.3 s made once (teaching reads ~25,000 pictures, a trained model's check ~75,000). A
    call of fewer pictures than ``XLA_FROM`` before anything was compiled takes the plain
    way, as does a model XLA cannot compile."""

    def __init__(self, features_model):
        import tensorflow as tf

        # Held weakly: compute_features keeps a runner per live model, which a strong
        # reference from the runner (or its compiled function) would keep alive forever.
        self._model = weakref.ref(features_model)
        self._shape = tuple(features_model.inputs[0].shape)[1:]
        self._xla = tf.function(lambda x: self._model()(x, training=False), jit_compile=True)
        self._compiled = False

    def __call__(self, images: np.ndarray, on_batch=None) -> dict:
        """Float32 taps of uint8 (n, 28, 28) or float [0, 1] images (n, 28, 28[, 1]);
        ``on_batch(count)`` after each batch."""
        images = np.asarray(images)
        x = images.astype(np.float32) / (255.0 if images.dtype == np.uint8 else 1.0)
        x = x.reshape(-1, *self._shape)
        use_xla = self._xla is not None and (self._compiled or len(x) >= XLA_FROM)
        parts: dict[str, list] = {}
        for start in range(0, len(x), FEATURE_BATCH):
            batch = x[start:start + FEATURE_BATCH]
            out = self._with_xla(batch) if use_xla and self._xla is not None else None
            if out is None:
                out = self._model().predict_on_batch(batch)
            for key, value in out.items():
                parts.setdefault(key, []).append(np.asarray(value, np.float32))
            if on_batch is not None:
                on_batch(len(batch))
        return {key: np.concatenate(value) for key, value in parts.items()}

    def _with_xla(self, batch: np.ndarray) -> dict | None:
        padded = np.zeros((FEATURE_BATCH, *self._shape), np.float32)
        padded[:len(batch)] = batch
        try:
            out = {k: v.numpy()[:len(batch)] for k, v in self._xla(padded).items()}
        except Exception:  # noqa: BLE001 - no XLA for this model here: the plain way
            self._xla = None
            return None
        self._compiled = True
        return out


def compute_features(features_model, images: np.ndarray) -> dict:
    """Taps of uint8 (n, 28, 28) or float [0, 1] images, as float32 numpy arrays (one
    ``FeatureRunner`` per features model: its XLA compile is made once)."""
    runner = _RUNNERS.get(features_model)
    if runner is None:
        runner = _RUNNERS[features_model] = FeatureRunner(features_model)
    return runner(images)


_RUNNERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def build(model, x_train, y_train, x_held, seed: int = 0, label_smoothing: float = 0.0,
          examples=None, taps=None, centroids: int | np.ndarray = CENTROIDS):
    """(detector, features model, held-out scores, held-out drawings' scores or None):
    everything ``write_files`` needs. ``examples``: a ``drawn_sets.FitExamples`` (drawings
    with their classes, held-out drawings, junk), or None for the photos alone. ``taps``:
    ``taps(name, images)`` -> the taps of ``images`` ("train", "held", "drawn", "junk",
    "drawn_held"), when the caller has them already (teaching: training.learn.teach_head).
    ``centroids``: see ``fit_detector``."""
    features_model, last = feature_model(model)
    kernel, bias = (np.asarray(w, np.float32) for w in last.get_weights())
    if taps is None:
        def taps(name, images):
            return compute_features(features_model, images)
    train = taps("train", x_train)
    held = taps("held", x_held)
    extra = {}
    if examples is not None:
        extra = {"drawn": taps("drawn", examples.drawn), "drawn_labels": examples.drawn_labels,
                 "junk": taps("junk", examples.junk)}
    detector = fit_detector(train, y_train, held, kernel, bias, seed,
                            score_weights(label_smoothing), centroids=centroids, **extra)
    drawn_held = (detector.score(taps("drawn_held", examples.drawn_held))
                  if examples is not None else None)
    return detector, features_model, detector.score(held), drawn_held


def write_files(features_model, detector: Detector, keras_path: str | os.PathLike,
                limits: dict, held_out_images: int, held_out_name: str) -> dict:
    """Write ``M.ood.tflite`` and ``M.ood.npz`` atomically; return the sidecar's ``ood`` block."""

    lite, stats = features_path(keras_path), stats_path(keras_path)
    export_tflite(features_model, lite)
    write_bytes(stats, detector.to_bytes())
    used = [name for name, w in zip(SCORES, detector.weights if detector.weights is not None
                                    else np.ones(len(detector.centre))) if w > 0]
    return {"method": "sum of normalised scores: " + ", ".join(used),
            "reject_above": limits["reject_above"], "unsure_above": limits["unsure_above"],
            "held_out": held_out_name, "held_out_images": int(held_out_images),
            "features_file": lite.name, "features_sha256": file_sha256(lite),
            "stats_file": stats.name, "stats_sha256": file_sha256(stats)}
