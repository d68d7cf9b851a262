"""Settings: one validated, frozen, typed record per explainer, made from a preset."""

import dataclasses

import numpy as np
import pytest

from keras_neuromask.presets import PRESETS
from keras_neuromask.settings import Settings


def test_every_preset_makes_settings_with_exactly_its_fields():
    fields = {field.name for field in dataclasses.fields(Settings)}
    for name, preset in PRESETS.items():
        assert set(preset) == fields, name
        assert Settings.from_preset(name).as_dict() == {
            key: (float(v) if isinstance(v, int) and key != "steps" else v)
            for key, v in preset.items()}


def test_settings_are_frozen_and_replace_checks_the_change():
    settings = Settings.from_preset("default")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.steps = 3
    assert settings.replace(steps=7).steps == 7 and settings.steps == PRESETS["default"]["steps"]
    with pytest.raises(ValueError, match="Expected learning_rate to be a finite number > 0"):
        settings.replace(learning_rate=float("nan"))
    with pytest.raises(TypeError, match="Expected settings among"):
        settings.replace(stepz=3)


@pytest.mark.parametrize("change, message", [
    (dict(smoothness="tv"), "Expected smoothness in"),
    (dict(sparsity="l0"), "Expected sparsity in"),
    (dict(optimizer="sgd"), "Expected optimizer in"),
    (dict(init="normal"), "Expected init in"),
    (dict(baseline="white"), "Expected baseline in"),
    (dict(baseline=[np.nan]), "Expected baseline to be a name or an image"),
    (dict(mask_grid=(0, 3)), "Expected mask_grid"),
    (dict(steps=0), "Expected steps"),
    (dict(blur_sigma=-1.0), "Expected blur_sigma"),
    (dict(sparsity_weight=-1.0), "Expected sparsity_weight"),
    (dict(init_value=float("inf")), "Expected init_value"),
    (dict(upsampling="nearest"), "Expected upsampling in"),
    (dict(sparsity="area", area=1.0), "Expected area to be None or a number in"),
    (dict(sparsity="area"), "Expected area .* exactly when sparsity='area'"),
    (dict(area=0.1), "Expected area .* exactly when sparsity='area'"),
])
def test_bad_values_are_refused_with_a_message_naming_them(change, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_preset("default", **change)


def test_mask_grid_int_means_square_and_grid_shape_is_clipped_to_the_image():
    settings = Settings.from_preset("default", mask_grid=np.int64(8))
    assert settings.mask_grid == (8, 8)
    assert settings.grid_shape(32, 6) == (8, 6)
    assert Settings.from_preset("default", mask_grid=(8, 8)).grid_shape(5, 7) == (5, 7)


def test_auto_grid_is_an_eighth_of_photos_and_two_pixel_cells_on_small_images():
    auto = Settings.from_preset("default")
    assert auto.mask_grid == "auto"
    sizes = {5: 5, 12: 8, 16: 8, 32: 16, 64: 16, 96: 11, 128: 8, 240: 8, 512: 8}
    assert {side: auto.grid_shape(side, side)[0] for side in sizes} == sizes
    assert auto.grid_shape(32, 240) == (16, 8)


def test_equality_compares_image_baselines_by_value():
    image = np.full((4, 4, 3), 0.5)
    assert Settings.from_preset(baseline=image) == Settings.from_preset(baseline=image.copy())
    assert Settings.from_preset(baseline=image) != Settings.from_preset(baseline="zero")
    assert Settings.from_preset() != Settings.from_preset(steps=3)


def test_checked_steps_defaults_to_the_settings_steps():
    settings = Settings.from_preset("default", steps=40)
    assert settings.checked_steps() == 40 and settings.checked_steps(5) == 5
    with pytest.raises(ValueError, match="Expected steps"):
        settings.checked_steps(0)


def test_auto_steps_and_start_follow_the_grid_of_the_image_size():
    settings = Settings.from_preset("default")
    assert settings.steps == "auto" and settings.init == "auto"
    assert settings.checked_steps(size=(224, 224)) == 50  # an 8x8 grid: the saliency start
    assert settings.checked_steps(size=(32, 32)) == 150  # 16x16 cells of 2 px: from 0
    assert settings.start_for(224, 224) == "saliency" and settings.start_for(32, 32) == "constant"
    assert settings.checked_steps(7, size=(224, 224)) == 7
    assert settings.replace(init="constant").start_for(224, 224) == "constant"
    with pytest.raises(ValueError, match="Expected the image size"):
        settings.checked_steps()
    with pytest.raises(ValueError, match="Expected steps"):
        Settings.from_preset("default", steps="many")


@pytest.mark.parametrize("size,coarse", [(8, False), (32, False), (96, False), (128, True),
                                         (299, True)])
def test_only_cells_of_16_px_or_more_count_as_a_coarse_grid(size, coarse):
    settings = Settings.from_preset("default")
    assert settings.coarse_grid(size, size) is coarse
    assert settings.checked_steps(size=(size, size)) == (50 if coarse else 150)
