"""The shared update rules against hand computations and Keras' own Adam."""

import keras
import numpy as np
import tensorflow as tf

from keras_neuromask.optimizers import MaskOptimizer, apply_rule, initial_slots


def test_rmsprop_rule_is_tf1_with_accumulator_starting_at_one():
    params, grads = tf.constant([1.0, -2.0]), tf.constant([0.5, 3.0])
    new, (mean_square,) = apply_rule("rmsprop", params, grads,
                                     initial_slots("rmsprop", params), 1, 0.03)
    expected_ms = 0.9 * 1.0 + 0.1 * np.array([0.25, 9.0])
    np.testing.assert_allclose(mean_square, expected_ms, rtol=1e-6)
    np.testing.assert_allclose(new, [1.0, -2.0] - 0.03 * np.array([0.5, 3.0])
                               / np.sqrt(expected_ms + 1e-10), rtol=1e-6)


def test_adam_rule_matches_keras_adam_over_several_steps():
    start = np.array([[0.3, -1.0], [2.0, 0.0]], np.float32)
    reference = keras.Variable(start)
    keras_adam = keras.optimizers.Adam(learning_rate=0.1)
    ours = keras.Variable(start)
    mask_adam = MaskOptimizer("adam", learning_rate=0.1)
    params, slots = tf.constant(start), initial_slots("adam", tf.constant(start))
    for step in range(1, 6):
        grads = tf.constant(np.sin(start * step), tf.float32)
        keras_adam.apply_gradients([(grads, reference)])
        mask_adam.apply_gradients([(grads, ours)])
        params, slots = apply_rule("adam", params, grads, slots, step, 0.1)
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(params.numpy(), reference.numpy(), rtol=1e-6, atol=1e-7)


def test_reset_restarts_the_optimizer_state():
    variable = keras.Variable(np.zeros(3, np.float32))
    optimizer = MaskOptimizer("rmsprop", learning_rate=0.03)
    optimizer.apply_gradients([(tf.ones(3), variable)])
    optimizer.reset()
    assert int(optimizer.iterations.numpy()) == 0
    np.testing.assert_array_equal(optimizer._slots[0][0].numpy(), np.ones(3))
