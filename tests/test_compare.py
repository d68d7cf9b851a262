"""The comparison contract: every method, every kind of model, known answers, model untouched."""

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import oracle_classifier, oracle_images, oracle_object, small_cnn

from keras_neuromask.evaluation.compare import (
    METHODS,
    MethodResult,
    get_method,
    method_names,
)
from keras_neuromask.evaluation.vis_methods import (
    direct_predict,
    normalize_maps,
    prepare_classifier,
)

# Options that keep each method to well under a second on a 16x16 model.
FAST = {"smoothgrad": {"smooth_samples": 3}, "rise": {"num_masks": 64, "batch_size": 32},
        "neuromask": {"steps": 5}}
CAMS = ("gradcam", "gradcam++", "scorecam", "layercam")


def sequential_softmax(size=16, classes=3, seed=1):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((size, size, 3)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_b"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(classes, activation="softmax", name="head"),
    ])


def logits_twin(model):
    """The same network as ``sequential_softmax`` with a linear head, same weights."""
    twin = keras.Sequential([keras.Input(model.input_shape[1:])] + [
        layer.__class__.from_config({**layer.get_config(), "activation": "linear"}
                                    if layer.name == "head" else layer.get_config())
        for layer in model.layers])
    twin.set_weights(model.get_weights())
    return twin


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    sequential_softmax().save(folder / "sequential.keras")
    small_cnn(size=16).save(folder / "functional.keras")
    return {"sequential": sequential_softmax(), "functional": small_cnn(size=16),
            "loaded": keras.saving.load_model(folder / "sequential.keras"),
            "loaded_functional": keras.saving.load_model(folder / "functional.keras")}


def images(count=2, size=16, seed=0):
    return np.random.default_rng(seed).uniform(size=(count, size, size, 3)).astype(np.float32)


def snapshot(model):
    return ([w.copy() for w in model.get_weights()],
            [layer.get_config() for layer in model.layers])


@pytest.mark.parametrize("kind", ["sequential", "functional", "loaded", "loaded_functional"])
@pytest.mark.parametrize("name", method_names())
def test_every_method_gives_normalised_finite_maps_and_leaves_the_model_untouched(
        models, kind, name):
    model = models[kind]
    weights, configs = snapshot(model)
    result = get_method(name, **FAST.get(name, {}))(model, images(), [0, 1])
    assert isinstance(result, MethodResult)
    assert result.maps.shape == (2, 16, 16) and result.maps.dtype == np.float32
    assert np.all(np.isfinite(result.maps))
    assert result.maps.min() >= 0.0 and result.maps.max() <= 1.0
    assert np.allclose(result.maps.max(axis=(1, 2)), 1.0)  # per image, not per batch
    assert result.seconds_per_image > 0
    after_weights, after_configs = snapshot(model)
    for a, b in zip(weights, after_weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert configs == after_configs


def test_registry_names_are_stable_and_build_their_class():
    assert method_names() == ("neuromask", "saliency", "smoothgrad", "gradcam", "gradcam++",
                              "scorecam", "layercam", "rise")
    for name in method_names():
        assert isinstance(get_method(name), METHODS[name])
    with pytest.raises(ValueError, match="Expected a method name"):
        get_method("lime")


def test_unknown_or_reserved_options_raise_at_construction():
    with pytest.raises(TypeError, match="Expected options of tf-keras-vis Gradcam"):
        get_method("gradcam", smooth_samples=3)
    with pytest.raises(TypeError, match="penultimate_layer"):
        get_method("gradcam", penultimate_layer=-1)
    with pytest.raises(TypeError):
        get_method("rise", masks=10)


def test_softmax_model_is_explained_on_its_logits(models):
    model = models["sequential"]
    prepared = prepare_classifier(model)
    assert prepared.logits
    x = images()
    np.testing.assert_allclose(tf.nn.softmax(prepared.model(x)), model(x), atol=1e-6)
    for name in ("saliency", "gradcam"):
        on_softmax = get_method(name)(model, x, [0, 2]).maps
        on_logits = get_method(name)(logits_twin(model), x, [0, 2]).maps
        np.testing.assert_allclose(on_softmax, on_logits, atol=1e-6)


def test_cam_maps_match_tf_keras_vis_used_as_documented_on_a_functional_model():
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    model = small_cnn(size=16)
    x = images()
    reference = Gradcam(model, model_modifier=ReplaceToLinear())(
        CategoricalScore([1, 3]), x, penultimate_layer="last_conv", normalize_cam=False)
    ours = get_method("gradcam", layer="last_conv")(model, x, [1, 3]).maps
    np.testing.assert_allclose(ours, normalize_maps(reference), atol=1e-5)


def test_targets_none_explains_the_predicted_class(models):
    model = models["functional"]
    x = images(3)
    predicted = np.argmax(model.predict_on_batch(x), axis=-1)
    for name in ("saliency", "layercam"):
        np.testing.assert_array_equal(get_method(name)(model, x).maps,
                                      get_method(name)(model, x, predicted).maps)


def cnn_with(prefix=None):
    """``small_cnn`` (same seed, same weights) with an optional first layer inside."""
    keras.utils.set_random_seed(0)
    image = keras.Input((16, 16, 3))
    x = image if prefix is None else prefix(image)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(image, keras.layers.Dense(4)(x))


@pytest.mark.parametrize("name", ["saliency", "gradcam", "rise"])
def test_preprocess_outside_the_model_equals_preprocess_inside(name):
    def preprocess(x):
        return x * 2.0 - 1.0

    outside_model, inside_model = cnn_with(), cnn_with(keras.layers.Rescaling(2.0, -1.0))
    for a, b in zip(outside_model.get_weights(), inside_model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    x = images()
    options = {"rise": {"num_masks": 64}}.get(name, {})
    outside = get_method(name, preprocess=preprocess, **options)(outside_model, x, [0, 1]).maps
    inside = get_method(name, **options)(inside_model, x, [0, 1]).maps
    np.testing.assert_allclose(outside, inside, atol=1e-4)


def test_cam_of_a_nested_backbone_equals_cam_of_the_flat_model():
    keras.utils.set_random_seed(3)
    backbone_in = keras.Input((16, 16, 3))
    features = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(backbone_in)
    backbone = keras.Model(backbone_in, features, name="backbone")
    image = keras.Input((16, 16, 3))
    head = keras.layers.Dense(3, activation="softmax")
    nested = keras.Model(image, head(keras.layers.GlobalAveragePooling2D()(backbone(image))))
    flat_features = backbone.layers[1](image)
    flat = keras.Model(image, head(keras.layers.GlobalAveragePooling2D()(flat_features)))
    x = images()
    on_nested = get_method("gradcam")(nested, x, [0, 2]).maps  # auto: the backbone's output
    on_flat = get_method("gradcam")(flat, x, [0, 2]).maps
    np.testing.assert_allclose(on_nested, on_flat, atol=1e-5)


def test_cam_layer_option_accepts_name_index_and_layer_and_rejects_bad_layers(models):
    model = models["sequential"]
    x = images()
    by_name = get_method("gradcam", layer="conv_b")(model, x, [0, 1]).maps
    by_index = get_method("gradcam", layer=2)(model, x, [0, 1]).maps
    by_layer = get_method("gradcam", layer=model.get_layer("conv_b"))(model, x, [0, 1]).maps
    auto = get_method("gradcam")(model, x, [0, 1]).maps  # the last 4-D output: conv_b
    np.testing.assert_array_equal(by_name, by_index)
    np.testing.assert_array_equal(by_name, by_layer)
    np.testing.assert_array_equal(auto, by_name)
    with pytest.raises(ValueError, match="4-D output"):
        get_method("gradcam", layer="head")(model, x)
    with pytest.raises(ValueError, match="top-level layer"):
        get_method("gradcam", layer="nope")(model, x)
    dense_only = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                                   keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="4-D output"):
        get_method("layercam")(dense_only, np.zeros((1, 4, 4, 1), np.float32))


def test_smoothgrad_repeats_with_its_seed_and_restores_numpy_state(models):
    model = models["functional"]
    x = images()
    np.random.seed(123)
    expected_next = np.random.random()
    np.random.seed(123)
    first = get_method("smoothgrad", smooth_samples=4, seed=7)(model, x, [0, 1]).maps
    assert np.random.random() == expected_next
    second = get_method("smoothgrad", smooth_samples=4, seed=7)(model, x, [0, 1]).maps
    other = get_method("smoothgrad", smooth_samples=4, seed=8)(model, x, [0, 1]).maps
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_a_cached_copy_follows_weight_changes_of_the_same_model():
    model = small_cnn(size=16)
    x = images()
    method = get_method("saliency")
    before = method(model, x, [0, 1]).maps
    model.set_weights([w * 1.5 + 0.1 for w in model.get_weights()])
    after = method(model, x, [0, 1]).maps
    np.testing.assert_allclose(after, get_method("saliency")(model, x, [0, 1]).maps, atol=1e-6)
    assert not np.allclose(before, after)


def test_normalize_maps_is_min_max_per_image_and_zero_for_constant_maps():
    maps = np.array([[[1.0, 3.0], [2.0, 5.0]], [[4.0, 4.0], [4.0, 4.0]]])
    expected = np.array([[[0.0, 0.5], [0.25, 1.0]], [[0.0, 0.0], [0.0, 0.0]]], np.float32)
    np.testing.assert_array_equal(normalize_maps(maps), expected)


# ------------------------------------------------------------------ known answers
PATCH = (slice(4, 8), slice(9, 13))
DECOY = (slice(10, 14), slice(2, 6))


def patch_classifier(softmax):
    """logit_0 = 5 * sum over PATCH of relu(red - 0.85); logit_1 = 6 (a constant).

    A second feature channel, relu(green - 0.85), fires on the DECOY but no logit reads it.
    The feature maps are full resolution, so CAMs need no upsampling.
    """
    image = keras.Input((16, 16, 3))
    detect = keras.layers.Conv2D(2, 1, activation="relu", name="detect")
    head = keras.layers.Dense(2, activation="softmax" if softmax else None)
    model = keras.Model(image, head(keras.layers.Flatten()(detect(image))))
    kernel = np.zeros((1, 1, 3, 2), np.float32)
    kernel[0, 0, 0, 0] = kernel[0, 0, 1, 1] = 1.0
    detect.set_weights([kernel, np.full(2, -0.85, np.float32)])
    dense = np.zeros((16, 16, 2, 2), np.float32)
    dense[PATCH[0], PATCH[1], 0, 0] = 5.0
    head.set_weights([dense.reshape(-1, 2), np.array([0.0, 6.0], np.float32)])
    return model


def patch_images(count=2, seed=0):
    x = np.random.default_rng(seed).uniform(0.1, 0.8, (count, 16, 16, 3)).astype(np.float32)
    x[:, PATCH[0], PATCH[1], 0] = 1.0
    x[:, DECOY[0], DECOY[1], 1] = 1.0
    return x


def in_region(maps, region):
    inside = np.zeros(maps.shape[1:], bool)
    inside[region] = True
    peaks = [np.unravel_index(np.argmax(m), m.shape) for m in maps]
    return [bool(inside[p]) for p in peaks]


@pytest.mark.parametrize("name", ["saliency", "smoothgrad", *CAMS, "rise"])
def test_maps_peak_on_the_patch_the_decision_reads_not_on_the_decoy(name):
    model = patch_classifier(softmax=True)
    x = patch_images()
    assert np.all(np.argmax(model.predict_on_batch(x), -1) == 0)
    options = {"smoothgrad": {"smooth_samples": 5}, "rise": {"num_masks": 500,
                                                             "grid_size": 4}}.get(name, {})
    maps = get_method(name, **options)(model, x, 0).maps
    assert in_region(maps, PATCH) == [True, True]
    assert maps[:, PATCH[0], PATCH[1]].mean() > 2 * maps[:, DECOY[0], DECOY[1]].mean()


@pytest.mark.parametrize("name", ["saliency", "rise", "neuromask"])
def test_maps_peak_on_the_oracle_patch(name):
    model = oracle_classifier()
    x = oracle_images(3)
    options = {"rise": {"num_masks": 500}, "neuromask": {"steps": 150}}.get(name, {})
    maps = get_method(name, **options)(model, x, [0, 1, 2]).maps
    inside = oracle_object()
    assert all(inside[np.unravel_index(np.argmax(m), m.shape)] for m in maps)
    assert maps[:, inside].mean() > 1.5 * maps[:, ~inside].mean()


# ------------------------------------------------------------------ tf-keras-vis drop-in
@pytest.mark.filterwarnings("ignore:The structure of `inputs`")  # tf-keras-vis's own call
def test_neuromaskvis_takes_a_categorical_score_and_returns_what_neuromask_explains(models):
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.utils.scores import CategoricalScore

    from keras_neuromask import NeuroMask
    from keras_neuromask.evaluation.vis_methods import NeuroMaskVis

    model = models["functional"]
    x = images(2)
    vis = NeuroMaskVis(model, steps=5)
    maps = vis(CategoricalScore([2, 1]), x)
    reference = NeuroMask(model, steps=5).explain(x, [2, 1])
    assert isinstance(maps, np.ndarray)
    assert maps.shape == Saliency(model)(CategoricalScore([2, 1]), x).shape == (2, 16, 16)
    np.testing.assert_allclose(maps, normalize_maps(reference.masks), atol=1e-6)
    np.testing.assert_array_equal(vis.last_explanation.targets, [2, 1])
    raw = vis(CategoricalScore(3), x, normalize_map=False)  # one index for every image
    np.testing.assert_array_equal(vis.last_explanation.targets, [3, 3])
    assert raw.min() >= 0.0 and raw.max() <= 1.0
    as_list = vis([CategoricalScore([0, 0])], [x], penultimate_layer=-1)
    assert isinstance(as_list, list) and as_list[0].shape == (2, 16, 16)


def test_neuromaskvis_rejects_what_it_cannot_honour(models):
    from tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayer, ReplaceToLinear
    from tf_keras_vis.utils.scores import BinaryScore, CategoricalScore

    from keras_neuromask.evaluation.vis_methods import NeuroMaskVis

    model = models["sequential"]
    NeuroMaskVis(model, model_modifier=ReplaceToLinear(), clone=True, steps=2)
    with pytest.raises(ValueError, match="model_modifier"):
        NeuroMaskVis(model, model_modifier=ExtractIntermediateLayer("conv_b"))
    vis = NeuroMaskVis(model, steps=2)
    with pytest.raises(TypeError, match="CategoricalScore"):
        vis(BinaryScore(True), images(1))
    with pytest.raises(ValueError, match="one per image"):
        vis(CategoricalScore([0, 1, 2]), images(2))
    with pytest.raises(TypeError, match="smooth_samples"):
        vis(CategoricalScore(0), images(1), smooth_samples=3)
    assert model.layers[-1].activation is keras.activations.softmax


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(4, 3, padding="same", activation="relu")
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(3)

    def call(self, x):
        return self.head(self.pool(self.conv(x)))


def test_a_subclassed_model_gets_gradient_and_rise_maps_and_a_clear_error_for_cams():
    keras.utils.set_random_seed(0)
    model = _Subclassed()
    x = images()
    model(x)
    weights = [w.copy() for w in model.get_weights()]
    method = get_method("saliency")
    for _ in range(2):  # the second call reuses the cached wrapper
        maps = method(model, x, [0, 1]).maps
        assert maps.shape == (2, 16, 16) and np.all(np.isfinite(maps))
    assert get_method("rise", num_masks=32)(model, x, [0, 1]).maps.shape == (2, 16, 16)
    with pytest.raises(TypeError, match="Sequential or functional"):
        get_method("gradcam")(model, x, [0, 1])
    for a, b in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="built model"):
        get_method("saliency")(_Subclassed(), x)


@pytest.mark.parametrize("name", ["saliency", "smoothgrad", "rise", "neuromask"])
def test_default_options_find_the_oracle_patch(name):
    model = oracle_classifier(softmax=True)
    result = get_method(name)(model, oracle_images(3), [0, 1, 2])
    inside = oracle_object()
    assert all(inside[np.unravel_index(np.argmax(m), m.shape)] for m in result.maps)
    assert result.maps[:, inside].mean() > 1.5 * result.maps[:, ~inside].mean()


def test_methods_in_turn_on_new_copies_and_batch_sizes_trigger_no_retracing(caplog):
    # Each method calls its own copy of the model; through `predict`/`predict_on_batch` every
    # copy traced one more predict function, and TensorFlow warned "... triggered tf.function
    # retracing" (the neuromask demo's log).
    model, x = small_cnn(size=16), images(3)
    with caplog.at_level(logging.WARNING):
        for count in (3, 2, 1):
            for name in method_names():
                get_method(name, **FAST.get(name, {}))(model, x[:count])
    retracing = [r.getMessage() for r in caplog.records if "retracing" in r.getMessage()]
    assert not retracing, retracing[0]


def test_direct_predict_equals_predict_for_arrays_and_lists_of_one(models):
    model, x = models["functional"], images(5)
    expected = model.predict(x, verbose=0)
    for given, batch_size in ((x, None), ([x], 2), ((x,), 5)):
        np.testing.assert_allclose(direct_predict(model, given, batch_size), expected,
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="Expected one input array. Received: 2"):
        direct_predict(model, [x, x])


def gmp_cnn(size=16, classes=3, seed=2):
    """As conftest's small_cnn, with global max pooling: the gradient on the CAM layer is
    non-zero only where each channel peaks."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalMaxPooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes)(x))


def test_gradcam_plus_plus_equals_layercam_on_a_global_average_pooling_head_only():
    """Not a wrapper bug: with GAP then dense after the CAM layer, the gradient g_k is the same
    at every position, so tf-keras-vis's Grad-CAM++ (alphas normalised to sum 1 over the
    positions) weighs channel k by relu(g_k) exactly as LayerCAM does at every pixel; after
    min-max normalisation the maps are equal. EfficientNet-Lite1's head is GAP + dense too,
    hence the identical photo numbers. With global max pooling they differ."""
    batch = images(3)
    for model, same in ((small_cnn(size=16), True), (gmp_cnn(), False)):
        plus = get_method("gradcam++", layer="last_conv")(model, batch, [0, 1, 2]).maps
        layer = get_method("layercam", layer="last_conv")(model, batch, [0, 1, 2]).maps
        grad = get_method("gradcam", layer="last_conv")(model, batch, [0, 1, 2]).maps
        assert np.allclose(plus, layer, atol=1e-5) == same
        assert not np.allclose(plus, grad, atol=1e-3)  # Grad-CAM keeps negative weights
