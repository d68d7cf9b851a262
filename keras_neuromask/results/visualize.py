"""Pictures of explanations: a heat-map overlay on the image, and a grid comparing methods.

matplotlib is imported inside the functions that need it, and only as `matplotlib.colormaps`,
`matplotlib.figure.Figure` and `FigureCanvasAgg`: this module never imports pyplot, selects a
backend or changes rcParams, and registers no figure with pyplot, so calling it changes no
global state (and leaks no figures in a loop). Overlays need no figure at all (numpy + PIL).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from PIL import Image

from keras_neuromask.inputs import as_unit_map
from keras_neuromask.results.outputs import atomic_write


def _check_image(image, what: str = "image") -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3) or min(image.shape[:2]) < 1:
        raise ValueError(
            f"Expected {what} of shape (h, w, 3), (h, w, 1) or (h, w). Received: {image.shape}"
        )
    if image.dtype != np.uint8:
        if not np.issubdtype(image.dtype, np.number) or not np.all(np.isfinite(image)):
            raise ValueError(f"Expected {what} of finite numbers. Received: dtype {image.dtype}")
        scale = 255.0 if image.max() <= 1.0 else 1.0  # floats in [0, 1] or in [0, 255]
        image = np.clip(np.rint(image.astype(np.float64) * scale), 0, 255).astype(np.uint8)
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image


def _colormap_lut(cmap: str) -> np.ndarray:
    """The colour map as a (256, 3) uint8 lookup table."""
    import matplotlib

    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError as err:
        raise ValueError(f"Expected a matplotlib colour map name. Received: {cmap!r}") from err
    return np.rint(colormap(np.linspace(0.0, 1.0, 256))[:, :3] * 255.0).astype(np.uint8)


def overlay(original, mask, *, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """The mask as a heat map blended over the image, at the image's own size.

    out = round((1 - alpha) * original + alpha * colormap(resize(mask))), where the mask is
    resized bilinearly to (h, w) and coloured through a 256-entry table of `cmap`.

    Args:
        original: uint8 (h, w, 3) RGB (also accepted: (h, w) / (h, w, 1) gray, floats in
            [0, 1] or [0, 255]).
        mask: (H, W) values in [0, 1]; any size, resized to (h, w).
        alpha: weight of the heat map, in [0, 1].
        cmap: a matplotlib colour map name.

    Returns:
        uint8 (h, w, 3).

    Example:
        >>> picture = overlay(loaded.original, result.masks[0])
    """
    image = _check_image(original)
    values = as_unit_map(mask)
    if not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"Expected `alpha` in [0, 1]. Received: {alpha!r}")
    height, width = image.shape[:2]
    if values.shape != (height, width):
        values = np.asarray(
            Image.fromarray(values, mode="F").resize((width, height), Image.Resampling.BILINEAR)
        )
    index = np.clip(np.rint(values * 255.0), 0, 255).astype(np.intp)
    heat = _colormap_lut(cmap)[index].astype(np.float32)
    blended = (1.0 - alpha) * image.astype(np.float32) + alpha * heat
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def overlay_png_bytes(original, mask, *, alpha: float = 0.5, cmap: str = "jet") -> bytes:
    """`overlay(original, mask, alpha=alpha, cmap=cmap)` encoded as an RGB PNG."""
    buffer = io.BytesIO()
    Image.fromarray(overlay(original, mask, alpha=alpha, cmap=cmap), mode="RGB").save(
        buffer, format="PNG")
    return buffer.getvalue()


def save_overlay_png(
    original, mask, path: os.PathLike | str, *, alpha: float = 0.5, cmap: str = "jet"
) -> Path:
    """Writes :func:`overlay_png_bytes` of the same arguments (atomically).

    Returns:
        The path written.
    """
    png = overlay_png_bytes(original, mask, alpha=alpha, cmap=cmap)
    return atomic_write(path, lambda f: f.write(png))


def comparison_grid(
    images: Sequence,
    maps_by_method: Mapping[str, Sequence],
    path: os.PathLike | str,
    **options,
) -> Path:
    """Writes :func:`comparison_grid_png` of the same arguments to ``path`` (atomically).

    Returns:
        The path written.

    Example:
        >>> comparison_grid(originals, {"NeuroMask": masks, "Gradcam": cams}, "grid.png")
    """
    png = comparison_grid_png(images, maps_by_method, **options)
    return atomic_write(path, lambda f: f.write(png))


def comparison_grid_png(
    images: Sequence,
    maps_by_method: Mapping[str, Sequence],
    *,
    titles: Sequence[str] | None = None,
    alpha: float | Mapping[str, float] = 0.5,
    cmap: str = "jet",
    normalize: bool = False,
    cell_size: int = 160,
    dpi: int = 100,
) -> bytes:
    """A PNG grid: one row per image; columns: the image, then each method's map on it.

    The PNG is exactly (len(maps_by_method) + 1) * cell_size pixels wide and
    len(images) * cell_size pixels high.

    Args:
        images: N images, each as `overlay` accepts (sizes may differ).
        maps_by_method: method name -> N maps (an (N, H, W) array or a list of (H, W) maps).
        titles: N row labels (e.g. file names or class names), or None.
        alpha: weight of the heat map in each overlay, or one weight per method (1 shows
            the map alone).
        cmap: a matplotlib colour map name.
        normalize: stretch each map to [0, 1] by its own min and max first (for methods whose
            maps are not already in [0, 1]); otherwise values must be in [0, 1].
        cell_size: pixels per cell side.
        dpi: resolution used to lay out the text.

    Returns:
        The PNG file's bytes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    pictures = [_check_image(image, "each image") for image in images]
    if not pictures or not maps_by_method:
        raise ValueError(
            f"Expected at least one image and one method. Received: {len(pictures)} images, "
            f"{len(maps_by_method)} methods"
        )
    columns = {}
    for method, maps in maps_by_method.items():
        maps = list(maps)
        if len(maps) != len(pictures):
            raise ValueError(
                f"Expected {len(pictures)} maps for method {method!r}, one per image. "
                f"Received: {len(maps)}"
            )
        columns[str(method)] = [_normalized(m) if normalize else m for m in maps]
    if titles is not None and len(titles) != len(pictures):
        raise ValueError(f"Expected {len(pictures)} titles. Received: {len(titles)}")
    if not isinstance(cell_size, int) or cell_size < 16:
        raise ValueError(f"Expected `cell_size` an integer >= 16. Received: {cell_size!r}")

    rows, cols = len(pictures), len(columns) + 1
    figure = Figure(figsize=(cols * cell_size / dpi, rows * cell_size / dpi), dpi=dpi,
                    layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, cols, squeeze=False)
    fontsize = max(6, min(10, cell_size // 16))
    for row, picture in enumerate(pictures):
        cells = [picture] + [
            overlay(picture, maps[row], cmap=cmap,
                    alpha=alpha[method] if isinstance(alpha, Mapping) else alpha)
            for method, maps in columns.items()
        ]
        for col, (axis, cell) in enumerate(zip(axes[row], cells)):
            axis.imshow(cell, interpolation="bilinear")
            axis.set_xticks([])
            axis.set_yticks([])
            for spine in axis.spines.values():
                spine.set_visible(False)
            if row == 0:
                axis.set_title(("image", *columns)[col], fontsize=fontsize)
        if titles is not None:
            axes[row][0].set_ylabel(str(titles[row]), fontsize=fontsize)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _normalized(values) -> np.ndarray:
    """(v - min) / (max - min), or zeros for a constant map."""
    values = np.asarray(values, dtype=np.float32)
    if values.ndim == 3 and values.shape[-1] == 1:
        values = values[..., 0]
    if not np.all(np.isfinite(values)):
        raise ValueError("Expected finite map values. Received: NaN or infinity")
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)
