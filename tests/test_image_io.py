"""Tests for keras_neuromask.cli.image_io: every Pillow mode in, the model's pixels out."""

import numpy as np
import pytest
from PIL import Image

from keras_neuromask.cli.image_io import LoadedImage, load_image

H, W = 12, 16  # the files' own size (rows, columns)


def _rgb() -> np.ndarray:
    """A deterministic colourful (H, W, 3) uint8 image."""
    rows, cols = np.mgrid[0:H, 0:W]
    return np.stack([rows * 20, cols * 15, (rows + cols) * 8], axis=-1).astype(np.uint8)


def _save(tmp_path, name, image: Image.Image, **kwargs) -> str:
    path = tmp_path / name
    image.save(path, **kwargs)
    return str(path)


def test_rgb_png_at_own_size_is_exact_and_resized_array_is_float32_in_range(tmp_path):
    path = _save(tmp_path, "rgb.png", Image.fromarray(_rgb()))
    loaded = load_image(path, size=(8, 10), channels=3)
    assert isinstance(loaded, LoadedImage)
    assert loaded.path == path
    assert loaded.original.dtype == np.uint8 and loaded.original.shape == (H, W, 3)
    np.testing.assert_array_equal(loaded.original, _rgb())
    assert loaded.array.dtype == np.float32 and loaded.array.shape == (8, 10, 3)
    assert 0.0 <= loaded.array.min() and loaded.array.max() <= 255.0


def test_same_size_array_equals_the_pixels(tmp_path):
    path = _save(tmp_path, "rgb.png", Image.fromarray(_rgb()))
    loaded = load_image(path, size=(H, W), channels=3)
    np.testing.assert_array_equal(loaded.array, _rgb().astype(np.float32))


def test_resizing_a_constant_image_keeps_its_value(tmp_path):
    image = Image.new("RGB", (W, H), (10, 200, 90))
    path = _save(tmp_path, "flat.png", image)
    for size in [(3, 5), (40, 31)]:  # down and up
        loaded = load_image(path, size=size, channels=3)
        np.testing.assert_allclose(loaded.array, np.broadcast_to([10, 200, 90], (*size, 3)),
                                   atol=1e-3)


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 0] = 200  # red everywhere
    rgba[:, : W // 2, 3] = 0  # left half fully transparent
    rgba[:, W // 2 :, 3] = 255  # right half opaque
    path = _save(tmp_path, "rgba.png", Image.fromarray(rgba, mode="RGBA"))
    loaded = load_image(path, size=(H, W), channels=3)
    np.testing.assert_array_equal(loaded.original[:, : W // 2], 255)
    assert (loaded.original[:, W // 2 :] == [200, 0, 0]).all()


def test_la_half_transparent_is_blended_with_white(tmp_path):
    la = np.stack([np.zeros((H, W)), np.full((H, W), 128)], axis=-1).astype(np.uint8)
    path = _save(tmp_path, "la.png", Image.fromarray(la, mode="LA"))
    loaded = load_image(path, size=(H, W), channels=1)
    assert loaded.array.shape == (H, W, 1)
    np.testing.assert_allclose(loaded.array, 255 * (1 - 128 / 255), atol=1.0)
    assert loaded.original.shape == (H, W, 3)


def test_palette_image_with_transparent_index_reads_colours_and_white(tmp_path):
    indices = np.zeros((H, W), np.uint8)
    indices[:, W // 2 :] = 1
    image = Image.fromarray(indices, mode="P")
    image.putpalette([0, 0, 0, 30, 60, 90] + [0, 0, 0] * 254)
    path = _save(tmp_path, "p.png", image, transparency=0)
    loaded = load_image(path, size=(H, W), channels=3)
    np.testing.assert_array_equal(loaded.original[:, : W // 2], 255)
    assert (loaded.original[:, W // 2 :] == [30, 60, 90]).all()


def test_grayscale_l_gives_one_channel_or_three_equal_channels(tmp_path):
    gray = _rgb()[..., 0]
    path = _save(tmp_path, "l.png", Image.fromarray(gray, mode="L"))
    one = load_image(path, size=(H, W), channels=1)
    three = load_image(path, size=(H, W), channels=3)
    np.testing.assert_array_equal(one.array[..., 0], gray)
    for c in range(3):
        np.testing.assert_array_equal(three.array[..., c], gray)
        np.testing.assert_array_equal(one.original[..., c], gray)


def test_rgb_to_one_channel_uses_luma(tmp_path):
    path = _save(tmp_path, "rgb.png", Image.new("RGB", (W, H), (100, 50, 200)))
    loaded = load_image(path, size=(H, W), channels=1)
    np.testing.assert_allclose(loaded.array, 0.299 * 100 + 0.587 * 50 + 0.114 * 200, atol=1e-3)


def test_sixteen_bit_png_is_scaled_to_0_255(tmp_path):
    values = np.zeros((H, W), np.uint16)
    values[:, W // 2 :] = 65535
    values[0, 0] = 257 * 100
    path = _save(tmp_path, "g16.png", Image.fromarray(values))
    assert Image.open(path).mode == "I;16"
    loaded = load_image(path, size=(H, W), channels=1)
    assert loaded.array[0, 0, 0] == pytest.approx(100.0)
    np.testing.assert_allclose(loaded.array[:, W // 2 :], 255.0)
    assert loaded.original[0, 0].tolist() == [100, 100, 100]
    assert loaded.original[0, -1].tolist() == [255, 255, 255]


def test_thirty_two_bit_integer_tiff_is_read_on_the_sixteen_bit_scale(tmp_path):
    values = np.full((H, W), 257 * 40, np.int32)
    values[0, 0] = 1_000_000  # beyond 16 bits: clipped to white
    path = _save(tmp_path, "g32.tif", Image.fromarray(values))
    assert Image.open(path).mode == "I"
    loaded = load_image(path, size=(H, W), channels=3)
    assert loaded.original[1, 1].tolist() == [40, 40, 40]
    assert loaded.original[0, 0].tolist() == [255, 255, 255]


def test_jpeg_reads_close_to_its_source(tmp_path):
    path = _save(tmp_path, "rgb.jpg", Image.new("RGB", (W, H), (120, 30, 220)), quality=95)
    loaded = load_image(path, size=(6, 6), channels=3)
    np.testing.assert_allclose(loaded.array, np.broadcast_to([120, 30, 220], (6, 6, 3)), atol=4)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(_rgb())
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = _save(tmp_path, "rot.jpg", image, exif=exif, quality=95)
    loaded = load_image(path, size=(4, 4), channels=3)
    assert loaded.original.shape == (W, H, 3)


def test_missing_file_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match=r"Expected a readable image file.*no such file"):
        load_image(tmp_path / "nope.png", size=(4, 4))


def test_folder_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match=r"Expected a readable image file.*Received"):
        load_image(tmp_path, size=(4, 4))


def test_not_an_image_raises_value_error(tmp_path):
    path = tmp_path / "notes.png"
    path.write_bytes(b"this is not a picture")
    with pytest.raises(ValueError, match=r"Expected a readable image file.*not an image"):
        load_image(path, size=(4, 4))


def test_truncated_png_raises_value_error(tmp_path):
    path = _save(tmp_path, "full.png", Image.fromarray(np.random.default_rng(0).integers(
        0, 255, (64, 64, 3), dtype=np.uint8)))
    data = open(path, "rb").read()
    broken = tmp_path / "broken.png"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"Expected a readable image file.*corrupt or truncated"):
        load_image(broken, size=(4, 4))


def test_image_over_the_pixel_limit_is_refused_and_the_limit_is_unchanged(tmp_path, monkeypatch):
    path = _save(tmp_path, "big.png", Image.new("RGB", (40, 30)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1200 pixels: only a warning in Pillow
    with pytest.raises(ValueError, match="decompression bomb"):
        load_image(path, size=(4, 4))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # over twice the limit: Pillow's error
    with pytest.raises(ValueError, match="decompression bomb"):
        load_image(path, size=(4, 4))
    assert Image.MAX_IMAGE_PIXELS == 500


def test_decompression_bomb_guard_is_on_by_default():
    assert Image.MAX_IMAGE_PIXELS is not None
    import keras_neuromask.cli.image_io  # noqa: F401  (importing must not lift the guard)

    assert Image.MAX_IMAGE_PIXELS is not None


@pytest.mark.parametrize("size", [(0, 4), (4,), "44", (4.0, 4), (True, 4)])
def test_bad_size_raises_value_error(tmp_path, size):
    path = _save(tmp_path, "rgb.png", Image.fromarray(_rgb()))
    with pytest.raises(ValueError, match="Expected `size`"):
        load_image(path, size=size)


@pytest.mark.parametrize("channels", [0, 2, 4])
def test_bad_channels_raises_value_error(tmp_path, channels):
    path = _save(tmp_path, "rgb.png", Image.fromarray(_rgb()))
    with pytest.raises(ValueError, match="Expected `channels`"):
        load_image(path, size=(4, 4), channels=channels)


def test_decode_image_of_a_files_bytes_equals_load_image_of_the_file(tmp_path):
    from keras_neuromask.image_io import decode_image

    path = _save(tmp_path, "rgba.png", Image.fromarray(_rgb()).convert("RGBA"))
    for channels in (1, 3):
        from_file = load_image(path, size=(5, 7), channels=channels)
        from_bytes = decode_image(open(path, "rb").read(), (5, 7), channels, name="rgba.png")
        np.testing.assert_array_equal(from_bytes.array, from_file.array)
        np.testing.assert_array_equal(from_bytes.original, from_file.original)
    assert from_bytes.path == "rgba.png"
    with pytest.raises(ValueError, match="Expected a readable image file. Received: 'x.png'"):
        decode_image(b"not an image", (4, 4), name="x.png")
    with pytest.raises(TypeError, match="Expected `data` to be bytes"):
        decode_image(str(path), (4, 4))


def test_resize_crops_pads_or_squashes_a_non_square_photo_and_records_how(tmp_path):
    path = _save(tmp_path, "rgb.png", Image.fromarray(_rgb()))  # 12 x 16
    crop = load_image(path, size=(12, 12), channels=3)  # the default
    np.testing.assert_array_equal(crop.array, _rgb()[:, 2:14].astype(np.float32))
    assert crop.framing.mode == "crop" and tuple(crop.framing.source) == (0, 2, 12, 12)
    pad = load_image(path, size=(16, 16), channels=3, resize="pad")
    np.testing.assert_array_equal(pad.array[2:14], _rgb().astype(np.float32))
    assert not pad.array[:2].any() and not pad.array[14:].any()
    squash = load_image(path, size=(12, 12), channels=3, resize="squash")
    assert tuple(squash.framing.source) == (0, 0, 12, 16)
    np.testing.assert_array_equal(crop.original, _rgb())  # the photo itself is untouched
    with pytest.raises(ValueError, match="Expected `resize` to be one of"):
        load_image(path, size=(12, 12), resize="stretch")
