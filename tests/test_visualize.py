"""keras_neuromask.results.visualize: overlays at the image's size, the comparison grid."""

import numpy as np
import pytest
from PIL import Image

from keras_neuromask.results.visualize import comparison_grid, overlay, save_overlay_png


def _image(h=20, w=30) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_overlay_is_uint8_at_the_image_size_for_any_mask_size():
    result = overlay(_image(20, 30), np.random.default_rng(1).uniform(size=(7, 9)))
    assert result.dtype == np.uint8 and result.shape == (20, 30, 3)


def test_overlay_alpha_zero_is_the_image_and_alpha_one_is_the_colour_map():
    image = _image()
    np.testing.assert_array_equal(overlay(image, np.zeros((4, 4)), alpha=0.0), image)
    only_map = overlay(image, np.ones((4, 4)), alpha=1.0, cmap="gray")
    np.testing.assert_array_equal(only_map, 255)  # gray maps 1.0 to white
    dark = overlay(image, np.zeros((4, 4)), alpha=1.0, cmap="gray")
    np.testing.assert_array_equal(dark, 0)


def test_overlay_blends_by_the_formula():
    image = np.full((2, 2, 3), 100, np.uint8)
    result = overlay(image, np.ones((2, 2)), alpha=0.25, cmap="gray")
    np.testing.assert_array_equal(result, round(0.75 * 100 + 0.25 * 255))


def test_overlay_resizes_the_mask_so_its_bright_half_stays_on_the_same_side():
    mask = np.zeros((4, 4), np.float32)
    mask[:, 2:] = 1.0
    result = overlay(np.zeros((40, 60, 3), np.uint8), mask, alpha=1.0, cmap="gray")
    assert result[:, :20].max() == 0 and result[:, 40:].min() == 255


def test_overlay_accepts_gray_and_float_images():
    gray = np.full((5, 6), 0.5, np.float32)  # floats in [0, 1]
    result = overlay(gray, np.zeros((5, 6)), alpha=0.0)
    assert result.shape == (5, 6, 3)
    np.testing.assert_array_equal(result, 128)


@pytest.mark.parametrize("kwargs", [{"mask": np.full((3, 3), 2.0)}, {"mask": np.zeros(3)},
                                    {"alpha": 1.5}, {"cmap": "no-such-map"},
                                    {"original": np.zeros((4, 4, 4), np.uint8)}])
def test_overlay_bad_arguments_raise_value_error(kwargs):
    args = {"original": _image(), "mask": np.zeros((3, 3))}
    options = {k: kwargs.pop(k) for k in ("alpha", "cmap") if k in kwargs}
    args.update(kwargs)
    with pytest.raises(ValueError, match="Expected"):
        overlay(args["original"], args["mask"], **options)


def test_save_overlay_png_writes_an_rgb_png_of_the_image_size(tmp_path):
    path = save_overlay_png(_image(20, 30), np.zeros((8, 8)), tmp_path / "o.png")
    image = Image.open(path)
    assert image.mode == "RGB" and image.size == (30, 20)


def test_comparison_grid_png_has_one_cell_per_image_and_method(tmp_path):
    images = [_image(20, 30), _image(32, 32)]
    maps = {
        "NeuroMask": np.random.default_rng(2).uniform(size=(2, 8, 8)),
        "Gradcam": [np.zeros((4, 4)), np.ones((16, 16))],
    }
    path = comparison_grid(images, maps, tmp_path / "grid.png", titles=["a.png", "b.png"],
                           cell_size=64)
    assert Image.open(path).size == (3 * 64, 2 * 64)


def test_comparison_grid_normalize_accepts_maps_outside_0_1(tmp_path):
    maps = {"Saliency": np.array([[[0.0, 5.0], [10.0, 20.0]]])}
    with pytest.raises(ValueError, match=r"Expected .* in \[0, 1\]"):
        comparison_grid([_image()], maps, tmp_path / "g.png")
    path = comparison_grid([_image()], maps, tmp_path / "g.png", normalize=True, cell_size=32)
    assert Image.open(path).size == (64, 32)


def test_comparison_grid_counts_must_match(tmp_path):
    with pytest.raises(ValueError, match="Expected 2 maps"):
        comparison_grid([_image(), _image()], {"m": np.zeros((1, 4, 4))}, tmp_path / "g.png")
    with pytest.raises(ValueError, match="Expected 1 titles"):
        comparison_grid([_image()], {"m": np.zeros((1, 4, 4))}, tmp_path / "g.png",
                        titles=["a", "b"])


def test_grid_and_overlay_leave_no_pyplot_figure_and_keep_the_backend(tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt  # Keras imports pyplot anyway; its state must not change

    backend, figures = matplotlib.get_backend(), plt.get_fignums()
    save_overlay_png(_image(), np.zeros((4, 4)), tmp_path / "o.png")
    comparison_grid([_image()], {"m": np.zeros((1, 4, 4))}, tmp_path / "g.png", cell_size=32)
    assert matplotlib.get_backend() == backend
    assert plt.get_fignums() == figures
