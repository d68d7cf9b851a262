"""Tiny classifiers shared by the tests: built here, never downloaded."""

from __future__ import annotations

import keras
import numpy as np
import pytest

PATCH = (slice(8, 16), slice(16, 24))  # rows, cols of the oracle's patch in a 32x32 image


def checkerboard(size: int) -> np.ndarray:
    """A +-1 checkerboard of ``size`` x ``size``."""
    return np.where(np.add.outer(np.arange(size), np.arange(size)) % 2 == 0, 1.0, -1.0)


def oracle_classifier(size: int = 32, softmax: bool = False, scale: float = 12.0):
    """A classifier whose decision depends only on the texture of one known 8x8 patch.

    ``logit_c = scale * mean(checkerboard * x[patch, c])``: class c is the channel whose
    patch carries a checkerboard. Blur, zero, mean and noise baselines all erase it.
    """
    rows, cols = PATCH
    inputs = keras.Input((size, size, 3))
    patch = keras.layers.Cropping2D(((rows.start, size - rows.stop),
                                     (cols.start, size - cols.stop)))(inputs)
    conv = keras.layers.Conv2D(3, 8, use_bias=True, name="texture")
    logits = keras.layers.Flatten()(conv(patch))
    outputs = keras.layers.Activation("softmax")(logits) if softmax else logits
    model = keras.Model(inputs, outputs)
    kernel = np.zeros((8, 8, 3, 3), np.float32)
    for channel in range(3):
        kernel[:, :, channel, channel] = checkerboard(8) * scale / 64.0
    conv.set_weights([kernel, np.zeros(3, np.float32)])
    return model


def oracle_images(count: int = 3, size: int = 32, seed: int = 0) -> np.ndarray:
    """Noisy images whose oracle patch carries a checkerboard in channel ``i % 3``."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.2, 0.8, (count, size, size, 3)).astype(np.float32)
    rows, cols = PATCH
    for i in range(count):
        images[i, rows, cols, i % 3] = 0.5 + 0.4 * checkerboard(8)
    return images


def oracle_object(size: int = 32) -> np.ndarray:
    """The oracle patch as a boolean (size, size) map."""
    mask = np.zeros((size, size), bool)
    mask[PATCH] = True
    return mask


def small_cnn(size: int = 16, channels: int = 3, classes: int = 4, seed: int = 0):
    """A small random functional CNN that outputs logits."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, channels))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes)(x))


@pytest.fixture
def oracle():
    return oracle_classifier()


@pytest.fixture
def cnn():
    return small_cnn()
