"""How a photo is fitted to a model's input, and how a mask finds its way back to the photo.

A classifier takes (H, W) pixels; a photo is (h, w), rarely of the same shape. Three ways:

- ``"crop"`` (the default): the largest centred box of the photo with the input's aspect
  ratio, resized to (H, W); the convention of ImageNet evaluation. Nothing is distorted; the
  photo's edges outside the box are not seen by the model, and the mask is 0 there.
- ``"pad"``: the whole photo, resized to fit inside (H, W) and centred on a black canvas (a
  letterbox). Nothing is distorted or cut; the model sees a smaller photo and the black bars.
- ``"squash"``: the whole photo resized to (H, W), changing its aspect ratio (what
  ``neuromask`` did before; right when the photos already have the input's shape).

A :class:`Framing` records the two boxes: ``source``, the part of the photo the model sees,
and ``target``, where that part lands in the input. :func:`frame_pixels` applies it and
:func:`mask_to_photo` undoes it: the box ``target`` of the mask is resized to the box
``source`` of a zero map at the photo's size. Boxes are whole pixels, so a region of the photo
lands, up to the resizing's interpolation, exactly where it was.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PIL import Image

RESIZE_MODES = ("crop", "pad", "squash")
DEFAULT_RESIZE = "crop"


class Box(NamedTuple):
    """A rectangle of whole pixels: rows ``[top, top + height)``, columns ``[left, left +
    width)``."""

    top: int
    left: int
    height: int
    width: int

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, columns)`` to index an array with."""
        return (slice(self.top, self.top + self.height),
                slice(self.left, self.left + self.width))


class Framing(NamedTuple):
    """How a photo of ``photo_size`` was fitted to a model input of ``input_size``."""

    mode: str  # "crop", "pad" or "squash"
    photo_size: tuple[int, int]  # (h, w) of the photo
    input_size: tuple[int, int]  # (H, W) of the model's input
    source: Box  # the part of the photo the model sees
    target: Box  # where that part lands in the input (pad: inside the black bars)

    def to_json(self) -> dict:
        """The framing as JSON types (boxes as ``[top, left, height, width]``)."""
        return {"resize": self.mode, "photo_size": list(self.photo_size),
                "input_size": list(self.input_size), "source": list(self.source),
                "target": list(self.target)}


def _size(size, what: str) -> tuple[int, int]:
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                       for s in size) or min(size) < 1):
        raise ValueError(f"Expected `{what}` to be two positive integers (H, W). "
                         f"Received: {size!r}")
    return int(size[0]), int(size[1])


def check_resize(mode) -> str:
    """``mode`` if it is one of :data:`RESIZE_MODES`; ValueError otherwise."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"Expected `resize` to be one of {RESIZE_MODES}. Received: {mode!r}")
    return mode


def plan_framing(photo_size: tuple[int, int], input_size: tuple[int, int],
                 mode: str = DEFAULT_RESIZE) -> Framing:
    """The framing of a (h, w) photo for a (H, W) input (see the module docstring).

    Example:
        >>> plan_framing((300, 451), (240, 240), "crop").source   # the centre 300x300
        Box(top=0, left=75, height=300, width=300)
        >>> plan_framing((300, 451), (240, 240), "pad").target    # 240 wide, 160 high
        Box(top=40, left=0, height=160, width=240)
    """
    (h, w), (H, W), mode = _size(photo_size, "photo_size"), _size(input_size, "input_size"), \
        check_resize(mode)
    whole_photo, whole_input = Box(0, 0, h, w), Box(0, 0, H, W)
    if mode == "squash":
        return Framing(mode, (h, w), (H, W), whole_photo, whole_input)
    if mode == "crop":
        if w * H > h * W:  # wider than the input: keep the full height
            width = min(w, max(1, round(h * W / H)))
            source = Box(0, (w - width) // 2, h, width)
        else:
            height = min(h, max(1, round(w * H / W)))
            source = Box((h - height) // 2, 0, height, w)
        return Framing(mode, (h, w), (H, W), source, whole_input)
    scale = min(H / h, W / w)
    height, width = min(H, max(1, round(h * scale))), min(W, max(1, round(w * scale)))
    return Framing(mode, (h, w), (H, W), whole_photo,
                   Box((H - height) // 2, (W - width) // 2, height, width))


def resize_bilinear(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of float32 (h, w) or (h, w, C) to (H, W[, C]), a Pillow 'F' image per
    channel (Pillow widens the filter when it shrinks, so downsizing is antialiased)."""
    height, width = size
    values = np.asarray(values, dtype=np.float32)
    if values.shape[:2] == (height, width):
        return values.copy()
    planes = values[..., None] if values.ndim == 2 else values
    resized = np.stack([
        np.asarray(Image.fromarray(np.ascontiguousarray(planes[..., c]), mode="F").resize(
            (width, height), Image.Resampling.BILINEAR), dtype=np.float32)
        for c in range(planes.shape[-1])], axis=-1)
    return resized[..., 0] if values.ndim == 2 else resized


def frame_pixels(pixels: np.ndarray, framing: Framing, fill: float = 0.0) -> np.ndarray:
    """The model's input: the photo's ``source`` box resized into the ``target`` box of a
    canvas of ``fill`` (float32 (H, W, C))."""
    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.shape[:2] != framing.photo_size:
        raise ValueError(f"Expected pixels of the framed photo's size {framing.photo_size}. "
                         f"Received: {pixels.shape[:2]}")
    target = framing.target
    canvas = np.full((*framing.input_size, pixels.shape[-1]), fill, dtype=np.float32)
    canvas[target.slices] = resize_bilinear(pixels[framing.source.slices],
                                            (target.height, target.width))
    return canvas


def mask_to_photo(mask: np.ndarray, framing: Framing) -> np.ndarray:
    """A mask of the model's input, mapped back onto the photo (float32 (h, w); 0 where the
    model did not see the photo).

    Example:
        >>> full = mask_to_photo(result.masks[0], image.framing)   # the photo's own size
    """
    mask = np.asarray(mask, dtype=np.float32)
    if mask.shape != framing.input_size:
        raise ValueError(f"Expected a mask of the model's input size {framing.input_size}. "
                         f"Received: {mask.shape}")
    source = framing.source
    photo = np.zeros(framing.photo_size, dtype=np.float32)
    photo[source.slices] = np.clip(resize_bilinear(mask[framing.target.slices],
                                                   (source.height, source.width)), 0.0, 1.0)
    return photo


__all__ = ["Box", "DEFAULT_RESIZE", "Framing", "RESIZE_MODES", "check_resize", "frame_pixels",
           "mask_to_photo", "plan_framing", "resize_bilinear"]
