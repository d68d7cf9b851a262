"""The explainer's hyper-parameters as one validated, frozen, typed record.

:class:`Settings` is what every part of the optimisation reads (the objective, the optimiser,
the export, the benchmarks); a preset (:mod:`keras_neuromask.presets`) is a named dictionary
of its fields. Each field is checked once, when the record is made, so no later module has to
guess what an unknown name means.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from keras_neuromask import inputs, losses, masking
from keras_neuromask.presets import get_preset

_INITS = ("uniform", "constant", "saliency", "auto")
# init="auto" and steps="auto" by the grid: a coarse grid (cells of at least COARSE_CELL_PIXELS
# a side: images from 128 px up) starts from the saliency start and settles in the fewer steps;
# a finer one (small images) starts from init_value, whose 150 steps the saliency start does
# not shorten (docs/performance.md, "Fewer steps").
COARSE_CELL_PIXELS = 16
AUTO_STEPS = {"coarse": 50, "fine": 150}
_OPTIMIZERS = ("adam", "rmsprop")
_PRESERVATION_TARGETS = ("one", "original")


@dataclasses.dataclass(frozen=True, eq=False)
class Settings:
    """NeuroMask's hyper-parameters; the meaning of each is in :mod:`keras_neuromask.presets`.

    Make one with :meth:`from_preset`; :meth:`replace` gives a checked copy with changes.

    Example:
        >>> settings = Settings.from_preset("default", steps=300)
        >>> settings.steps, settings.optimizer
        (300, 'adam')
        >>> Settings.from_preset("default").checked_steps(size=(224, 224))
        50
    """

    init: str
    init_value: float
    param_limit: float
    temperature: float
    preservation_weight: float
    preservation_target: str
    sparsity_weight: float
    sparsity: str
    smoothness_weight: float
    smoothness: str
    optimizer: str
    learning_rate: float
    steps: int | str  # or "auto": by the grid, checked_steps(size=...)
    baseline: object  # a name in masking.BASELINES, or an image broadcastable to the batch
    blur_sigma: float | None
    mask_grid: tuple[int, int] | str | None
    upsampling: str
    area: float | None
    deletion_weight: float
    deletion_baseline: str
    relative_gap: float | None = None

    def __post_init__(self):
        _check_choice("init", self.init, _INITS)
        _check_choice("sparsity", self.sparsity, losses.SPARSITY_TERMS)
        _check_choice("smoothness", self.smoothness, losses.SMOOTHNESS_TERMS)
        _check_choice("optimizer", self.optimizer, _OPTIMIZERS)
        _check_choice("upsampling", self.upsampling, masking.UPSAMPLINGS)
        _check_choice("preservation_target", self.preservation_target, _PRESERVATION_TARGETS)
        _check_choice("deletion_baseline", self.deletion_baseline, masking.BASELINES)
        for name in ("temperature", "learning_rate", "param_limit"):
            value = getattr(self, name)
            if not (_is_number(value) and math.isfinite(value) and np.float32(value) > 0):
                raise ValueError(f"Expected {name} to be a finite number > 0. "
                                 f"Received: {value!r}")
            object.__setattr__(self, name, float(value))
        for name in ("preservation_weight", "deletion_weight", "sparsity_weight",
                     "smoothness_weight"):
            value = getattr(self, name)
            if not (_is_number(value) and math.isfinite(value) and value >= 0):
                raise ValueError(f"Expected {name} to be a finite number >= 0. "
                                 f"Received: {value!r}")
            object.__setattr__(self, name, float(value))
        if not _is_number(self.init_value) or not math.isfinite(self.init_value):
            raise ValueError(f"Expected init_value to be a finite number. "
                             f"Received: {self.init_value!r}")
        object.__setattr__(self, "init_value", float(self.init_value))
        if self.steps != "auto":
            object.__setattr__(self, "steps", inputs.check_int("steps", self.steps, minimum=1))
        sigma = self.blur_sigma
        if sigma is not None and not (_is_number(sigma) and math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"Expected blur_sigma to be None or a finite number > 0. "
                             f"Received: {sigma!r}")
        gap = self.relative_gap  # 0 turns it off, as None does
        if gap is not None and not (_is_number(gap) and math.isfinite(gap) and gap >= 0):
            raise ValueError(f"Expected relative_gap to be None or a finite number >= 0. "
                             f"Received: {gap!r}")
        object.__setattr__(self, "relative_gap", float(gap) if gap else None)
        area = self.area
        if area is not None and not (_is_number(area) and 0 < area < 1):
            raise ValueError(f"Expected area to be None or a number in (0, 1). "
                             f"Received: {area!r}")
        if (self.sparsity == "area") != (area is not None):
            raise ValueError("Expected area (the share of the image kept) exactly when "
                             f"sparsity='area'. Received: sparsity={self.sparsity!r}, "
                             f"area={area!r}")
        object.__setattr__(self, "area", None if area is None else float(area))
        if not self.preservation_weight and not self.deletion_weight:
            raise ValueError("Expected preservation_weight or deletion_weight > 0 (a game to "
                             "play). Received: both 0")
        _check_baseline(self.baseline)
        object.__setattr__(self, "mask_grid", _checked_grid(self.mask_grid))

    @classmethod
    def from_preset(cls, preset: str = "default", **overrides) -> Settings:
        """The preset called ``preset`` with ``overrides`` (field names) applied, checked.

        Raises:
            ValueError: an unknown preset or a bad value; TypeError: an unknown field.
        """
        return cls(**_known_fields({**get_preset(preset), **overrides}))

    def replace(self, **changes) -> Settings:
        """A checked copy with ``changes`` (field names) applied."""
        return dataclasses.replace(self, **_known_fields(changes))

    def grid_shape(self, height: int, width: int) -> tuple[int, int]:
        """``(rows, cols)`` of the mask parameters for images of ``height`` x ``width``.

        ``mask_grid="auto"``: :func:`auto_grid_cells` of each side (8 cells from 128 px up,
        2-px cells at 32 px).
        """
        if self.mask_grid is None:
            return height, width
        if self.mask_grid == "auto":
            return auto_grid_cells(height), auto_grid_cells(width)
        return min(self.mask_grid[0], height), min(self.mask_grid[1], width)

    def checked_steps(self, steps=None, size: tuple[int, int] | None = None) -> int:
        """``steps`` (:attr:`steps` when ``None``) as an int >= 1, or ValueError.

        ``steps="auto"`` needs the images' ``(height, width)`` ``size``: :data:`AUTO_STEPS`
        of its grid (:meth:`coarse_grid`).
        """
        steps = self.steps if steps is None else steps
        if steps == "auto":
            if size is None:
                raise ValueError("Expected the image size (height, width) to resolve "
                                 "steps='auto'. Received: size=None")
            return AUTO_STEPS["coarse" if self.coarse_grid(*size) else "fine"]
        return inputs.check_int("steps", steps, minimum=1)

    def start_for(self, height: int, width: int) -> str:
        """The init used for images of ``height`` x ``width`` (``"auto"``: ``"saliency"`` on a
        coarse grid, else ``"constant"``)."""
        if self.init != "auto":
            return self.init
        return "saliency" if self.coarse_grid(height, width) else "constant"

    def coarse_grid(self, height: int, width: int) -> bool:
        """Whether the grid's cells on ``height`` x ``width`` images are at least
        :data:`COARSE_CELL_PIXELS` a side (``mask_grid="auto"``: images from 128 px up)."""
        rows, cols = self.grid_shape(height, width)
        return min(height / rows, width / cols) >= COARSE_CELL_PIXELS

    def as_dict(self) -> dict:
        """The fields by name (the baseline as given)."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    def __eq__(self, other):
        if not isinstance(other, Settings):
            return NotImplemented
        mine, theirs = self.as_dict(), other.as_dict()
        baselines = mine.pop("baseline"), theirs.pop("baseline")
        if any(isinstance(b, str) for b in baselines):
            same_baseline = baselines[0] == baselines[1] if all(
                isinstance(b, str) for b in baselines) else False
        else:
            same_baseline = np.array_equal(np.asarray(baselines[0]), np.asarray(baselines[1]))
        return mine == theirs and same_baseline

    __hash__ = None


def auto_grid_cells(side: int) -> int:
    """Grid cells along a side of ``side`` pixels for ``mask_grid="auto"``::

        cells = min(max(8, round(1024 / side)), max(side // 2, min(side, 8)))

    An eighth of the side from 128 px up (an object-sized outline on photos: 30-px cells at
    240 px), finer below so that the cells do not outgrow the objects of small images (16
    cells of 2 px at 32 px, of 4 px at 64 px), never under 2 px, except that an image under
    16 px gets up to 8 cells (one a pixel below 8 px).
    """
    return min(max(8, round(1024 / side)), max(side // 2, min(side, 8)))


def _known_fields(values: dict) -> dict:
    names = {field.name for field in dataclasses.fields(Settings)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise TypeError(f"Expected settings among {sorted(names)}. Received: {unknown}")
    return values


def _check_choice(name: str, value, choices) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"Expected {name} in {tuple(choices)}. Received: {value!r}")


def _check_baseline(baseline) -> None:
    if isinstance(baseline, str):
        if baseline not in masking.BASELINES:
            raise ValueError(f"Expected baseline in {masking.BASELINES} or an image. "
                             f"Received: {baseline!r}")
        return
    try:
        values = np.asarray(baseline, dtype=np.float64)
    except (TypeError, ValueError):
        values = None
    if baseline is None or values is None or not np.isfinite(values).all():
        raise ValueError("Expected baseline to be a name or an image of finite numbers. "
                         f"Received: {type(baseline).__name__}")


def _checked_grid(grid):
    """``None``, ``"auto"`` or ``(rows, cols)`` of positive ints (an int ``g`` means
    ``(g, g)``)."""
    if grid is None or (isinstance(grid, str) and grid == "auto"):
        return grid
    if isinstance(grid, (int, np.integer)) and not isinstance(grid, bool):
        pair = (grid, grid)
    elif isinstance(grid, (tuple, list)):
        pair = tuple(grid)
    else:
        pair = ()
    if len(pair) != 2 or not all(isinstance(g, (int, np.integer)) and not isinstance(g, bool)
                                 and g >= 1 for g in pair):
        raise ValueError(f"Expected mask_grid as None, 'auto', an int or (rows, cols) of "
                         f"positive ints. Received: {grid!r}")
    return tuple(int(g) for g in pair)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))


__all__ = ["Settings", "auto_grid_cells"]
