import numpy as np
import pytest

from training.core.datasets import load_dataset
from training.learn.trainer import confusion_matrix, train
from training.protocol.config import ConfigError, TrainingConfig


@pytest.fixture
def tiny_mnist(tiny_data):
    return load_dataset("mnist", tiny_data, allow_download=False)


@pytest.mark.slow
def test_one_epoch_on_a_few_hundred_images_returns_a_complete_result(tiny_data):
    events = []
    config = TrainingConfig(dataset="mnist", architecture="compact_cnn", epochs=1, batch_size=32,
                            validation_split=0.2, data_dir=str(tiny_data))
    result = train(config, progress=events.append)
    assert result.status == "finished" and result.epochs_completed == 1
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 1 for v in result.history.values())
    assert result.confusion.shape == (10, 10) and result.confusion.sum() == 100
    assert 0 <= result.test_accuracy <= 1 and np.isfinite(result.test_loss)
    wrong = result.misclassified
    assert len(wrong) == 100 - np.trace(result.confusion)
    assert result.model.output_shape == (None, 10)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "train_begin" and kinds[-1] == "train_end" and "epoch" in kinds
    batch = next(e for e in events if e["event"] == "batch")
    assert {"loss", "accuracy", "batch", "steps", "eta_seconds", "epoch"} <= set(batch)
    assert batch["steps"] == 7  # 240 training images in full batches of 32


@pytest.mark.slow
def test_the_model_learns_the_synthetic_classes(tiny_mnist):
    config = TrainingConfig(architecture="lecture_dense", epochs=8, batch_size=16,
                            learning_rate=3e-3, validation_split=0.0, dropout=0.0)
    result = train(config, dataset=tiny_mnist)
    assert result.test_accuracy > 0.8  # chance is 0.1


@pytest.mark.slow
@pytest.mark.parametrize("architecture, optimizer, augment", [
    ("lecture_cnn", "rmsprop", False), ("wide_cnn", "sgd", True), ("lecture_dense", "adam", True),
])
def test_every_architecture_and_optimizer_trains(tiny_mnist, architecture, optimizer, augment):
    config = TrainingConfig(architecture=architecture, optimizer=optimizer, augment=augment,
                            epochs=1, batch_size=64, lr_schedule="constant", learning_rate=1e-3)
    result = train(config, dataset=tiny_mnist)
    assert result.status == "finished" and np.isfinite(result.history["loss"][0])


@pytest.mark.slow
def test_stop_takes_effect_within_one_batch_and_still_evaluates(tiny_mnist):
    polls = []

    def should_stop():
        polls.append(1)
        return len(polls) >= 4  # one poll before the first batch, then one after each batch

    config = TrainingConfig(epochs=5, batch_size=16, validation_split=0.1)
    result = train(config, should_stop=should_stop, dataset=tiny_mnist)
    assert result.stopped
    assert int(result.model.optimizer.iterations.numpy()) == 3  # no batch ran after the stop
    assert len(polls) <= 5
    assert result.epochs_completed == 0 and result.history["loss"] == []
    assert result.confusion.sum() == 100  # the partial model was still evaluated


@pytest.mark.slow
def test_stop_before_start_trains_nothing(tiny_mnist):
    result = train(TrainingConfig(epochs=3), should_stop=lambda: True, dataset=tiny_mnist)
    assert result.stopped and int(result.model.optimizer.iterations.numpy()) == 0


@pytest.mark.slow
def test_same_seed_same_model(tiny_mnist):
    config = TrainingConfig(architecture="lecture_dense", epochs=1, batch_size=32, seed=7)
    first = train(config, dataset=tiny_mnist).history["loss"]
    second = train(TrainingConfig(**config.to_dict()), dataset=tiny_mnist).history["loss"]
    assert first == pytest.approx(second, rel=1e-5)


@pytest.mark.parametrize("field, value", [
    ("dataset", "cifar"), ("architecture", "resnet"), ("optimizer", "adagrad"),
    ("learning_rate", 0), ("learning_rate", float("nan")), ("epochs", 0), ("epochs", 2.5),
    ("batch_size", 0), ("validation_split", 0.9), ("dropout", 1.0), ("seed", -1),
    ("precision", "float16"), ("lr_schedule", "step"), ("epochs", True),
])
def test_invalid_configs_are_refused_with_the_field_named(field, value):
    with pytest.raises(ConfigError, match=field):
        TrainingConfig(**{field: value}).validate()


def test_config_round_trips_through_a_dict():
    config = TrainingConfig(dataset="fashion_mnist", epochs=4, augment=True)
    assert TrainingConfig.from_dict({**config.to_dict(), "unknown": 1}) == config


def test_confusion_matrix_counts_pairs():
    matrix = confusion_matrix(np.array([0, 1, 1, 9]), np.array([0, 2, 1, 9]))
    assert matrix[0, 0] == 1 and matrix[1, 2] == 1 and matrix[1, 1] == 1 and matrix.sum() == 4


@pytest.mark.slow
def test_fit_then_evaluate_and_a_temperature_even_without_a_validation_split(tiny_mnist):
    """Issue #20: ``fit`` gives a model that can be kept before ``evaluate`` measures it; with
    no validation split the temperature is fitted on the first half of the test set (and its
    figures measured on the other half), so every trained model is calibrated."""
    from training.learn.trainer import evaluate, fit

    events = []
    fitted = fit(TrainingConfig(architecture="lecture_dense", epochs=2, batch_size=32,
                                validation_split=0.0), events.append, dataset=tiny_mnist)
    assert fitted.status == "finished" and fitted.epochs_completed == 2
    assert "evaluate_begin" not in [e["event"] for e in events]  # not measured yet
    assert set(fitted.metadata()) >= {"config", "history", "status", "class_names"}
    assert "test_accuracy" not in fitted.metadata()
    result = evaluate(fitted, events.append)
    assert [e["event"] for e in events][-2:] == ["evaluate_begin", "train_end"]
    block = result.metadata()["calibration"]
    assert result.metadata()["temperature"] == block["temperature"] > 0
    assert block["fitted_on"] == "first 50 official test images" and block["eval_images"] == 50


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["strided_cnn", "wide_cnn", "compact_cnn", "mid_cnn"])
def test_the_training_twin_is_the_same_function_on_the_same_variables(architecture):
    """Issue #22: a strided (or plain) first convolution and its 2x2 pooling are trained as one
    convolution over the four pooling phases; training the twin trains the model itself: the
    same outputs and the same gradients, on the same variables."""
    import keras
    import tensorflow as tf

    from training.learn.models import build_model, training_twin

    model = build_model(architecture, 0.0)
    twin = training_twin(model)
    assert twin is not model and len(twin.layers) < len(model.layers)  # rewritten
    assert [id(v) for v in twin.trainable_variables] == [id(v) for v in model.trainable_variables]
    rng = np.random.default_rng(0)
    for variable in model.trainable_variables:  # biases too (a new model's are all zero)
        variable.assign(rng.normal(0.0, 0.1, variable.shape).astype(np.float32))
    pictures = (rng.random((8, 28, 28, 1)) * (rng.random((8, 28, 28, 1)) > 0.5)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(twin(pictures)), np.asarray(model(pictures)), atol=1e-6)
    labels = np.arange(8) % 10

    def gradients(net):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
                labels, net(pictures, training=True)))
        return tape.gradient(loss, net.trainable_variables)

    for ours, theirs in zip(gradients(twin), gradients(model)):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), atol=1e-5)
    dense = build_model("lecture_dense")
    assert training_twin(dense) is dense
