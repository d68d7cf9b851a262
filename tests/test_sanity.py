"""Tests for the cascading model-randomisation sanity check (Adebayo et al. 2018)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_neuromask.evaluation.sanity import SanityResult, sanity_check


def _linear_model(h=12, w=12, c=2, seed=0):
    model = keras.Sequential([keras.Input((h, w, c)), keras.layers.Flatten(name="flatten"),
                              keras.layers.Dense(3, name="dense")])
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=(h * w * c, 3)).astype(np.float32), np.zeros(3, "f")])
    return model


def _cnn():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(x))
    rng = np.random.default_rng(1)
    model.set_weights([  # vectors (biases, BN scale and statistics) in [0.5, 1.5]
        (rng.normal(size=w.shape) if w.ndim > 1 else rng.uniform(0.5, 1.5, w.shape))
        .astype(np.float32) for w in model.get_weights()
    ])
    return model


def saliency(model, images, targets):
    """|d logit_target / d x|, max over channels."""
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = tf.gather(model(x, training=False), targets, axis=1, batch_dims=1)
    return np.abs(tape.gradient(score, x).numpy()).max(axis=-1)


def test_users_model_stays_bit_identical_and_is_never_explained():
    model = _cnn()
    before = [w.copy() for w in model.get_weights()]
    flags = [layer.trainable for layer in model.layers]
    seen = []

    def explain(m, images, targets):
        seen.append(m)
        return saliency(m, images, targets)

    images = np.random.default_rng(0).random((2, 8, 8, 3)).astype(np.float32)
    result = sanity_check(explain, model, images, [0, 2])
    assert isinstance(result, SanityResult)
    assert all(m is not model for m in seen)
    after = model.get_weights()
    assert len(after) == len(before)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    assert [layer.trainable for layer in model.layers] == flags


def test_randomising_a_linear_model_decorrelates_gradient_maps():
    model = _linear_model()
    images = np.random.default_rng(2).random((3, 12, 12, 2)).astype(np.float32)
    result = sanity_check(saliency, model, images, [0, 1, 2])
    assert result.layers == ("dense",)
    assert result.correlation.shape == (1, 3)
    assert np.all(np.abs(result.correlation) < 0.3)
    kernel = np.abs(model.get_weights()[0][:, 0].reshape(12, 12, 2)).max(-1)
    np.testing.assert_allclose(result.original_maps[0], kernel, rtol=1e-6)


def test_model_independent_explanation_keeps_correlation_one():
    def edge_detector(model, images, targets):  # ignores the model: must fail the check
        return np.asarray(images).mean(axis=-1)

    images = np.random.default_rng(3).random((2, 8, 8, 3)).astype(np.float32)
    result = sanity_check(edge_detector, _cnn(), images)
    np.testing.assert_allclose(result.correlation, 1.0)


def test_layers_are_randomised_top_first_and_cumulatively():
    model = _cnn()
    snapshots = []

    def explain(m, images, targets):
        snapshots.append({name: m.get_layer(name).get_weights()[0].copy()
                          for name in ("conv", "bn", "head")})
        return saliency(m, images, targets)

    images = np.random.default_rng(4).random((2, 8, 8, 3)).astype(np.float32)
    result = sanity_check(explain, model, images, 1)
    assert result.layers == ("head", "bn", "conv")
    assert result.correlation.shape == (3, 2)
    assert result.randomized_maps.shape == (3, 2, 8, 8)
    original, *steps = snapshots
    changed = [[not np.array_equal(s[name], original[name]) for name in ("head", "bn", "conv")]
               for s in steps]
    assert changed == [[True, False, False], [True, True, False], [True, True, True]]
    np.testing.assert_array_equal(steps[0]["head"], steps[2]["head"])  # stays randomised

    assert sanity_check(explain, model, images, 1, layers=2).layers == ("head", "bn")
    assert sanity_check(explain, model, images, 1, layers=["conv"]).layers == ("conv",)


def test_same_seed_same_maps_other_seed_other_maps():
    images = np.random.default_rng(5).random((2, 8, 8, 3)).astype(np.float32)
    a = sanity_check(saliency, _cnn(), images, 0, seed=1)
    b = sanity_check(saliency, _cnn(), images, 0, seed=1)
    c = sanity_check(saliency, _cnn(), images, 0, seed=2)
    np.testing.assert_array_equal(a.randomized_maps, b.randomized_maps)
    assert not np.array_equal(a.randomized_maps, c.randomized_maps)


def test_bad_arguments_raise_expected_received():
    model = _cnn()
    images = np.zeros((2, 8, 8, 3), np.float32)
    with pytest.raises(ValueError, match="Expected names of layers.*Received"):
        sanity_check(saliency, model, images, 0, layers=["nope"])
    with pytest.raises(ValueError, match="Expected layers in .*Received"):
        sanity_check(saliency, model, images, 0, layers=0)
    with pytest.raises(ValueError, match="Expected explain_fn to return maps.*Received"):
        sanity_check(lambda m, x, t: np.zeros((2, 4, 4)), model, images, 0)
    with pytest.raises(TypeError, match="Expected a callable explain_fn"):
        sanity_check("saliency", model, images, 0)

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(keras.ops.reshape(x, (-1, 8 * 8 * 3)))

    subclassed = Subclassed()
    subclassed(images)
    with pytest.raises(TypeError, match="Expected a model that keras.models.clone_model"):
        sanity_check(saliency, subclassed, images, 0)
