"""Marks drawn on a picture: a caption (the class name) and the part the model did not see.

Both return a new uint8 (h, w, 3) array of the same size (the picture is never resized or
changed in place), drawn with Pillow only (its built-in font; no font file, no matplotlib).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from keras_neuromask.framing import Box, Framing, mask_to_photo
from keras_neuromask.results.outputs import atomic_write

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
MIN_CAPTION_SIDE = 96  # smaller pictures get no caption: the text would hide the picture


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 with FreeType
    except (TypeError, ImportError, OSError):
        return ImageFont.load_default()  # a small bitmap font


def _rgb(picture, what: str = "picture") -> np.ndarray:
    picture = np.asarray(picture)
    if picture.ndim != 3 or picture.shape[-1] != 3 or picture.dtype != np.uint8:
        raise ValueError(f"Expected {what} as uint8 (h, w, 3). Received: {picture.dtype} "
                         f"{picture.shape}")
    return picture


def caption(picture, text: str, *, scale: float = 0.06) -> np.ndarray:
    """``text`` in white on a dark band at the top left of the picture.

    Args:
        picture: uint8 (h, w, 3).
        text: one line, e.g. "Egyptian cat 0.80"; cut with "…" to the picture's width.
        scale: the font's height as a share of the picture's shorter side (at least 10 px).

    Returns:
        A new uint8 (h, w, 3) array.

    Example:
        >>> labelled = caption(overlay(photo, mask), "Egyptian cat 0.80")
    """
    picture = _rgb(picture)
    if not isinstance(text, str):
        raise TypeError(f"Expected `text` to be a str. Received: {type(text).__name__}")
    image = Image.fromarray(picture, mode="RGB")
    height, width = picture.shape[:2]
    size = max(10, round(min(height, width) * scale))
    font, pad = _font(size), max(2, size // 4)
    draw = ImageDraw.Draw(image, "RGBA")
    line = " ".join(text.split())
    while line and draw.textlength(line, font=font) + 2 * pad > width and len(line) > 1:
        line = line[:-2] + "…"
    if not line:
        return np.asarray(image).copy()
    left, top, right, bottom = draw.textbbox((pad, pad), line, font=font)
    draw.rectangle((0, 0, min(width, right + pad), min(height, bottom + pad)),
                   fill=(0, 0, 0, 170))
    draw.text((pad, pad), line, font=font, fill=(255, 255, 255, 255))
    return np.asarray(image).copy()


def fade_outside(picture, original, box: Box) -> np.ndarray:
    """``picture`` inside ``box``; outside it, the original in faded gray (64 + luma / 2).

    Marks the part of a photo the model did not see (a centre crop's edges), so that a zero
    there is not read as "unimportant".

    Args:
        picture: uint8 (h, w, 3), e.g. an overlay.
        original: uint8 (h, w, 3), the photo under it.
        box: the part to keep as it is (``Framing.source``).

    Returns:
        A new uint8 (h, w, 3) array.
    """
    picture, original = _rgb(picture), _rgb(original, "original")
    if picture.shape != original.shape:
        raise ValueError(f"Expected picture and original of one shape. Received: "
                         f"{picture.shape} and {original.shape}")
    gray = 64.0 + 0.5 * (original.astype(np.float32) @ _LUMA)
    faded = np.repeat(np.clip(np.rint(gray), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    faded[box.slices] = picture[box.slices]
    return faded


def explanation_picture(original, mask, *, framing: Framing | None = None,
                        label: str | None = None, alpha: float = 0.5,
                        cmap: str = "jet") -> np.ndarray:
    """The overlay a person looks at: the heat map on the photo at its own size, undistorted.

    Args:
        original: uint8 (h, w, 3), the photo.
        mask: (H, W) in [0, 1], the mask of the model's input.
        framing: how the photo was fitted to the input (``LoadedImage.framing``): the mask is
            mapped back through it, and the part of the photo the model did not see (a centre
            crop's edges) is faded to gray. None: the mask is resized to the photo.
        label: a caption at the top left (e.g. "Egyptian cat 0.80"), or None; drawn on
            pictures of at least :data:`MIN_CAPTION_SIDE` pixels a side only.
        alpha, cmap: as :func:`keras_neuromask.results.visualize.overlay`.

    Returns:
        uint8 (h, w, 3).
    """
    from keras_neuromask.results.visualize import overlay

    original = _rgb(original, "original")
    if framing is not None:
        mask = mask_to_photo(mask, framing)
    picture = overlay(original, mask, alpha=alpha, cmap=cmap)
    if framing is not None and framing.source != Box(0, 0, *original.shape[:2]):
        picture = fade_outside(picture, original, framing.source)
    if label and min(original.shape[:2]) >= MIN_CAPTION_SIDE:
        picture = caption(picture, label)
    return picture


def save_picture_png(picture, path) -> str:
    """Writes a uint8 (h, w, 3) picture as an RGB PNG (atomically); returns the path."""
    buffer = io.BytesIO()
    Image.fromarray(_rgb(picture), mode="RGB").save(buffer, format="PNG")
    return str(atomic_write(path, lambda f: f.write(buffer.getvalue())))


__all__ = ["caption", "explanation_picture", "fade_outside", "save_picture_png"]
