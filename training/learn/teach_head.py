"""The part of teaching that runs the model (training.learn.teach holds the story): the base's
features of every picture, computed once, and the model's head taught on them.

Only the layers after the model's Flatten (the head: Dense 128 -> Dense 10 for the shipped
``vgg_cnn``) are taught; the convolutional base stays as it is, batch norm included. So each
picture goes through the convolutions once: the personal samples' augmented copies, the replay
pictures, the official test set and the pictures of the "doesn't look like" check are turned into
features at the start, and every teaching step, fold, evaluation and the taught model's check
work on those features. The step itself is a few small matrix products (no backward pass through
the convolutions), and the distillation teacher's targets are the base head's outputs on the
same features. Measured in bench/bench_teach.py (10 flagged 1s, shipped MNIST model): held-out
flagged 1s and the official test set as when the whole model was taught, in a fraction of the
time (docs/benchmarks.md, "Teaching your handwriting").
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

AUGMENTED_COPIES = 128      # augmented copies of each personal sample (the pool steps draw from)
AUGMENTED_POOL = 4096       # at most this many in all: fewer copies each for many samples


def copies_for(samples: int, pool: int = AUGMENTED_POOL) -> int:
    """Augmented copies of each of ``samples`` personal samples in a pool of at most ``pool``."""
    return max(4, min(AUGMENTED_COPIES, pool // max(1, samples)))


class HeadModel:
    """A model split at its Flatten: ``taps(images)`` gives, in one pass through the model,
    the "doesn't look like" check's taps (``early``, ``flat``, ``penult``) and ``head``, the
    head's input; ``outputs(head)`` and ``penult(head)`` run the (taught) head on them."""

    def __init__(self, model):
        import tensorflow as tf

        from training.learn.ood_fit import FeatureRunner, feature_model

        self.model = model
        self.features_model, _ = feature_model(model)  # float32 taps of the base
        layers = list(model.layers)
        flatten = next((i for i, layer in enumerate(layers)
                        if type(layer).__name__ == "Flatten"), None)
        start = len(layers) - 1 if flatten is None else flatten + 1
        self.head = layers[start:]
        self.head_key = "penult" if flatten is None else "flat"

        @tf.function(reduce_retracing=True)
        def run(features, upto):
            for layer in self.head[:upto]:
                features = layer(features, training=False)
            return tf.cast(features, tf.float32)

        self._run = run
        self._features = FeatureRunner(self.features_model)

    def taps(self, images: np.ndarray, on_batch: Callable[[int], None] | None = None) -> dict:
        """Float32 taps of uint8 (n, 28, 28) or float [0, 1] images (n, 28, 28[, 1]);
        ``on_batch(count)`` after each batch."""
        taps = self._features(images, on_batch)
        if not taps:
            return {}
        taps["head"] = taps[self.head_key]
        return taps

    def outputs(self, head_in: np.ndarray) -> np.ndarray:
        """The model's probabilities from the head's input, with the head as it is now."""
        return self._apply(head_in, len(self.head))

    def penult(self, head_in: np.ndarray) -> np.ndarray:
        """The input of the last layer (the check's ``penult`` tap) with the head as it is now."""
        return self._apply(head_in, len(self.head) - 1)

    def _apply(self, head_in: np.ndarray, upto: int) -> np.ndarray:
        import tensorflow as tf

        if upto == 0:
            return np.asarray(head_in, np.float32)
        out = [self._run(tf.constant(head_in[i:i + 4096]), upto).numpy()
               for i in range(0, len(head_in), 4096)]
        return np.concatenate(out) if out else np.zeros((0, 10), np.float32)


def augmented(images: np.ndarray, digits: bool, seed: int, pool: int = AUGMENTED_POOL,
              warp: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(float (m, 28, 28, 1) augmented copies, index of the sample each copy comes from, in
    order): the pool every teaching step draws its personal pictures from. The first copy of
    each sample is the sample itself. ``warp``: augment_batch's ranges (its default when None)."""
    import tensorflow as tf

    from training.learn.augment import augment_batch, to_float

    n = len(images)
    copies = copies_for(n, pool)
    source = np.repeat(np.arange(n), copies)
    batch = tf.constant(to_float(images)[source])
    warped = augment_batch(batch, tf.random.Generator.from_seed(seed), digits,
                           warp=warp).numpy()
    first = np.arange(n) * copies
    warped[first] = to_float(images)
    return warped, source


STEPS_PER_CALL = 20          # steps run in one call of the compiled loop


class HeadSteps:
    """Adam on the variables of ``layers``, as one compiled loop of steps that every run reuses
    (teaching's folds and final run, a classifier of your own classes' folds and final head):
    tracing a new step for each run took longer than its steps. Each step gathers its batch
    from the run's features in the graph (about 5 ms a step here). A run's steps report in
    calls of ``STEPS_PER_CALL``: ``on_step`` may raise to end the run there, and nothing after
    that step is reported."""

    def __init__(self, layers, learning_rate: float):
        import keras
        import tensorflow as tf

        self.variables = [v for layer in layers for v in layer.trainable_variables]
        optimizer = keras.optimizers.Adam(learning_rate)
        optimizer.build(self.variables)
        self.optimizer = optimizer
        self.optimizer_start = [v.numpy().copy() for v in optimizer.variables]
        variables = self.variables

        def one_step(features, targets, labels):
            with tf.GradientTape() as tape:
                out = features
                for layer in layers:
                    out = layer(out, training=True)
                probabilities = tf.cast(out, tf.float32)
                loss = tf.reduce_mean(keras.losses.categorical_crossentropy(
                    targets, probabilities))
            grads = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(grads, variables))
            hits = tf.equal(tf.argmax(probabilities, 1, output_type=tf.int32), labels)
            return loss, tf.reduce_mean(tf.cast(hits, tf.float32))

        @tf.function(reduce_retracing=True)  # XLA: 25x slower here (the gathers)
        def steps(features, targets, labels, picks, rates):
            count = tf.shape(rates)[0]
            losses = tf.TensorArray(tf.float32, size=count)
            hits = tf.TensorArray(tf.float32, size=count)
            for j in tf.range(count):
                optimizer.learning_rate.assign(rates[j])
                loss, accuracy = one_step(tf.gather(features, picks[j]),
                                          tf.gather(targets, picks[j]),
                                          tf.gather(labels, picks[j]))
                losses = losses.write(j, loss)
                hits = hits.write(j, accuracy)
            return losses.stack(), hits.stack()

        self._steps = steps
        self._traced = {}   # trailing shapes of (features, targets) -> the loop traced for them

    def run(self, features: np.ndarray, targets: np.ndarray, labels: np.ndarray,
            picks: np.ndarray, rates: np.ndarray,
            on_step: Callable[[int, float, float], None]) -> None:
        """``len(rates)`` steps from a fresh optimizer state: step i trains on the rows
        ``picks[i]`` of ``features`` (their ``targets``, probabilities; their ``labels`` for
        the accuracy) at the rate ``rates[i]``; ``on_step(i + 1, loss, accuracy)`` after it."""
        import tensorflow as tf

        for variable, value in zip(self.optimizer.variables, self.optimizer_start):
            variable.assign(value)
        features, targets = (tf.constant(np.asarray(a, np.float32)) for a in (features, targets))
        labels = tf.constant(np.asarray(labels, np.int32))
        picks, rates = np.asarray(picks, np.int32), np.asarray(rates, np.float32)
        steps = self._loop_for(features, targets)
        for first in range(0, len(rates), STEPS_PER_CALL):
            last = min(len(rates), first + STEPS_PER_CALL)
            losses, hits = steps(features, targets, labels, tf.constant(picks[first:last]),
                                 tf.constant(rates[first:last]))
            for i, (loss, accuracy) in enumerate(zip(losses.numpy(), hits.numpy())):
                on_step(first + i + 1, float(loss), float(accuracy))

    def _loop_for(self, features, targets):
        """The loop traced once for any number of rows and steps: traced for the first run's
        exact shapes, a fold's other row count and a run's last, shorter call traced it twice
        more (three traces of ~0.5-1 s each per loop on a 2-core Zen 1, more than 150 steps)."""
        import tensorflow as tf

        key = (tuple(features.shape[1:]), tuple(targets.shape[1:]))
        if key not in self._traced:
            def rows(*trailing, dtype=tf.float32):
                return tf.TensorSpec([None, *trailing], dtype)

            self._traced[key] = self._steps.get_concrete_function(
                rows(*key[0]), rows(*key[1]), rows(dtype=tf.int32),
                rows(None, dtype=tf.int32), rows())
        return self._traced[key]


def cosine_rates(rate: float, steps: int) -> np.ndarray:
    """The rate of each of ``steps`` steps, decayed to zero along a half cosine."""
    return (rate * 0.5 * (1 + np.cos(np.pi * np.arange(steps) / max(1, steps)))).astype(
        np.float32)


class HeadTeacher:
    """Teaching's runs of the model's head (``HeadSteps``): each starts from the base's head."""

    def __init__(self, head_model: HeadModel, settings):
        self.settings, self.head_model = settings, head_model
        self.loop = HeadSteps(head_model.head, settings.learning_rate)
        self.base_values = [v.numpy().copy() for v in self.loop.variables]

    def reset(self) -> None:
        for variable, value in zip(self.loop.variables, self.base_values):
            variable.assign(value)

    def teach(self, mine: tuple, replay: tuple, steps: int,
              on_step: Callable[[int, float, float], None], seed: int, confused=()) -> None:
        """``steps`` batches of personal features (oversampled) + replay; on_step after each.
        ``mine`` = (features, labels) of the personal pool; ``replay`` = (features, the base's
        probabilities, labels) of the replay pictures."""
        s = self.settings
        mine_x, mine_y = mine
        replay_x, replay_p, replay_y = replay
        eye = np.eye(replay_p.shape[1], dtype=np.float32)
        rates = (cosine_rates(s.learning_rate, steps) if s.schedule == "cosine"
                 else np.full(steps, s.learning_rate, np.float32))
        self.loop.run(np.concatenate([mine_x, replay_x]),
                      np.concatenate([eye[mine_y], replay_p if s.distill else eye[replay_y]]),
                      np.concatenate([mine_y, replay_y]),
                      batch_picks(len(mine_x), replay_y, steps, s, seed, confused), rates, on_step)


def batch_picks(mine: int, replay_y: np.ndarray, steps: int, s, seed: int,
                confused=()) -> np.ndarray:
    """(steps, batch) rows of the features teaching draws from: ``mine`` personal ones first
    (drawn with replacement: 10 samples fill 32 places), then the replay's (offset by
    ``mine``): some of the classes the base mistook the samples for, the rest at random."""
    rng = np.random.default_rng(seed)
    personal = min(s.personal_per_batch, s.batch_size - 1)
    pool = np.flatnonzero(np.isin(replay_y, list(confused)))
    contrast = min(s.contrast_per_batch, s.batch_size - personal) if len(pool) else 0
    rows = [rng.integers(0, mine, (steps, personal))]
    if contrast:
        rows.append(mine + pool[rng.integers(0, len(pool), (steps, contrast))])
    rows.append(mine + rng.integers(0, len(replay_y), (steps, s.batch_size - personal - contrast)))
    return np.concatenate(rows, axis=1).astype(np.int32)
