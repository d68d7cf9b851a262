"""Tests for the generated shapes benchmark and its small CNN."""

import os
import time

import keras
import numpy as np
import pytest

from keras_neuromask.evaluation import datasets
from keras_neuromask.evaluation.datasets import (
    HELD_OUT_SEED,
    SHAPE_NAMES,
    SHIPPED_ACCURACY,
    SHIPPED_SETTINGS,
    ShapesData,
    make_shapes,
    shapes_accuracy,
    shipped_shapes_cnn,
    small_cnn,
    trained_shapes_cnn,
    training_data_seeds,
)

SHIPPED_PATH = os.path.join(os.path.dirname(datasets.__file__), "data", datasets.SHIPPED_FILE)
FRESH_SEED = 2_718_281  # a held-out draw used neither in training nor for SHIPPED_ACCURACY


def test_same_seed_gives_identical_arrays_and_other_seed_differs():
    a, b, c = make_shapes(64, seed=3), make_shapes(64, seed=3), make_shapes(64, seed=4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.images, c.images)
    assert not np.array_equal(a.object_masks, c.object_masks)


def test_shapes_dtypes_and_value_ranges():
    data = make_shapes(40, size=24, seed=1, num_classes=5)
    assert isinstance(data, ShapesData)
    assert data.images.shape == (40, 24, 24, 3) and data.images.dtype == np.float32
    assert data.labels.shape == (40,) and data.labels.dtype == np.int64
    assert data.object_masks.shape == (40, 24, 24) and data.object_masks.dtype == bool
    assert data.images.min() >= 0.0 and data.images.max() <= 1.0
    assert set(data.labels.tolist()) == set(range(5))


def test_every_class_present_and_balanced():
    labels = make_shapes(103, seed=2, num_classes=4).labels
    counts = np.bincount(labels, minlength=4)
    assert len(SHAPE_NAMES) >= 5 and counts.min() >= 25 and counts.max() <= 26


def test_object_mask_covers_a_sane_share_of_the_image():
    data = make_shapes(500, seed=5, num_classes=5)
    share = data.object_masks.mean(axis=(1, 2))
    assert share.min() > 0.02 and share.max() < 0.35


def test_mask_area_per_class_matches_the_shapes_geometry():
    # Radius r = U(0.16, 0.3) * size, so E[r^2] / size^2 = (a^2 + ab + b^2) / 3.
    a, b = 0.16, 0.3
    mean_r2 = (a * a + a * b + b * b) / 3
    areas = {  # in units of r^2
        "square": 1.6**2,
        "disc": np.pi,
        "triangle": 3 * np.sqrt(3) / 4,
        "plus": 2 * 0.6 * 2 - 0.6**2,
        "ring": np.pi * (1 - 0.55**2),
    }
    data = make_shapes(2500, seed=8, num_classes=5)
    share = data.object_masks.mean(axis=(1, 2))
    for k, name in enumerate(SHAPE_NAMES):
        expected = areas[name] * mean_r2
        np.testing.assert_allclose(share[data.labels == k].mean(), expected, rtol=0.05)


def test_object_pixels_have_one_colour_that_contrasts_with_the_background():
    data = make_shapes(200, seed=6, noise=0.0)
    for image, mask in zip(data.images, data.object_masks):
        inside = image[mask]
        np.testing.assert_allclose(inside, inside[0:1].repeat(len(inside), 0))
        # The most common colour outside the object is the background; it must differ.
        ring = np.zeros_like(mask)
        ring[1:-1, 1:-1] = mask[:-2, 1:-1] | mask[2:, 1:-1] | mask[1:-1, :-2] | mask[1:-1, 2:]
        ring &= ~mask
        border = np.median(image[ring], axis=0)
        assert np.abs(border - inside[0]).max() > 0.2


def test_noise_and_distractors_make_background_pixels_vary():
    data = make_shapes(20, seed=7)
    background = data.images[~data.object_masks]
    assert background.std(axis=0).min() > 0.1


def test_invalid_arguments_raise_expected_received():
    with pytest.raises(ValueError, match="Expected .* Received"):
        make_shapes(4, num_classes=6)
    with pytest.raises(ValueError, match="Expected .* Received"):
        make_shapes(4, size=8)
    with pytest.raises(ValueError, match="Expected .* Received"):
        make_shapes(-1)
    with pytest.raises(ValueError, match="Expected .* Received"):
        small_cnn(num_classes=1)


def test_generating_ten_thousand_images_is_fast():
    start = time.perf_counter()
    make_shapes(10_000, seed=0)
    assert time.perf_counter() - start < 10.0


def test_small_cnn_outputs_logits_and_names_last_conv():
    model = small_cnn((32, 32, 3), 5, seed=0)
    assert model.get_layer("last_conv").__class__.__name__ == "Conv2D"
    out = keras.ops.convert_to_numpy(model(make_shapes(3, seed=0).images))
    assert out.shape == (3, 5)
    assert not np.allclose(out.sum(axis=1), 1.0)  # logits, not probabilities
    kernels = [small_cnn(seed=s).get_layer("last_conv").get_weights()[0] for s in (1, 1, 2)]
    np.testing.assert_array_equal(kernels[0], kernels[1])
    assert not np.array_equal(kernels[0], kernels[2])


def test_cache_trains_once_then_loads_same_model(tmp_path, monkeypatch):
    settings = dict(epochs=1, train_size=64, batch_size=32)
    first = trained_shapes_cnn(tmp_path, seed=0, **settings)
    files = list(tmp_path.glob("*.keras"))
    assert len(files) == 1 and "v1" in files[0].name and "seed0" in files[0].name

    def no_training(*args, **kwargs):
        raise AssertionError("trained again instead of loading the cache")

    monkeypatch.setattr(datasets, "_train", no_training)
    second = trained_shapes_cnn(tmp_path, seed=0, **settings)
    images = make_shapes(8, seed=11).images
    np.testing.assert_array_equal(
        first.predict(images, verbose=0), second.predict(images, verbose=0)
    )
    with pytest.raises(AssertionError, match="trained again"):  # other settings: other file
        trained_shapes_cnn(tmp_path, seed=0, **{**settings, "train_size": 96})


def test_same_seed_trains_the_same_model(tmp_path):
    settings = dict(seed=0, epochs=1, train_size=64, batch_size=32)
    a = trained_shapes_cnn(tmp_path / "a", **settings).get_weights()
    b = trained_shapes_cnn(tmp_path / "b", **settings).get_weights()
    for x, y in zip(a, b):  # bit-identical here; a tolerance for other CPUs' kernels
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def _untrained(calls):
    def train(settings, verbose):
        calls.append(settings)
        return small_cnn(num_classes=settings["num_classes"], seed=settings["seed"])

    return train


def test_cache_dir_defaults_to_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "_train", _untrained(calls := []))
    monkeypatch.setenv("KERAS_NEUROMASK_CACHE", str(tmp_path / "cache"))
    assert datasets.default_cache_dir() == str(tmp_path / "cache")
    trained_shapes_cnn(seed=1)
    assert len(os.listdir(tmp_path / "cache")) == 1 and len(calls) == 1


def test_damaged_cache_file_is_retrained(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "_train", _untrained(calls := []))
    trained_shapes_cnn(tmp_path, seed=2)
    (path,) = tmp_path.glob("*.keras")
    path.write_bytes(b"not a keras file")
    model = trained_shapes_cnn(tmp_path, seed=2)
    assert model.output_shape == (None, 4) and len(calls) == 2
    assert list(tmp_path.iterdir()) == [path]
    keras.models.load_model(path, safe_mode=True)  # replaced by a valid file


def test_training_data_seeds_are_fixed_distinct_and_miss_the_held_out_seeds():
    seeds = training_data_seeds(0, 10)
    assert seeds == training_data_seeds(0, 10) and len(set(seeds)) == 10
    assert seeds[:3] == training_data_seeds(0, 3) and seeds != training_data_seeds(1, 10)
    assert HELD_OUT_SEED not in seeds and FRESH_SEED not in seeds


def test_shapes_accuracy_counts_argmax_hits():
    data = make_shapes(10, seed=3)
    logits = np.eye(4, dtype=np.float32)[data.labels]
    logits[:3] = np.roll(logits[:3], 1, axis=1)  # three wrong answers

    def model(x, training=False):  # called in chunks, in order
        assert training is False
        start = model.seen
        model.seen += len(x)
        return logits[start:start + len(x)]

    model.seen = 0
    assert shapes_accuracy(model, data, batch_size=4) == 0.7
    with pytest.raises(TypeError, match="Expected a ShapesData"):
        shapes_accuracy(model, (data.images, data.labels))
    with pytest.raises(ValueError, match="Expected at least one image. Received"):
        shapes_accuracy(model, make_shapes(0))


def test_shipped_model_loads_in_safe_mode_and_reaches_its_stated_accuracy():
    assert 150_000 <= os.path.getsize(SHIPPED_PATH) <= 250_000
    model = keras.saving.load_model(SHIPPED_PATH, compile=False, safe_mode=True)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)
    assert model.output_shape == (None, SHIPPED_SETTINGS["num_classes"])
    assert model.get_layer("last_conv").__class__.__name__ == "Conv2D"
    assert f"{SHIPPED_ACCURACY:.4f}" in shipped_shapes_cnn.__doc__  # the provenance's figure
    accuracy = shapes_accuracy(model, make_shapes(2000, seed=FRESH_SEED))
    assert accuracy >= SHIPPED_ACCURACY - 0.01, accuracy


def test_default_settings_give_the_shipped_model_without_training_or_cache(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setattr(datasets, "_train", _untrained(calls := []))
    monkeypatch.setenv("KERAS_NEUROMASK_CACHE", str(tmp_path / "cache"))
    model = trained_shapes_cnn()
    shipped = shipped_shapes_cnn()
    for a, b in zip(model.get_weights(), shipped.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert model is not shipped and not calls and not (tmp_path / "cache").exists()
    assert SHIPPED_SETTINGS == dict(version=datasets.CACHE_VERSION, seed=0, size=32,
                                    num_classes=4, epochs=10, train_size=8000, batch_size=32,
                                    learning_rate=2e-3)  # trained_shapes_cnn's defaults

    trained_shapes_cnn(use_shipped=False)  # the recipe, cached
    trained_shapes_cnn(epochs=9)  # another setting: not the shipped model
    assert len(calls) == 2 and len(os.listdir(tmp_path / "cache")) == 2


def test_a_missing_shipped_file_raises_a_clear_error(monkeypatch):
    monkeypatch.setattr(datasets, "SHIPPED_FILE", "missing.keras")
    with pytest.raises(FileNotFoundError, match="Expected the shipped model .* Received"):
        shipped_shapes_cnn()


@pytest.mark.slow
def test_retraining_with_the_recipe_reaches_the_shipped_accuracy_then_loads_from_cache(
        tmp_path):
    start = time.perf_counter()
    model = trained_shapes_cnn(tmp_path, use_shipped=False)
    trained_in = time.perf_counter() - start
    test = make_shapes(2000, seed=HELD_OUT_SEED)
    accuracy = shapes_accuracy(model, test)
    print(f"shapes CNN: held-out accuracy {accuracy:.4f}, trained in {trained_in:.1f} s")
    assert accuracy >= SHIPPED_ACCURACY - 0.01

    start = time.perf_counter()
    again = trained_shapes_cnn(tmp_path, use_shipped=False)
    assert time.perf_counter() - start < 10.0
    for a, b in zip(again.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
