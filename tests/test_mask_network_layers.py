"""The mask network's layers (keras_neuromask.amortised.layers): the centred pattern and its
level, whose step is ``rate`` times the head's."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_neuromask.amortised.layers import CentredLevel


def test_the_pattern_is_centred_per_image_and_the_level_added():
    values = np.arange(16, dtype=np.float32).reshape(2, 2, 2, 2)
    out = CentredLevel(init_value=-1.5, rate=100.0)(tf.constant(values)).numpy()
    expected = values - values.mean(axis=(1, 2), keepdims=True) - 1.5
    np.testing.assert_allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize("rate", [1.0, 100.0])
def test_one_adam_step_moves_the_level_by_rate_times_the_learning_rate(rate):
    layer, zeros = CentredLevel(rate=rate), tf.zeros((1, 2, 2, 1))
    layer.build(zeros.shape)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(zeros))  # d loss / d level > 0: the step lowers it
    keras.optimizers.Adam(1e-3).apply(tape.gradient(loss, layer.trainable_weights),
                                      layer.trainable_weights)
    assert float(layer(zeros)[0, 0, 0, 0]) == pytest.approx(-rate * 1e-3, rel=1e-3)


def test_a_config_saved_before_the_rate_existed_loads_with_rate_one():
    config = CentredLevel(init_value=0.5, rate=100.0).get_config()
    config.pop("rate")
    layer = CentredLevel.from_config(config)
    assert layer.rate == 1.0
    np.testing.assert_allclose(layer(tf.zeros((1, 2, 2, 1))).numpy(), 0.5)
    assert float(layer.level.numpy()) == 0.5  # the stored weight means the level itself


def test_a_rate_that_is_not_positive_is_refused():
    with pytest.raises(ValueError, match="Expected rate > 0. Received: 0"):
        CentredLevel(rate=0)
