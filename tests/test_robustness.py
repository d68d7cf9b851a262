"""Issue 5: bad input to every public entry point, the user's model, faults and security.

Every refusal must be a ``ValueError`` / ``TypeError`` whose message starts with "Expected"
and names what was received.
"""

import os
import pathlib
import re
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import small_cnn
from PIL import Image

from keras_neuromask import NeuroMask, export_saved_model, metrics
from keras_neuromask.cli.main import main as cli_main
from keras_neuromask.evaluation import compare

SIZE, CLASSES = 8, 4
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "keras_neuromask"


def expect(error, call, *words):
    """Runs ``call``; it must raise ``error`` with "Expected ... Received" and ``words``."""
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert message.startswith("Expected"), message
    assert "Received" in message, message
    for word in words:
        assert word in message, message
    return message


def images_of(count=2, channels=3, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(count, SIZE, SIZE, channels)).astype(dtype)


@pytest.fixture(scope="module")
def cnn():
    return small_cnn(SIZE, 3, CLASSES)


@pytest.fixture(scope="module")
def explainer(cnn):
    return NeuroMask(cnn, steps=2)


def functional(outputs_of):
    inputs = keras.Input((SIZE, SIZE, 3))
    return keras.Model(inputs, outputs_of(inputs))


# ------------------------------------------------------------------------------ images
@pytest.mark.parametrize("shape", [(), (SIZE,), (SIZE, SIZE), (1, 1, SIZE, SIZE, 3)])
def test_wrong_rank_is_a_value_error(explainer, shape):
    expect(ValueError, lambda: explainer.explain(np.zeros(shape, np.float32)), str(shape))
    expect(ValueError, lambda: explainer.fit(np.zeros(shape, np.float32)))


@pytest.mark.parametrize("channels", [1, 2, 4])
def test_wrong_channel_count_for_the_classifier_is_a_value_error(explainer, channels):
    expect(ValueError, lambda: explainer.explain(images_of(channels=channels)), "shape")
    expect(ValueError, lambda: explainer.fit(images_of(channels=channels)), "shape")


def test_wrong_channel_count_behind_a_preprocess_is_an_expected_error(cnn):
    explainer = NeuroMask(cnn, steps=2, preprocess=lambda x: x * 1.0)
    expect(ValueError, lambda: explainer.explain(images_of(channels=1)))


def test_empty_batch_is_a_value_error(explainer):
    expect(ValueError, lambda: explainer.explain(images_of()[:0]), "at least one image")
    expect(ValueError, lambda: explainer.fit(images_of()[:0]), "at least one image")
    expect(ValueError, lambda: explainer.explain(np.zeros((1, SIZE, 0, 3))), "non-empty")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e39])
def test_nan_inf_or_float32_overflow_pixels_are_a_value_error_naming_the_image(explainer, bad):
    images = images_of(3).astype(np.float64)
    images[1, 2, 3, 0] = bad
    expect(ValueError, lambda: explainer.explain(images), "finite", "[1]")


@pytest.mark.parametrize("images,error", [
    (np.zeros((1, SIZE, SIZE, 3), np.complex64), TypeError),
    (np.full((1, SIZE, SIZE, 3), "a"), TypeError),
    (None, TypeError),
    ([np.zeros((SIZE, SIZE, 3)), np.zeros((SIZE, 4, 3))], ValueError),  # ragged list
])
def test_non_numeric_complex_or_ragged_images_are_refused(explainer, images, error):
    expect(error, lambda: explainer.explain(images))


def test_uint8_int_float_and_tensor_images_of_equal_values_give_the_same_masks(explainer):
    pixels = np.random.default_rng(1).integers(0, 256, (2, SIZE, SIZE, 3)).astype(np.uint8)
    reference = explainer.explain(pixels)
    for same in (pixels.astype(np.float32), pixels.astype(np.float64),
                 pixels.astype(np.int32), tf.constant(pixels), pixels.tolist()):
        np.testing.assert_array_equal(explainer.explain(same).masks, reference.masks)
    assert np.isfinite(reference.masks).all()


@pytest.mark.parametrize("call", ["explain", "fit"])
def test_paper_preset_warns_on_0_255_pixels_and_not_on_0_1(cnn, call):
    explainer = NeuroMask(cnn, preset="paper-cifar", steps=2)
    pixels = np.random.default_rng(2).integers(0, 256, (1, SIZE, SIZE, 3)).astype(np.uint8)
    with pytest.warns(UserWarning, match=r"\[0, 1\]"):
        getattr(explainer, call)(pixels, **({"verbose": 0} if call == "fit" else {}))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        getattr(explainer, call)(pixels / 255.0, **({"verbose": 0} if call == "fit" else {}))


# ----------------------------------------------------------------------------- targets
@pytest.mark.parametrize("targets", [CLASSES, -1, [0, CLASSES], [-1, 0], 1e30, 2 ** 63,
                                     np.uint64(2 ** 63)])
def test_targets_out_of_range_or_negative_are_a_value_error(explainer, targets):
    message = expect(ValueError, lambda: explainer.explain(images_of(), targets), "targets")
    assert "-9223372036854775808" not in message  # reported as given, never wrapped


@pytest.mark.parametrize("targets", [[0], [0, 1, 2], [[0], [1]], [], [[0], [1, 2]]])
def test_targets_of_the_wrong_length_or_shape_are_a_value_error(explainer, targets):
    expect(ValueError, lambda: explainer.explain(images_of(), targets), "target")


@pytest.mark.parametrize("targets", [1.5, "cat", [0, None], {0: 1}, True, [0.5, 1],
                                     float("nan"), float("inf"), [1, "2"], [True, 1]])
def test_targets_of_the_wrong_type_are_a_type_error(explainer, targets):
    expect(TypeError, lambda: explainer.explain(images_of(), targets), "int")


def test_integral_float_targets_are_taken_as_ints(explainer):
    as_float = explainer.explain(images_of(), [1.0, 3.0])
    as_int = explainer.explain(images_of(), [1, 3])
    np.testing.assert_array_equal(as_float.targets, [1, 3])
    np.testing.assert_array_equal(as_float.masks, as_int.masks)


# ------------------------------------------------------------------------- classifiers
class _SubclassedFeatureMap(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(2, 3, padding="same")

    def call(self, x):
        return self.conv(x)


class _SubclassedTwoHeads(keras.Model):
    def __init__(self):
        super().__init__()
        self.flat, self.dense = keras.layers.Flatten(), keras.layers.Dense(2)

    def call(self, x):
        hidden = self.flat(x)
        return {"a": self.dense(hidden), "b": self.dense(hidden)}


@pytest.mark.parametrize("outputs_of", [
    lambda x: keras.layers.Conv2D(2, 3, padding="same")(x),  # 4-D feature map
    lambda x: keras.layers.Reshape((2, 2))(keras.layers.Dense(4)(keras.layers.Flatten()(x))),
    lambda x: keras.ops.sum(keras.layers.Dense(2)(keras.layers.Flatten()(x)), axis=-1),
], ids=["4d", "3d", "1d"])
def test_classifier_output_that_is_not_n_by_classes_is_refused(outputs_of):
    expect(ValueError, lambda: NeuroMask(functional(outputs_of)), "(N, classes)")


def test_subclassed_classifier_with_a_feature_map_output_is_refused_at_explain():
    explainer = NeuroMask(_SubclassedFeatureMap(), steps=2)
    expect(ValueError, lambda: explainer.explain(images_of()), "(N, classes)")


def test_classifier_with_several_outputs_is_refused():
    def two(x):
        hidden = keras.layers.Flatten()(x)
        return [keras.layers.Dense(2)(hidden), keras.layers.Dense(3)(hidden)]

    expect(ValueError, lambda: NeuroMask(functional(two)), "one output")
    explainer = NeuroMask(_SubclassedTwoHeads(), steps=2)
    expect(ValueError, lambda: explainer.explain(images_of()), "one output")


def test_classifier_with_several_inputs_is_refused():
    first, second = keras.Input((SIZE, SIZE, 3)), keras.Input((SIZE, SIZE, 3))
    summed = keras.layers.Flatten()(keras.layers.Add()([first, second]))
    model = keras.Model([first, second], keras.layers.Dense(2)(summed))
    expect(ValueError, lambda: NeuroMask(model), "one input")


@pytest.mark.parametrize("classifier", [None, lambda x: x, "model.keras",
                                        keras.layers.Dense(2)])
def test_a_classifier_that_is_not_a_keras_model_is_a_type_error(classifier):
    expect(TypeError, lambda: NeuroMask(classifier), "keras.Model")


# --------------------------------------------------------------------- hyper-parameters
@pytest.mark.parametrize("steps", [0, -1, 1.5, 2.0, "3", True])
def test_steps_not_a_positive_int_is_refused_by_the_constructor(cnn, steps):
    expect(ValueError, lambda: NeuroMask(cnn, steps=steps), "steps")


@pytest.mark.parametrize("steps", [0, -1, 1.5, "3", True])
@pytest.mark.parametrize("call", ["explain", "fit"])
def test_steps_not_a_positive_int_is_refused_by_explain_and_fit(explainer, steps, call):
    kwargs = {"verbose": 0} if call == "fit" else {}
    expect(ValueError, lambda: getattr(explainer, call)(images_of(), steps=steps, **kwargs),
           "steps")


def test_explain_batch_size_zero_is_refused(explainer):
    expect(ValueError, lambda: explainer.explain(images_of(), batch_size=0), "batch_size")


@pytest.mark.parametrize("preset", ["nope", "", "Default", None, ["default"]])
def test_unknown_preset_is_a_value_error(cnn, preset):
    expect(ValueError, lambda: NeuroMask(cnn, preset=preset), "preset")


@pytest.mark.parametrize("baseline", ["nope", "ZERO", "gaussian"])
def test_unknown_baseline_name_is_a_value_error(cnn, baseline):
    expect(ValueError, lambda: NeuroMask(cnn, baseline=baseline), "baseline")


@pytest.mark.parametrize("shape", [(5, 5, 3), (3, SIZE, SIZE, 3), (SIZE, SIZE, 2), (SIZE, 2)])
def test_baseline_of_the_wrong_shape_is_a_value_error(cnn, shape):
    explainer = NeuroMask(cnn, steps=2, baseline=np.zeros(shape, np.float32))
    expect(ValueError, lambda: explainer.explain(images_of()), "baseline", str(shape))


@pytest.mark.parametrize("shape", [(3,), (SIZE, SIZE, 1), (SIZE, SIZE, 3), (1, SIZE, SIZE, 3)])
def test_baseline_that_broadcasts_to_the_images_is_accepted(cnn, shape):
    result = NeuroMask(cnn, steps=2, baseline=np.full(shape, 0.5)).explain(images_of())
    assert result.masks.shape == (2, SIZE, SIZE) and np.isfinite(result.masks).all()


def test_non_finite_baseline_image_is_refused_at_construction(cnn):
    expect(ValueError, lambda: NeuroMask(cnn, baseline=np.full((SIZE, SIZE, 3), np.nan)),
           "baseline")


@pytest.mark.parametrize("grid", [0, -1, (0, 2), (2,), (2, 2, 2), "x", (2.0, 2.0), (2, -1),
                                  2.5,
                                  True])
def test_invalid_mask_grid_is_a_value_error(cnn, grid):
    expect(ValueError, lambda: NeuroMask(cnn, mask_grid=grid), "mask_grid")


@pytest.mark.parametrize("options", [
    dict(learning_rate=0), dict(learning_rate=-1.0), dict(temperature=0),
    dict(sparsity_weight=-1), dict(smoothness_weight=float("nan")), dict(seed=-1),
    dict(batch_size=0), dict(classifier_output="softmax"), dict(optimizer="sgd"),
    dict(init="normal"), dict(sparsity="l2"), dict(smoothness="tv"),
    dict(learning_rate=float("inf")),
    dict(blur_sigma=-1.0),
    dict(preprocess=3),
], ids=lambda options: "-".join(f"{k}={v}" for k, v in options.items()))
def test_bad_settings_are_refused_at_construction(cnn, options):
    expect((ValueError, TypeError), lambda: NeuroMask(cnn, **options), next(iter(options)))


def test_an_int_learning_rate_works_like_a_float(cnn):
    images = images_of()
    as_int = NeuroMask(cnn, steps=2, learning_rate=1).explain(images)
    np.testing.assert_array_equal(as_int.masks, NeuroMask(cnn, steps=2, learning_rate=1.0)
                                  .explain(images).masks)


def test_unknown_keyword_is_refused_naming_it(cnn, explainer):
    with pytest.raises((ValueError, TypeError), match="stepz"):
        NeuroMask(cnn, stepz=3)
    expect(TypeError, lambda: explainer.fit(images_of(), epochs=3), "epochs")


# ------------------------------------------------------------------------ the user's model
def users_model():
    """A compiled model with a frozen layer, batch norm and dropout: state that could leak."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="frozen_conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Dropout(0.5)(x)
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(CLASSES, name="head")(x))
    model.get_layer("frozen_conv").trainable = False
    model.compile(keras.optimizers.SGD(0.5), keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    return model


# Keras' own bookkeeping, set by any call or SavedModel export of a model (not by us):
# `_called` on the first call; SavedModel tracing resolves `_jit_compile` and sets
# `train_function`/`test_function`/`predict_function` to None on every layer.
_KERAS_BOOKKEEPING = {"_called", "_jit_compile", "train_function", "test_function",
                      "predict_function"}


def model_state(model):
    return {
        "weights": [v.numpy().copy() for v in model.variables],  # with BN stats, seeds
        "flags": [model.trainable] + [layer.trainable for layer in model.layers],
        "layers": [id(layer) for layer in model.layers],
        "variables": [id(v) for v in model.variables],
        "attributes": [{k: id(v) for k, v in vars(obj).items()}
                       for obj in (model, *model.layers)],
        "optimizer": id(model.optimizer),
    }


def assert_untouched(before, model, operation):
    after = model_state(model)
    assert len(after["weights"]) == len(before["weights"]), operation
    for old, new in zip(before["weights"], after["weights"]):
        assert old.dtype == new.dtype and old.tobytes() == new.tobytes(), operation  # bits
    for key in ("flags", "layers", "variables", "optimizer"):
        assert after[key] == before[key], (operation, key)
    for old, new in zip(before["attributes"], after["attributes"]):
        added = set(new) - set(old)
        assert not [name for name in new if "neuromask" in name.lower()], operation
        assert added <= _KERAS_BOOKKEEPING, (operation, added)
        changed = {k for k in old if k in new and old[k] != new[k]}
        assert changed <= _KERAS_BOOKKEEPING, (operation, changed)
        for name in added - {"_called", "_jit_compile"}:
            assert new[name] == id(None), (operation, name)


class _Raise(keras.callbacks.Callback):
    def __init__(self, error):
        super().__init__()
        self.error = error

    def on_epoch_end(self, epoch, logs=None):
        raise self.error


def test_users_model_is_untouched_by_every_operation_even_failing_ones(tmp_path):
    model = users_model()
    before = model_state(model)
    images, explainer = images_of(2), NeuroMask(model, steps=4)

    def failing(call):
        def run():
            with pytest.raises((ValueError, TypeError, RuntimeError, KeyboardInterrupt)):
                call()
        return run

    operations = {
        "explain": lambda: explainer.explain(images),
        "fit": lambda: explainer.fit(images, steps=4, steps_per_epoch=2, verbose=0),
        "explain paper preset": lambda: NeuroMask(model, preset="paper-imagenet",
                                                  steps=2).explain(images),
        "bad targets": failing(lambda: explainer.explain(images, targets=[0, 99])),
        "bad images": failing(lambda: explainer.explain(images[..., :1])),
        "bad steps": failing(lambda: explainer.fit(images, steps=-1)),
        "callback raises": failing(lambda: explainer.explain(
            images, callbacks=[_Raise(RuntimeError("boom"))])),
        "keyboard interrupt": failing(lambda: explainer.fit(
            images, steps=4, steps_per_epoch=2, callbacks=[_Raise(KeyboardInterrupt())])),
        "config round trip": lambda: NeuroMask.from_config(explainer.get_config()),
        "rise": lambda: compare.get_method("rise", num_masks=8)(model, images),
        "gradcam": lambda: compare.get_method("gradcam")(model, images),
        "neuromask method": lambda: compare.get_method("neuromask", steps=2)(model, images),
        "export": lambda: export_saved_model(explainer, str(tmp_path / "m")),
        "export refused": failing(lambda: export_saved_model(explainer, str(tmp_path / "m"),
                                                             version=1)),
    }
    for name, operation in operations.items():
        operation()
        assert_untouched(before, model, name)


def test_users_model_still_trains_normally_after_being_explained_and_exported(tmp_path):
    model = users_model()
    images = images_of(4)
    explainer = NeuroMask(model, steps=2)
    explainer.explain(images)
    export_saved_model(explainer, str(tmp_path / "m"))
    frozen = [w.copy() for w in model.get_layer("frozen_conv").get_weights()]
    head = model.get_layer("head").get_weights()[0].copy()
    moving_mean = model.get_layer("bn").get_weights()[2].copy()
    history = model.fit(images, np.array([0, 1, 2, 3]), epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.array_equal(model.get_layer("head").get_weights()[0], head)  # it learned
    assert not np.array_equal(model.get_layer("bn").get_weights()[2], moving_mean)
    for old, new in zip(frozen, model.get_layer("frozen_conv").get_weights()):
        np.testing.assert_array_equal(old, new)  # the user's frozen layer stays frozen


# -------------------------------------------------------------------------------- faults
def test_keyboard_interrupt_in_fit_leaves_the_explainer_usable_and_the_model_untouched():
    model = users_model()
    before = model_state(model)
    images = images_of(2)
    explainer = NeuroMask(model, steps=4)
    with pytest.raises(KeyboardInterrupt):
        explainer.fit(images, steps=4, steps_per_epoch=2, verbose=0,
                      callbacks=[_Raise(KeyboardInterrupt())])
    assert_untouched(before, model, "fit interrupted")
    after = explainer.explain(images)
    fresh = NeuroMask(model, steps=4).explain(images)
    np.testing.assert_array_equal(after.masks, fresh.masks)
    np.testing.assert_array_equal(after.steps, [4, 4])
    assert_untouched(before, model, "explain after the interrupt")


class _NanBelow(keras.layers.Layer):
    """``sqrt(x - 0.4)``: NaN, with NaN gradients, once a pixel falls below 0.4."""

    def call(self, x):
        return keras.ops.sqrt(x - 0.4)


class _NanBelowNoGradient(keras.layers.Layer):
    """NaN once an image's minimum falls below 0.4, through ``where`` (zero gradient)."""

    def call(self, x):
        low = keras.ops.min(x, axis=(1, 2, 3), keepdims=True) < 0.4
        return keras.ops.where(low, float("nan"), x)


def nan_classifier(layer):
    return functional(lambda x: keras.layers.Dense(3)(keras.layers.Flatten()(layer()(x))))


def nan_images():
    """Images 0 and 2 stay finite when half-masked; image 1 (values ~0.65) does not."""
    images = np.random.default_rng(4).uniform(0.6, 0.7, (3, SIZE, SIZE, 3))
    images[[0, 2]] += 5.0
    return images.astype(np.float32)


@pytest.mark.parametrize("batch_size", [3, 1])
def test_a_nan_loss_is_reported_as_an_error_naming_the_image_index(batch_size):
    explainer = NeuroMask(nan_classifier(_NanBelow), steps=3, baseline="zero")
    with pytest.raises(FloatingPointError, match=r"Expected a finite loss.*image\(s\) \[1\]"):
        explainer.explain(nan_images(), batch_size=batch_size)


def test_a_nan_output_that_leaves_the_masks_finite_is_still_reported():
    explainer = NeuroMask(nan_classifier(_NanBelowNoGradient), steps=3, baseline="zero")
    with pytest.raises(FloatingPointError, match=r"\[1\]"):
        explainer.explain(nan_images())


# ----------------------------------------------------------------- export and serving
def test_export_refuses_bad_versions_and_image_shapes(explainer, tmp_path):
    base = str(tmp_path / "m")
    for version in (0, -1, True, "1", 1.5):
        expect(ValueError, lambda: export_saved_model(explainer, base, version), "version")
    for shape in ((SIZE, SIZE), (SIZE, SIZE, -3), (8.0, SIZE, 3), (SIZE, SIZE, 3, 1)):
        expect(ValueError, lambda: export_saved_model(explainer, base, image_shape=shape),
               "image_shape")
    assert not os.path.exists(base) or os.listdir(base) == []


@pytest.mark.parametrize("case", ["classifier", "dir None", "dir is a file", "shape mismatch"])
def test_export_refuses_a_non_explainer_a_bad_folder_and_a_mismatched_shape(
        cnn, explainer, tmp_path, case):
    (tmp_path / "file").write_text("")
    calls = {
        "classifier": (TypeError, lambda: export_saved_model(cnn, str(tmp_path / "a"))),
        "dir None": (TypeError, lambda: export_saved_model(explainer, None)),
        "dir is a file": (ValueError, lambda: export_saved_model(explainer,
                                                                 str(tmp_path / "file"))),
        "shape mismatch": (ValueError, lambda: export_saved_model(
            explainer, str(tmp_path / "b"), image_shape=(SIZE + 1, SIZE + 1, 3))),
    }
    expect(*calls[case])


@pytest.fixture(scope="module")
def served(cnn, tmp_path_factory):
    path = export_saved_model(NeuroMask(cnn, steps=3), str(tmp_path_factory.mktemp("served")))
    return path, tf.saved_model.load(path)


@pytest.mark.parametrize("case", ["wrong size", "empty batch", "nan pixels",
                                  "target out of range", "negative target",
                                  "targets of the wrong length"])
def test_served_signatures_answer_bad_requests_with_an_expected_error(served, case):
    _, loaded = served
    explain, explain_target = (loaded.signatures["serving_default"],
                               loaded.signatures["explain_target"])
    good = tf.constant(images_of(2))
    calls = {
        "wrong size": lambda: explain(images=tf.zeros((1, SIZE + 1, SIZE + 1, 3))),
        "empty batch": lambda: explain(images=tf.zeros((0, SIZE, SIZE, 3))),
        "nan pixels": lambda: explain(images=tf.fill((1, SIZE, SIZE, 3), np.nan)),
        "target out of range": lambda: explain_target(
            images=good, targets=tf.constant([0, CLASSES], tf.int64)),
        "negative target": lambda: explain_target(images=good,
                                                  targets=tf.constant([0, -1], tf.int64)),
        "targets of the wrong length": lambda: explain_target(
            images=good, targets=tf.constant([0], tf.int64)),
    }
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError, TypeError),
                       match="Expected"):
        calls[case]()


def test_served_signature_refuses_the_wrong_dtype_and_serves_good_requests(served):
    _, loaded = served
    explain = loaded.signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="float"):
        explain(images=tf.zeros((1, SIZE, SIZE, 3), tf.int32))
    masks = explain(images=tf.constant(images_of(2)))["masks"].numpy()
    assert masks.shape == (2, SIZE, SIZE) and np.isfinite(masks).all()
    assert 0 <= masks.min() and masks.max() <= 1


def test_a_rank_3_request_never_kills_the_serving_process(served):
    path, _ = served
    script = (
        "import tensorflow as tf\n"
        f"serve = tf.saved_model.load({path!r}).signatures['serving_default']\n"
        "try:\n"
        f"    serve(images=tf.zeros(({SIZE}, {SIZE}, 3)))\n"
        "    print('ANSWERED')\n"
        "except Exception as error:\n"
        "    print('REFUSED', type(error).__name__, 'Expected' in str(error))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "REFUSED InvalidArgumentError True" in done.stdout, done.stdout


# --------------------------------------------------------------------- metrics, compare
_MAPS = np.random.default_rng(5).uniform(size=(2, SIZE, SIZE))
_OBJECT = np.zeros((2, SIZE, SIZE), bool)
_OBJECT[:, 2:4, 2:4] = True


@pytest.mark.parametrize("call,error", [
    (lambda: metrics.pointing_game(_MAPS[..., None], _OBJECT), ValueError),
    (lambda: metrics.pointing_game(np.where(_MAPS > 0.5, np.nan, _MAPS), _OBJECT), ValueError),
    (lambda: metrics.pointing_game(_MAPS, _OBJECT[:1]), ValueError),
    (lambda: metrics.pointing_game(_MAPS, np.zeros_like(_OBJECT)), ValueError),
    (lambda: metrics.pointing_game(_MAPS, _OBJECT * 0.5), ValueError),
    (lambda: metrics.pointing_game(_MAPS, _OBJECT, tolerance=-1), ValueError),
    (lambda: metrics.pointing_game(_MAPS, _OBJECT, tolerance=1.5), ValueError),
    (lambda: metrics.pointing_game("maps", _OBJECT), TypeError),
    (lambda: metrics.energy(np.zeros((0, SIZE, SIZE)), _OBJECT[:0]), ValueError),
    (lambda: metrics.energy(_MAPS, _OBJECT.astype(float) + 1), ValueError),
    (lambda: metrics.mask_area(_MAPS * 2), ValueError),
    (lambda: metrics.mask_area(np.full((SIZE, SIZE), np.inf)), ValueError),
    (lambda: metrics.mask_area(None), TypeError),
    (lambda: metrics.spearman_correlation(_MAPS, _MAPS[:1]), ValueError),
])
def test_metrics_refuse_bad_maps_with_expected_errors(call, error):
    expect(error, call)


def test_metrics_refuse_ragged_maps_with_an_expected_error():
    expect(ValueError, lambda: metrics.spearman_correlation([[1.0, 2.0], [3.0]], _MAPS))


@pytest.mark.parametrize("name", ["rise", "saliency", "neuromask"])
@pytest.mark.parametrize("images,targets,words", [
    (np.zeros((SIZE, SIZE)), None, "(H, W, C)"),
    (np.full((1, SIZE, SIZE, 3), np.nan), None, "finite"),
    (np.zeros((0, SIZE, SIZE, 3)), None, "at least one"),
    (images_of(2), CLASSES, "targets"),
    (images_of(2), [0, -1], "targets"),
    (images_of(2), "cat", "targets"),
])
def test_compare_methods_refuse_bad_images_and_targets(cnn, name, images, targets, words):
    options = {"rise": dict(num_masks=8), "neuromask": dict(steps=2)}.get(name, {})
    method = compare.get_method(name, **options)
    expect((ValueError, TypeError), lambda: method(cnn, images, targets), words)


@pytest.mark.parametrize("name", ["rise", "saliency"])
def test_compare_methods_refuse_the_wrong_channel_count_with_an_expected_error(cnn, name):
    method = compare.get_method(name, **({"num_masks": 8} if name == "rise" else {}))
    expect(ValueError, lambda: method(cnn, images_of(channels=1)), "shape")


def test_compare_refuses_unknown_methods_and_options():
    expect(ValueError, lambda: compare.get_method("lime"), "lime")
    with pytest.raises(TypeError, match="foo"):
        compare.get_method("rise", foo=1)
    expect(TypeError, lambda: compare.get_method("rise", preprocess=3), "preprocess")


# ----------------------------------------------------------------------------- the CLI
@pytest.fixture(scope="module")
def cli_files(tmp_path_factory, cnn):
    root = tmp_path_factory.mktemp("cli")
    cnn.save(root / "cnn.keras")
    lambda_model = functional(lambda x: keras.layers.Dense(2)(keras.layers.Flatten()(
        keras.layers.Lambda(lambda t: t * 2.0)(x))))
    lambda_model.save(root / "lambda.keras")
    pixels = (images_of(1)[0] * 255).astype(np.uint8)
    Image.fromarray(pixels).save(root / "img.png")
    return root


# TensorFlow's C++ start-up log (absl), printed at import whatever TF_CPP_MIN_LOG_LEVEL says.
_TF_NATIVE_LOG = re.compile(r"^(WARNING: All log messages before absl|[IWE]\d{4} |To enable the "
                            r"following instructions)")


def run_cli(*args):
    """The CLI in this process (TensorFlow is already imported): its exit code."""
    return cli_main([str(a) for a in args])


def test_cli_refuses_a_keras_file_with_a_lambda_layer_in_one_line_with_exit_code_2(cli_files):
    done = subprocess.run([sys.executable, "-m", "keras_neuromask", "explain", "img.png",
                           "--model", "lambda.keras", "--steps", "2", "--out", "refused"],
                          capture_output=True, text=True, cwd=cli_files, env=ENV, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines()
             if line.strip() and not _TF_NATIVE_LOG.match(line)]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("neuromask: error: Expected") and "--unsafe" in lines[0]
    assert not (cli_files / "refused").exists()


def test_cli_accepts_a_lambda_layer_with_unsafe(cli_files, monkeypatch):
    monkeypatch.chdir(cli_files)
    assert run_cli("explain", "img.png", "--model", "lambda.keras", "--unsafe", "--steps", 2,
                   "--out", "unsafe") == 0
    assert (cli_files / "unsafe" / "img.mask.npy").is_file()


@pytest.mark.parametrize("args,word", [
    (["--batch-size", "0"], "batch_size"),
    (["--seed", "-1"], "seed"),
    (["--target", "-1"], "targets"),
    (["--steps", "-5"], "steps"),
    (["--size", "9", "9"], "input_size"),
    (["--weights", "missing.weights.h5"], "weights"),
])
def test_cli_bad_options_end_in_one_expected_line_and_exit_code_2(cli_files, monkeypatch,
                                                                 capsys, args, word):
    monkeypatch.chdir(cli_files)
    assert run_cli("explain", "img.png", "--model", "cnn.keras", "--steps", 2,
                   "--out", "bad", *args) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("neuromask: error: Expected"), lines
    assert word in lines[0]


@pytest.fixture(scope="module")
def escape_run(cli_files):
    """One CLI run over hostile file names; every file under the test folder, before/after."""
    parent = cli_files / "parent"
    work = parent / "work"
    (work / "sub").mkdir(parents=True)
    source = Image.open(cli_files / "img.png")
    hostile = ["../up.png", "..%2f..%2fevil.png", "%2e%2e%2fdot.png", "sub/../inner.png",
               "..png", " .hidden.png", str(cli_files / "img.png")]
    for name in hostile[:-1]:
        source.save(os.path.normpath(work / name), format="PNG")
    before_files = {p for p in cli_files.rglob("*") if p.is_file()}
    limit_before = Image.MAX_IMAGE_PIXELS
    cwd = os.getcwd()
    os.chdir(work)
    try:
        code = run_cli("explain", *hostile, "--model", str(cli_files / "cnn.keras"),
                       "--steps", 2, "--out", "out")
    finally:
        os.chdir(cwd)
    after_files = {p for p in cli_files.rglob("*") if p.is_file()}
    return code, work / "out", after_files - before_files, limit_before, len(hostile)


def test_cli_outputs_never_escape_the_out_folder(escape_run):
    code, out, written, _, count = escape_run
    assert code == 0
    assert written, "nothing was written"
    for path in written:
        assert path.resolve().parent == out.resolve(), path
    assert len([p for p in written if p.name.endswith(".mask.npy")]) == count
    assert not [p for p in written if p.name.startswith(".")]


def test_pillow_decompression_bomb_guard_is_unchanged_after_the_cli_loads_images(escape_run):
    _, _, _, limit_before, _ = escape_run
    assert Image.MAX_IMAGE_PIXELS == limit_before
    assert Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS <= 2 ** 28


def test_the_package_never_unpickles_or_turns_off_safe_mode():
    sources = {path: path.read_text() for path in PACKAGE.rglob("*.py")}
    assert len(sources) > 10
    forbidden = [r"allow_pickle\s*=\s*True", r"^\s*(import|from)\s+(c?pickle|dill|cloudpickle)",
                 r"safe_mode\s*=\s*False\s*[,)]", r"enable_unsafe_deserialization",
                 r"MAX_IMAGE_PIXELS\s*=(?!=)", r"LOAD_TRUNCATED_IMAGES\s*=\s*True"]
    for path, text in sources.items():
        for pattern in forbidden:
            assert not re.search(pattern, text, re.MULTILINE), (path.name, pattern)
        for call in re.findall(r"np\.load\(([^)]*)\)", text):
            assert "allow_pickle" not in call or "allow_pickle=False" in call, (path.name, call)
