"""The small layers of the mask network, each registered so a ``.keras`` file loads them
with ``safe_mode=True`` (no ``Lambda``)."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="keras_neuromask")
class Standardise(keras.layers.Layer):
    """Per-image standardisation: ``(x - mean(x)) / (std(x) + 1e-3)`` over H, W and C, so the
    encoder sees the same range whether pixels are in [0, 1] or [0, 255]."""

    def call(self, images):
        mean, variance = tf.nn.moments(images, axes=[1, 2, 3], keepdims=True)
        return (images - mean) / (tf.sqrt(variance) + 1e-3)


@keras.saving.register_keras_serializable(package="keras_neuromask")
class ResizeTo(keras.layers.Layer):
    """Resizes ``(N, h, w, D)`` features to ``(N, rows, cols, D)`` bilinearly, antialiased when
    shrinking (a triangle filter as wide as a cell, so every input cell counts); the identity
    at equal size.

    Args:
        size: ``(rows, cols)``.
    """

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = tuple(int(s) for s in size)

    def call(self, features):
        height, width = features.shape[1], features.shape[2]
        if (height, width) == self.size:
            return features
        return tf.image.resize(features, self.size, method="bilinear", antialias=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.size, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "size": list(self.size)}


@keras.saving.register_keras_serializable(package="keras_neuromask")
class ClassSelector(keras.layers.Layer):
    """Conditions features on the class to explain: ``y = x * e[c]``, ``e`` a learned
    ``(classes, D)`` embedding started at 1 (Dabkowski & Gal's class selector).

    Args:
        classes: the classifier's number of classes.
    """

    def __init__(self, classes: int, **kwargs):
        super().__init__(**kwargs)
        self.classes = int(classes)

    def build(self, input_shape):
        features_shape, _ = input_shape
        self.embedding = self.add_weight(shape=(self.classes, int(features_shape[-1])),
                                         initializer="ones", name="embedding")

    def call(self, inputs):
        features, targets = inputs
        selected = tf.gather(self.embedding, tf.cast(tf.reshape(targets, [-1]), tf.int32))
        return features * selected[:, None, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "classes": self.classes}


@keras.saving.register_keras_serializable(package="keras_neuromask")
class CentredLevel(keras.layers.Layer):
    """``w = z - mean_cells(z) + b``: the map's spatial pattern, centred per image and
    channel, plus one learned level ``b = rate * theta`` (started at ``init_value``).

    The level is shared by every image, so the gradient of the area term, the same at every
    cell, moves one scalar instead of every weight of the head at once: without it the masks
    collapsed to zero everywhere within one epoch (the sigmoid then saturates and no gradient
    is left to bring them back).

    ``rate`` multiplies the level's step. Adam moves each weight by about its learning rate
    per step whatever the gradient's size, and the level has to travel units (0 to about -4
    on 32-px shapes, where the masks are small) where the head's weights move by hundredths:
    with ``rate=1`` and Adam at 3e-4 the level had reached -0.59 after 7,500 steps and the
    pattern made up for it by pushing the kept cells up to ``|w| = 327``, out of the
    sigmoid's gradient (docs/amortised.md, "The level's rate").

    Args:
        init_value: the level's start.
        rate: the level's step multiplier (1: a weight like the others, as in files saved
            before it existed).
    """

    def __init__(self, init_value: float = 0.0, rate: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.init_value = float(init_value)
        if not rate > 0:
            raise ValueError(f"Expected rate > 0. Received: {rate!r}")
        self.rate = float(rate)

    def build(self, input_shape):
        self.level = self.add_weight(shape=(), name="level", initializer=
                                     keras.initializers.Constant(self.init_value / self.rate))

    def call(self, values):
        return values - tf.reduce_mean(values, axis=[1, 2], keepdims=True) + (
            self.rate * self.level)

    def get_config(self):
        return {**super().get_config(), "init_value": self.init_value, "rate": self.rate}


__all__ = ["Standardise", "ResizeTo", "ClassSelector", "CentredLevel"]
