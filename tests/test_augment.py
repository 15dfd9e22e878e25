"""The digits' augmentation draws the hands MNIST rarely shows (issue #23, item 3): a flag (and
sometimes a base) on some 1s, a bar across some 7s, nothing on other digits."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def _digit(label: int) -> np.ndarray:
    """A 28x28 MNIST-like picture: a 1 is an upright bar, a 7 a top bar and a leaning stem."""
    picture = np.zeros((28, 28), np.float32)
    if label == 1:
        picture[4:24, 13:16] = 1.0
    elif label == 7:
        picture[4:7, 8:20] = 1.0
        for row in range(7, 24):
            column = 19 - (row - 7) * 8 // 17
            picture[row, column - 1:column + 2] = 1.0
    else:  # a ring
        yy, xx = np.mgrid[:28, :28]
        picture[np.abs(np.hypot(yy - 14, xx - 14) - 7) < 1.5] = 1.0
    return picture


def _batch(labels):
    import tensorflow as tf

    pictures = np.stack([_digit(label) for label in labels])[..., None]
    return tf.constant(pictures), tf.constant(labels, tf.int32)


def test_every_one_gets_a_flag_up_left_and_every_seven_a_bar_when_always_drawn(monkeypatch):
    import tensorflow as tf

    from training.learn import augment

    monkeypatch.setattr(augment, "FLAG_RATE", 1.0)
    monkeypatch.setattr(augment, "CROSS_RATE", 1.0)
    labels = [1, 7, 3] * 8
    batch, tensor_labels = _batch(labels)
    drawn, (dx, dy) = augment.add_variant_strokes(batch, tensor_labels,
                                                  tf.random.Generator.from_seed(0))
    added = drawn.numpy()[..., 0] - batch.numpy()[..., 0]
    for i, label in enumerate(labels):
        if label == 1:   # ink left of the stem, in its top half; the picture moves right again
            assert added[i, 4:15, :12].sum() > 2.0, i
            assert dx.numpy()[i] > 0
        elif label == 7:  # a level bar at least 5 px wide, around the middle, none at the top
            rows = np.flatnonzero((added[i] > 0.3).sum(1) >= 5)
            assert len(rows) and 9 <= rows.min() and rows.max() <= 20, i
            assert added[i, :4].sum() == 0
        else:
            assert np.all(added[i] == 0) and dx.numpy()[i] == 0 and dy.numpy()[i] == 0
    assert np.all(added >= 0) and drawn.numpy().max() <= 1.0


def test_at_the_training_rates_some_ones_and_sevens_change_and_no_other_digit():
    import tensorflow as tf

    from training.learn import augment

    labels = [1, 7, 0] * 200
    batch, tensor_labels = _batch(labels)
    drawn, _ = augment.add_variant_strokes(batch, tensor_labels, tf.random.Generator.from_seed(1))
    changed = np.abs(drawn.numpy() - batch.numpy()).reshape(len(labels), -1).max(1) > 0
    labels = np.array(labels)
    # A fair share, not all: most 1s and 7s stay MNIST's own.
    assert 0.2 <= changed[labels == 1].mean() <= 0.5
    assert 0.2 <= changed[labels == 7].mean() <= 0.5
    assert not changed[labels == 0].any()


def test_the_training_pipeline_draws_them(monkeypatch):
    """make_train_dataset with digits' augmentation runs the strokes (every 1 flagged here)."""
    from training.learn import augment

    monkeypatch.setattr(augment, "FLAG_RATE", 1.0)
    monkeypatch.setattr(augment, "BASE_RATE", 1.0)
    x = (np.stack([_digit(1)] * 16) * 255).astype(np.uint8)
    y = np.ones(16, np.int64)
    batch, _ = next(iter(augment.make_train_dataset(x, y, 16, seed=0, augment_for="mnist")))
    plain, _ = next(iter(augment.make_train_dataset(x, y, 16, seed=0, augment_for=None)))
    # A flag and a base widen a bar three pixels wide: far more ink than a warp can add.
    assert batch.numpy().sum() > plain.numpy().sum() * 1.4


@pytest.mark.parametrize("count, batch, epoch", [(40, 16, [16, 16]), (10, 16, [10])])
def test_an_epoch_is_full_batches_and_the_rest_comes_in_later_epochs(count, batch, epoch):
    """One shape for XLA to compile: only full batches (the pictures left over differ from
    epoch to epoch, so every picture is trained on); fewer pictures than a batch: all of them."""
    from training.learn import augment

    x = np.arange(count, dtype=np.uint8)[:, None, None] * np.ones((1, 28, 28), np.uint8)
    dataset = augment.make_train_dataset(x, np.zeros(count, np.int64), batch, seed=0)
    seen = set()
    for _ in range(6):  # epochs
        sizes = []
        for images, _ in dataset:
            sizes.append(len(images))
            seen |= {int(round(v)) for v in images.numpy()[:, 0, 0, 0] * 255}
        assert sizes == epoch
    assert len(epoch) == augment.train_batches(count, batch)
    assert seen == set(range(count))


def test_the_training_pipelines_run_without_tf_datas_autotuner():
    """Each iterator of an autotuned pipeline runs a thread that a freed iterator waits for
    (up to 10 s each in a busy process, docs/benchmarks.md session 20): the pipelines the
    trainer gives Keras keep it off, through the stop gate and the one-hot map after them."""
    from training.learn import augment
    from training.learn.callbacks import StopGate
    from training.learn.trainer import _one_hot

    x, y = np.zeros((40, 28, 28), np.uint8), np.zeros(40, np.int64)
    pipelines = [augment.make_train_dataset(x, y, 16, seed=0, augment_for=kind)
                 for kind in (None, "mnist", "fashion_mnist")]
    pipelines.append(augment.make_eval_dataset(x, y))
    pipelines += [StopGate(lambda: False, every).apply(pipelines[0]) for every in (1, 4)]
    pipelines += [ds.map(_one_hot) for ds in pipelines[:4]]
    assert [ds.options().autotune.enabled for ds in pipelines] == [False] * len(pipelines)
    images, labels = next(iter(pipelines[-1]))
    assert images.shape == (40, 28, 28, 1) and labels.shape == (40, 10)


def _lean_degrees(pictures: np.ndarray) -> np.ndarray:
    """How far each picture's ink leans from upright, from its second moments (degrees)."""
    yy, xx = np.mgrid[:28, :28]
    leans = []
    for picture in pictures[..., 0]:
        w = picture / picture.sum()
        my, mx = (w * yy).sum(), (w * xx).sum()
        cyy, cxx = (w * (yy - my) ** 2).sum(), (w * (xx - mx) ** 2).sum()
        cxy = (w * (yy - my) * (xx - mx)).sum()
        leans.append(abs(np.degrees(0.5 * np.arctan2(2 * cxy, cyy - cxx))))
    return np.array(leans)


def test_teaching_copies_of_one_hand_keep_its_slant():
    """A long-flagged 1 turned by the training warp's 12 degrees (and sheared) is a 7: copies of
    a person's samples are warped less (HAND_WARP), which took the taught hand's new drawings
    from 90-99 % to 98-100 % (bench teach)."""
    from training.learn.augment import HAND_WARP
    from training.learn.teach_head import augmented

    upright = (np.stack([_digit(1)] * 4) * 255).astype(np.uint8)
    hand, _ = augmented(upright, digits=True, seed=0, pool=1024, warp=HAND_WARP)
    training, _ = augmented(upright, digits=True, seed=0, pool=1024)
    assert _lean_degrees(hand).max() <= 10.5
    assert np.percentile(_lean_degrees(training), 90) > 12
