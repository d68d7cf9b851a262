"""Reading images for a classifier: any format Pillow reads, any mode.

`load_image` (a file) and `decode_image` (the file's bytes, held in memory) give two views of
one image: the pixels the model sees (resized to the model's input, converted to its channels,
float32 in [0, 255]) and the picture at its own size (uint8 RGB) for drawing overlays on. The
command line and the Beam pipeline (`serving.beam`) both read images here.

Choices, fixed here so every caller sees the same pixels:
- transparency (RGBA, LA, PA, a palette with a transparent colour) is composited on white, as a
  viewer shows it; dropping the alpha channel would reveal whatever colour hides under the
  transparent pixels (often black or noise);
- 16-bit and 32-bit integer grayscale ('I;16', 'I;16B', 'I') is read on the 16-bit scale,
  value / 257 (so 65535 -> 255), values outside [0, 65535] clipped; float images ('F') are
  stretched from their own minimum and maximum to [0, 255];
- the EXIF orientation tag is applied, so a phone photo is upright;
- multi-frame files (GIF, TIFF) give their first frame;
- one colour to gray uses ITU-R 601-2 luma, L = 0.299 R + 0.587 G + 0.114 B (as Pillow);
- the photo is fitted to the model's input by `resize` (:mod:`keras_neuromask.framing`):
  "crop" (default: the centred box of the input's aspect ratio), "pad" (letterbox on black)
  or "squash"; `LoadedImage.framing` records how, so a mask maps back onto the photo;
- resizing is bilinear on float32 pixels (Pillow's filter widens its support when it shrinks,
  so downsizing is antialiased);
- Pillow's decompression-bomb guard stays on, and an image over `Image.MAX_IMAGE_PIXELS` pixels
  is refused outright (Pillow alone would only warn below twice that limit);
- every problem with the file (missing, a folder, unreadable, not an image, truncated, too large)
  raises `ValueError("Expected a readable image file ... Received: ...")`: one error family for
  the command line to report.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps

from keras_neuromask.framing import (
    DEFAULT_RESIZE,
    Framing,
    check_resize,
    frame_pixels,
    plan_framing,
)

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class LoadedImage(NamedTuple):
    """One image file, ready for the classifier and for drawing.

    Attributes:
        array: float32 (H, W, C), values in [0, 255], fitted to the model's input size (see
            `framing`) and converted to its channels (C is 1 or 3).
        original: uint8 (h, w, 3) RGB at the file's own size (after EXIF orientation), for
            overlays.
        path: the file that was read, as given.
        framing: how `original` became `array`; `framing.mask_to_photo(mask, framing)` puts
            a mask of `array` onto `original`.
    """

    array: np.ndarray  # float32 (H, W, C) in [0, 255], what the model sees
    original: np.ndarray  # uint8 (h, w, 3) RGB at the image's own size
    path: str  # the path as given by the caller
    framing: Framing | None = None  # how original was fitted to array


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size)
        or min(size) < 1
    ):
        raise ValueError(f"Expected `size` to be two positive integers (H, W). Received: {size!r}")
    return int(size[0]), int(size[1])


def _open(source, label: str) -> Image.Image:
    """Opens and fully decodes `source` (a path or a binary file), turning every failure into
    a ValueError that names `label`."""
    limit = Image.MAX_IMAGE_PIXELS  # read only: the guard stays as the user configured it
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                if limit is not None and image.width * image.height > limit:
                    raise Image.DecompressionBombError(
                        f"{image.width}x{image.height} pixels is more than the limit of {limit}"
                    )
                image.load()
                image = ImageOps.exif_transpose(image)
                image.load()
                return image
    except FileNotFoundError:
        reason = "no such file"
    except IsADirectoryError:
        reason = "a folder, not a file"
    except PermissionError:
        reason = "permission denied"
    except Image.UnidentifiedImageError:
        reason = "not an image format Pillow can read"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        reason = f"too large, refused as a possible decompression bomb ({err})"
    except Exception as err:  # decoders raise OSError, SyntaxError, struct.error, ...
        reason = f"corrupt or truncated ({type(err).__name__}: {err})"
    raise ValueError(f"Expected a readable image file. Received: {label!r} ({reason})")


def _to_float_pixels(image: Image.Image) -> np.ndarray:
    """Pixels as float32 (h, w, 1) gray or (h, w, 3) RGB, values in [0, 255]."""
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(image).astype(np.float64)
        return (np.clip(values, 0.0, 65535.0) / 257.0).astype(np.float32)[..., None]
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0)
        low, high = float(values.min()), float(values.max())
        scale = 255.0 / (high - low) if high > low else 0.0
        return ((values - low) * scale).astype(np.float32)[..., None]
    gray = mode in ("1", "L", "LA", "La")
    if "A" in mode or "a" in mode or image.has_transparency_data:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    if gray:
        return np.asarray(image.convert("L"), dtype=np.float32)[..., None]
    return np.asarray(image.convert("RGB"), dtype=np.float32)


def _convert_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    if pixels.shape[-1] == channels:
        return pixels
    if channels == 1:
        return (pixels @ _LUMA)[..., None].astype(np.float32)
    return np.repeat(pixels, 3, axis=-1)


def load_image(
    path: str | os.PathLike[str], size: tuple[int, int], channels: int = 3, *,
    resize: str = DEFAULT_RESIZE,
) -> LoadedImage:
    """Reads an image file for a classifier with input (H, W, C).

    Args:
        path: an image file in any format Pillow reads (PNG, JPEG, GIF, TIFF, BMP, WebP, ...),
            any mode (RGB, RGBA, palette, L, LA, 1-bit, CMYK, 16-bit 'I;16', 32-bit 'I', 'F').
        size: (H, W) of the classifier's input.
        channels: the classifier's channels, 1 (gray, by luma) or 3 (RGB).
        resize: how the photo is fitted to (H, W): "crop" (the centred box of the input's
            aspect ratio), "pad" (letterbox on black) or "squash" (:mod:`~keras_neuromask.framing`).

    Returns:
        A `LoadedImage`: `array` float32 (H, W, channels) in [0, 255], `original` uint8
        (h, w, 3) at the file's own size, `path` and `framing`.

    Raises:
        ValueError: the file is missing, a folder, unreadable, not an image, corrupt or
            truncated, or larger than `PIL.Image.MAX_IMAGE_PIXELS`; or `size` / `channels` are
            invalid.

    Example:
        >>> image = load_image("cat.png", size=(224, 224), channels=3)
        >>> image.array.shape, image.original.dtype
        ((224, 224, 3), dtype('uint8'))
    """
    size, channels, resize = _check_size(size), _check_channels(channels), check_resize(resize)
    path = _checked_path(path)
    return _loaded(_open(path, path), path, size, channels, resize)


def decode_image(data: bytes, size: tuple[int, int], channels: int = 3, *,
                 name: str = "<bytes>", resize: str = DEFAULT_RESIZE) -> LoadedImage:
    """`load_image` for an encoded image held in memory (the bytes of a PNG, JPEG, ... file).

    The pixels are exactly those `load_image` gives for a file with these bytes.

    Args:
        data: the encoded image, as read from a file.
        size: (H, W) of the classifier's input.
        channels: the classifier's channels, 1 or 3.
        name: what errors and `LoadedImage.path` call the image (e.g. its file name).
        resize: "crop", "pad" or "squash", as `load_image`.

    Raises:
        TypeError: `data` is not bytes.
        ValueError: as `load_image`, for corrupt, truncated or unknown data.

    Example:
        >>> image = decode_image(open("cat.png", "rb").read(), (224, 224), name="cat.png")
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"Expected `data` to be bytes. Received: {type(data).__name__}")
    if not isinstance(name, str):
        raise TypeError(f"Expected `name` to be a str. Received: {name!r}")
    size, channels, resize = _check_size(size), _check_channels(channels), check_resize(resize)
    return _loaded(_open(io.BytesIO(bytes(data)), name), name, size, channels, resize)


def _checked_path(path) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"Expected `path` to be a str or os.PathLike. Received: {path!r}")
    return os.fspath(path)


def _check_channels(channels) -> int:
    if channels not in (1, 3) or isinstance(channels, bool):
        raise ValueError(f"Expected `channels` to be 1 or 3. Received: {channels!r}")
    return int(channels)


def _loaded(image: Image.Image, path: str, size, channels, resize) -> LoadedImage:
    pixels = _to_float_pixels(image)
    rgb = _convert_channels(pixels, 3)
    original = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    framing = plan_framing(original.shape[:2], size, resize)
    array = np.clip(frame_pixels(_convert_channels(pixels, channels), framing), 0.0, 255.0)
    return LoadedImage(array=array.astype(np.float32, copy=False), original=original, path=path,
                       framing=framing)
