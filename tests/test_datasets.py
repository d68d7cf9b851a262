"""Tests for the generated shapes benchmark and its small CNN."""

import os
import time

import keras
import numpy as np
import pytest

from keras_neuromask.evaluation import datasets
from keras_neuromask.evaluation.datasets import (
    SHAPE_NAMES,
    ShapesData,
    make_shapes,
    small_cnn,
    trained_shapes_cnn,
)


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


@pytest.mark.slow
def test_trained_cnn_reaches_98_percent_and_second_call_loads_from_cache(tmp_path):
    start = time.perf_counter()
    model = trained_shapes_cnn(tmp_path, seed=0)
    trained_in = time.perf_counter() - start
    test = make_shapes(2000, seed=987_654)
    logits = model.predict(test.images, verbose=0, batch_size=500)
    accuracy = float(np.mean(logits.argmax(axis=1) == test.labels))
    print(f"shapes CNN: test accuracy {accuracy:.4f}, trained in {trained_in:.1f} s")
    assert accuracy >= 0.98

    start = time.perf_counter()
    again = trained_shapes_cnn(tmp_path, seed=0)
    assert time.perf_counter() - start < 10.0
    np.testing.assert_array_equal(again.predict(test.images, verbose=0, batch_size=500), logits)
