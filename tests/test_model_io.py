"""Tests for keras_neuromask.cli.model_io: files, folders and application names to a classifier."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_neuromask.cli.model_io import LoadedModel, load_classifier


def _tiny(input_shape=(16, 16, 3), classes=3, lam=False) -> keras.Model:
    """Conv (linear) -> global average -> softmax: every input pixel moves every output."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input(input_shape)
    x = inputs
    if lam:
        x = keras.layers.Lambda(lambda t: t * 2.0)(x)
    x = keras.layers.Conv2D(4, 3, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def _batch(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (2, *shape)).astype(np.float32)


def _same_weights(a: keras.Model, b: keras.Model) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


def test_keras_file_loads_with_its_size_channels_and_stem(tmp_path):
    model = _tiny()
    path = tmp_path / "tiny.keras"
    model.save(path)
    loaded = load_classifier(path, weights="none")
    assert isinstance(loaded, LoadedModel)
    assert (loaded.input_size, loaded.channels, loaded.preprocess, loaded.name) == (
        (16, 16), 3, None, "tiny")
    assert _same_weights(model, loaded.model)
    np.testing.assert_allclose(loaded.model.predict(_batch((16, 16, 3)), verbose=0),
                               model.predict(_batch((16, 16, 3)), verbose=0), atol=1e-6)


def test_h5_file_loads_and_predicts_like_the_original(tmp_path):
    model = _tiny((8, 8, 1), classes=2)
    path = tmp_path / "gray.h5"
    model.save(path)
    loaded = load_classifier(str(path))
    assert (loaded.input_size, loaded.channels, loaded.name) == ((8, 8), 1, "gray")
    np.testing.assert_allclose(loaded.model.predict(_batch((8, 8, 1)), verbose=0),
                               model.predict(_batch((8, 8, 1)), verbose=0), atol=1e-6)


def test_lambda_layer_is_refused_in_safe_mode_and_loads_with_unsafe(tmp_path):
    path = tmp_path / "lambda.keras"
    _tiny(lam=True).save(path)
    with pytest.raises(ValueError, match=r"Expected a model file that loads in Keras safe mode.*"
                                         r"--unsafe"):
        load_classifier(path)
    loaded = load_classifier(path, unsafe=True)
    assert loaded.input_size == (16, 16)


def test_lambda_layer_in_h5_is_refused_in_safe_mode(tmp_path):
    path = tmp_path / "lambda.h5"
    _tiny(lam=True).save(path)
    with pytest.raises(ValueError, match="--unsafe"):
        load_classifier(path)


def test_loading_does_not_modify_the_model_file_or_trainable_flags(tmp_path):
    path = tmp_path / "tiny.keras"
    _tiny().save(path)
    before = path.read_bytes()
    loaded = load_classifier(path)
    assert all(layer.trainable for layer in loaded.model.layers)
    assert path.read_bytes() == before


def test_weights_path_is_loaded_into_a_keras_file_model(tmp_path):
    model, other = _tiny(), _tiny()
    other.set_weights([w + 1.0 for w in other.get_weights()])
    assert not _same_weights(model, other)
    model.save(tmp_path / "arch.keras")
    other.save_weights(tmp_path / "other.weights.h5")
    loaded = load_classifier(tmp_path / "arch.keras", weights=tmp_path / "other.weights.h5")
    assert _same_weights(other, loaded.model)


def test_saved_model_folder_is_wrapped_and_predicts_like_the_original(tmp_path):
    model = _tiny((12, 12, 3))
    folder = tmp_path / "exported"
    model.export(folder, verbose=False)
    loaded = load_classifier(folder)
    assert (loaded.input_size, loaded.channels, loaded.name) == ((12, 12), 3, "exported")
    x = _batch((12, 12, 3))
    np.testing.assert_allclose(loaded.model(x).numpy(), model(x).numpy(), atol=1e-5)
    x = tf.constant(x / 255.0)  # small inputs: the softmax is not saturated
    with tf.GradientTape() as tape:  # the explainer needs gradients through the SavedModel
        tape.watch(x)
        score = tf.reduce_sum(loaded.model(x)[:, 0])
    gradient = tape.gradient(score, x)
    assert gradient is not None and float(tf.reduce_max(tf.abs(gradient))) > 0


def test_saved_model_with_free_size_needs_input_size(tmp_path):
    folder = tmp_path / "free"
    _tiny((None, None, 3)).export(folder, verbose=False)
    with pytest.raises(ValueError, match=r"Expected an input size"):
        load_classifier(folder)
    loaded = load_classifier(folder, input_size=(10, 14))
    assert loaded.input_size == (10, 14)
    assert loaded.model(np.zeros((1, 10, 14, 3), np.float32)).shape == (1, 3)


def test_keras_file_with_free_size_uses_input_size_and_fixed_size_must_match(tmp_path):
    _tiny((None, None, 1)).save(tmp_path / "free.keras")
    with pytest.raises(ValueError, match=r"Expected an input size.*--size"):
        load_classifier(tmp_path / "free.keras")
    assert load_classifier(tmp_path / "free.keras", input_size=(9, 7)).input_size == (9, 7)
    _tiny().save(tmp_path / "fixed.keras")
    with pytest.raises(ValueError, match=r"Expected `input_size` to match"):
        load_classifier(tmp_path / "fixed.keras", input_size=(32, 32))


def test_saved_model_with_two_outputs_is_refused(tmp_path):
    inputs = keras.Input((8, 8, 3))
    flat = keras.layers.Flatten()(inputs)
    heads = {"a": keras.layers.Dense(2)(flat), "b": keras.layers.Dense(3)(flat)}
    model = keras.Model(inputs, heads)
    folder = tmp_path / "two"
    model.export(folder, verbose=False)
    with pytest.raises(ValueError, match=r"Expected a SavedModel with one output"):
        load_classifier(folder)


def test_model_with_four_channels_or_spatial_output_is_refused(tmp_path):
    _tiny((8, 8, 4)).save(tmp_path / "rgba.keras")
    with pytest.raises(ValueError, match=r"Expected a model input of shape"):
        load_classifier(tmp_path / "rgba.keras")
    inputs = keras.Input((8, 8, 3))
    keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs)).save(tmp_path / "seg.keras")
    with pytest.raises(ValueError, match=r"Expected a model output of shape \(batch, classes\)"):
        load_classifier(tmp_path / "seg.keras")


def test_mobilenet_v2_builds_offline_with_its_preprocess_input():
    loaded = load_classifier("keras.applications.MobileNetV2", weights="none",
                             input_size=(96, 96))
    assert (loaded.input_size, loaded.channels, loaded.name) == ((96, 96), 3, "MobileNetV2")
    assert loaded.preprocess is keras.applications.mobilenet_v2.preprocess_input
    assert loaded.model.outputs[0].shape[-1] == 1000


def test_application_default_input_size_is_used_without_input_size():
    loaded = load_classifier("keras.applications.MobileNetV3Small", weights="none")
    assert loaded.input_size == (224, 224)
    assert loaded.preprocess is None  # MobileNetV3 rescales inside the model


def test_unknown_application_suggests_close_names():
    with pytest.raises(ValueError, match=r"Expected keras.applications.NAME.*MobileNetV2"):
        load_classifier("keras.applications.MobilenetV2", weights="none")


def test_application_build_failure_is_a_value_error():
    with pytest.raises(ValueError, match=r"Expected keras.applications.MobileNetV2 to build"):
        load_classifier("keras.applications.MobileNetV2", weights="none", input_size=(8, 8))


@pytest.mark.parametrize("name", ["missing.keras", "model.onnx"])
def test_missing_or_unknown_spec_raises_value_error(tmp_path, name):
    if name == "model.onnx":
        (tmp_path / name).write_bytes(b"\x00")
    with pytest.raises(ValueError, match=r"Expected a .keras or .h5 file.*Received"):
        load_classifier(tmp_path / name)


def test_corrupt_keras_file_and_folder_without_saved_model_raise_value_error(tmp_path):
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"Expected a readable Keras model file.*bad.keras"):
        load_classifier(tmp_path / "bad.keras")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"a folder without saved_model.pb"):
        load_classifier(tmp_path / "empty")


@pytest.mark.parametrize("kwargs", [{"weights": "imagenet21k"}, {"input_size": (0, 4)},
                                    {"input_size": 224}])
def test_bad_options_raise_value_error(tmp_path, kwargs):
    with pytest.raises(ValueError, match="Expected"):
        load_classifier("keras.applications.MobileNetV2", **kwargs)
