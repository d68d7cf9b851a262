"""The presets are pinned: the paper's reference settings must not drift."""

import pytest

from keras_neuromask.presets import PRESETS, get_preset


def test_paper_presets_reproduce_the_reference_code():
    common = dict(init="uniform", param_limit=10.0, preservation_weight=0.4,
                  sparsity_weight=0.35, sparsity="parameter_l1", optimizer="rmsprop",
                  learning_rate=0.03, baseline="zero", mask_grid=None)
    cifar = dict(common, temperature=1.0, smoothness_weight=0.15, smoothness="laplacian3",
                 steps=2000)
    imagenet = dict(common, temperature=0.3, smoothness_weight=0.03, smoothness="laplacian5",
                    steps=1000)
    for name, expected in (("paper-cifar", cifar), ("paper-imagenet", imagenet)):
        preset = PRESETS[name]
        assert {key: preset[key] for key in expected} == expected, name


def test_every_preset_has_the_same_keys():
    keys = set(PRESETS["default"])
    assert all(set(preset) == keys for preset in PRESETS.values())


def test_get_preset_returns_a_copy_and_refuses_unknown_names():
    get_preset("default")["steps"] = -1
    assert PRESETS["default"]["steps"] == "auto"
    with pytest.raises(ValueError, match="Expected preset"):
        get_preset("paper")


def test_default_preset_is_the_tuned_one():
    assert PRESETS["default"] == dict(
        init="auto", init_value=0.0, param_limit=10.0, temperature=0.4,
        preservation_weight=1.0, preservation_target="original", sparsity_weight=3.0,
        sparsity="mask_l1", smoothness_weight=2.0, smoothness="perimeter", optimizer="adam",
        learning_rate=0.3, steps="auto", baseline="blur", blur_sigma=16.0, mask_grid="auto",
        upsampling="parameters_bicubic", area=None, deletion_weight=0.0,
        deletion_baseline="mean", relative_gap=2.0)


def test_pixel_preset_is_the_previous_default():
    assert PRESETS["pixel"] == dict(
        init="constant", init_value=0.0, param_limit=10.0, temperature=0.4,
        preservation_weight=1.0, preservation_target="one", sparsity_weight=3.0,
        sparsity="mask_l1", smoothness_weight=1.0, smoothness="total_variation",
        optimizer="adam", learning_rate=0.2, steps=150, baseline="blur", blur_sigma=16.0,
        mask_grid=None, upsampling="mask_bilinear", area=None, deletion_weight=0.0,
        deletion_baseline="mean", relative_gap=None)


def test_deletion_preset_is_the_default_mask_playing_only_the_deletion_game():
    changed = {key: value for key, value in PRESETS["deletion"].items()
               if PRESETS["default"][key] != value}
    assert changed == dict(preservation_weight=0.0, deletion_weight=1.0, relative_gap=None,
                           learning_rate=0.2, init="constant", steps=150)
    assert PRESETS["paper-cifar"]["deletion_weight"] == 0.0
