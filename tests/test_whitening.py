"""strided_cnn's first convolution is set from the training pictures and frozen
(models.whiten_first_conv): it must stay as set through a fit, decorrelate the patches, and
the training twin must still compute the model's function with no trainable first layer."""

import numpy as np
import pytest

from training.learn.trainer import fit
from training.protocol.config import TrainingConfig


@pytest.fixture
def tiny_fashion(tiny_data):
    from training.core.datasets import load_dataset

    return load_dataset("fashion_mnist", tiny_data, allow_download=False)


def _patches(images: np.ndarray, k: int) -> np.ndarray:
    windows = np.lib.stride_tricks.sliding_window_view(images / 255.0, (k, k), axis=(1, 2))
    return windows.reshape(-1, k * k)


@pytest.mark.slow
def test_the_first_convolution_is_set_from_the_patches_and_decorrelates_them(tiny_fashion):
    from training.learn.models import PATCH_EPS_SCALE, build_model, whiten_first_conv

    images = tiny_fashion.x_train
    model = whiten_first_conv(build_model("strided_cnn", 0.0), images, patches=200_000)
    conv = model.layers[0]
    assert not conv.trainable and conv.trainable_weights == []
    assert np.all(np.asarray(conv.bias) == 0)
    kernel = np.asarray(conv.kernel).reshape(16, 32)
    np.testing.assert_allclose(kernel[:, 16:], -kernel[:, :16])  # +v and -v: ReLU keeps both
    # The responses of the 16 "+" filters to every patch: uncorrelated, each with the variance
    # lambda / (lambda + eps) of its component (eps = PATCH_EPS_SCALE mean eigenvalues).
    patches = _patches(images, 4)
    moments = patches.T @ patches / len(patches)
    values = np.linalg.eigvalsh(moments)[::-1]
    responses = patches @ kernel[:, :16]
    covariance = responses.T @ responses / len(responses)
    expected = values / (values + PATCH_EPS_SCALE * values.mean())
    np.testing.assert_allclose(np.diag(covariance), expected, rtol=0.05, atol=1e-4)
    off = covariance - np.diag(np.diag(covariance))
    assert np.abs(off).max() < 0.05 * expected.max()


@pytest.mark.slow
def test_a_fit_leaves_the_first_convolution_as_set_and_trains_the_rest(tiny_fashion,
                                                                        monkeypatch):
    from training.learn import models

    set_kernels = []

    monkeypatch.setattr(models, "whiten_first_conv", _recorder(models.whiten_first_conv,
                                                               set_kernels))
    fitted = fit(TrainingConfig(dataset="fashion_mnist", architecture="strided_cnn", epochs=2,
                                batch_size=32, validation_split=0.0, dropout=0.0),
                 dataset=tiny_fashion)
    assert len(set_kernels) == 1  # the trainer set it, once
    conv, second = fitted.model.layers[0], fitted.model.layers[2]
    assert not conv.trainable
    np.testing.assert_array_equal(np.asarray(conv.kernel), set_kernels[0])
    np.testing.assert_array_equal(np.asarray(conv.bias), 0)
    assert second.trainable and np.any(np.asarray(second.bias) != 0)  # the rest learned
    assert len(fitted.model.trainable_weights) == 6


def _recorder(whiten, kernels):
    def recording(model, images, **kwargs):
        whiten(model, images, **kwargs)
        kernels.append(np.asarray(model.layers[0].kernel).copy())
        return model
    return recording


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["strided_cnn", "mid_cnn"])
def test_the_training_twin_of_a_frozen_first_convolution_trains_nothing_of_it(tiny_fashion,
                                                                               architecture):
    import keras

    from training.learn.models import (
        FROZEN_FIRST_CONV, build_model, training_twin, whiten_first_conv)

    assert architecture in FROZEN_FIRST_CONV
    model = whiten_first_conv(build_model(architecture, 0.0), tiny_fashion.x_train)
    twin = training_twin(model)
    assert twin is not model and twin.layers[0].trainable_weights == []
    assert [id(v) for v in twin.trainable_variables] == [id(v) for v in model.trainable_variables]
    kernel = np.asarray(model.layers[0].kernel).copy()
    pictures = tiny_fashion.x_train[:64, :, :, None].astype(np.float32) / 255.0
    np.testing.assert_allclose(np.asarray(twin(pictures)), np.asarray(model(pictures)),
                               atol=1e-5)
    twin.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    twin.fit(pictures, tiny_fashion.y_train[:64], epochs=2, batch_size=16, verbose=0)
    np.testing.assert_array_equal(np.asarray(model.layers[0].kernel), kernel)


@pytest.mark.slow
def test_the_filters_do_not_depend_on_the_signs_eigh_returns(tiny_fashion, monkeypatch):
    """Another CPU's LAPACK may return -v for a component: the frozen filters must be the same
    everywhere (workers of one distributed run each compute them from the same pictures)."""
    from training.learn.models import build_model, whiten_first_conv

    def kernel():
        model = whiten_first_conv(build_model("strided_cnn", 0.0), tiny_fashion.x_train[:200])
        return np.asarray(model.layers[0].kernel)

    here = kernel()
    eigh = np.linalg.eigh

    def flipped(matrix):
        values, vectors = eigh(matrix)
        return values, vectors * np.where(np.arange(vectors.shape[1]) % 2, -1.0, 1.0)

    monkeypatch.setattr(np.linalg, "eigh", flipped)
    np.testing.assert_array_equal(kernel(), here)
