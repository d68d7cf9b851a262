"""Known-answer tests of the loss terms."""

import numpy as np
import tensorflow as tf

from keras_neuromask import losses


def test_preservation_is_logsumexp_minus_target_logit():
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 5.0]], np.float32)
    expected = np.log(np.exp(logits).sum(1)) - logits[[0, 1], [2, 0]]
    got = losses.preservation(tf.constant(logits), tf.constant([2, 0]), from_logits=True)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_preservation_on_probabilities_is_minus_log_p_without_second_softmax():
    probs = np.array([[0.1, 0.7, 0.2]], np.float32)
    got = losses.preservation(tf.constant(probs), tf.constant([1]), from_logits=False)
    np.testing.assert_allclose(got, [-np.log(0.7)], rtol=1e-6)


def test_deletion_is_minus_log_of_the_other_classes_mass():
    logits = np.array([[1.0, 2.0, 3.0], [20.0, 0.0, 0.0]], np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    targets = tf.constant([2, 0])
    expected = [-np.log(1 - probs[0, 2]), np.log1p(np.exp(-20.0) * 2) - np.log(2) + 20.0]
    np.testing.assert_allclose(losses.deletion(tf.constant(logits), targets, from_logits=True),
                               expected, rtol=1e-5)
    np.testing.assert_allclose(losses.deletion(tf.constant(probs), targets, from_logits=False),
                               expected[:1] + [-np.log(probs[1, 1:].sum())], rtol=1e-4)


def test_parameter_l1_is_zero_at_minus_limit_and_mean_abs_elsewhere():
    params = np.full((2, 4, 4, 1), -10.0, np.float32)
    params[1] = 0.0
    np.testing.assert_allclose(losses.parameter_l1(tf.constant(params), 10.0), [0.0, 10.0])


def test_mask_l1_is_the_kept_share():
    mask = np.zeros((1, 4, 4, 1), np.float32)
    mask[0, :2] = 1.0
    np.testing.assert_allclose(losses.mask_l1(tf.constant(mask)), [0.5])


def test_laplacian_kernel_is_the_reference_filter():
    np.testing.assert_array_equal(losses.laplacian_kernel(3)[..., 0, 0],
                                  [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])
    assert losses.laplacian_kernel(5)[2, 2, 0, 0] == 24
    assert losses.laplacian_kernel(5).sum() == 0


def test_laplacian_energy_is_zero_on_constant_and_hand_value_on_a_spike():
    constant = tf.fill((1, 6, 6, 1), 3.0)
    np.testing.assert_allclose(losses.laplacian_energy(constant, 3), [0.0], atol=1e-6)
    spike = np.zeros((1, 5, 5, 1), np.float32)
    spike[0, 2, 2] = 1.0
    # VALID 3x3 response on 3x3 outputs: centre 8, eight neighbours -1 -> mean = (64 + 8) / 9
    np.testing.assert_allclose(losses.laplacian_energy(tf.constant(spike), 3), [72 / 9],
                               rtol=1e-6)


def test_total_variation_of_a_vertical_edge():
    mask = np.zeros((1, 4, 4, 1), np.float32)
    mask[0, :, 2:] = 1.0
    # rows: no change; cols: 4 jumps of 1 among 4 x 3 pairs
    np.testing.assert_allclose(losses.total_variation(tf.constant(mask)), [4 / 12], rtol=1e-6)


def test_perimeter_counts_the_outline_where_plain_total_variation_skips_the_border():
    inner = np.zeros((1, 6, 6, 1), np.float32)
    inner[0, 2:4, 2:4] = 1.0  # a 2x2 square inside: outline 8 either way
    edge = np.zeros((1, 6, 6, 1), np.float32)
    edge[0, 4:6, 2:4] = 1.0  # the same square on the bottom border: 6 inside, 8 with it
    pairs_padded = 7 * 8  # (rows + 2 - 1) x (cols + 2) vertical pairs, and as many across
    np.testing.assert_allclose(losses.perimeter(tf.constant(inner)), [8 / pairs_padded * 1],
                               rtol=1e-6)
    np.testing.assert_allclose(losses.perimeter(tf.constant(edge)),
                               losses.perimeter(tf.constant(inner)), rtol=1e-6)
    plain = losses.total_variation(tf.constant(np.concatenate([inner, edge]))).numpy()
    assert plain[1] < plain[0]  # the bias the perimeter removes


def test_area_gap_is_zero_for_a_binary_mask_of_exactly_the_area_and_positive_otherwise():
    mask = np.zeros((3, 10, 10, 1), np.float32)
    mask[0, :2] = 1.0  # 20% kept, binary
    mask[1] = 0.2  # 20% on average, but grey: (1-0.2)^2 on 20 pixels + 0.2^2 on 80
    mask[2, :3] = 1.0  # 30% kept
    got = losses.area_gap(tf.constant(mask), 0.2).numpy()
    np.testing.assert_allclose(got, [0.0, (20 * 0.64 + 80 * 0.04) / 100, 10 / 100], atol=1e-7)
    np.testing.assert_allclose(losses.sparsity("area", None, tf.constant(mask), 10.0, 0.2),
                               got)
