"""Named hyper-parameter sets of :class:`keras_neuromask.NeuroMask`.

``"paper-cifar"`` and ``"paper-imagenet"`` reproduce the reference code of the paper
(github nesl/neuromask: the CIFAR demo and the Inception-v3 notebook). ``"default"`` is ours:
a mask on a coarse grid drawn smoothly at the image's size (8x8 from 128 px up, 2-px cells at
32 px), with a perimeter penalty, that keeps the class at least as probable as on the whole
image, measured against what the baseline removes; tuned for readable masks on real photos,
real-photo composites, the generated shapes and the models whose answer is known by
construction (docs/readable_masks.md, docs/known_answers.md). ``"pixel"`` is the previous
default (one parameter per pixel); ``"deletion"`` plays the deletion game instead of the
preservation game, on the default's mask.

Keys:
    init: ``"uniform"`` (``w ~ U(-param_limit, param_limit)``, seeded per image),
        ``"constant"`` (``w = init_value``), ``"saliency"`` (``w = init_value + 2 tanh(z)``,
        ``z`` the standardised gradient of ``log p_c`` at ``w = 0``:
        :meth:`keras_neuromask.objective.Objective.saliency_start`) or ``"auto"``
        (``"saliency"`` on grids of cells of 16 px or more, else ``"constant"``).
    init_value: the constant start of the parameters, or the saliency start's offset.
    param_limit: the paper's ``weight_limit``: the init range and the sparsity offset.
    temperature: ``T`` in ``m = sigmoid(w / T)``.
    preservation_weight, sparsity_weight, smoothness_weight: ``alpha``, ``beta``, ``gamma``.
    preservation_target: ``"one"`` (``-log p_c(x')``: push the kept class towards
        certainty, the paper) or ``"original"`` (``max(0, log p_c(x) - log p_c(x'))``: keep
        it at least as probable as on the whole image, no reward beyond).
    relative_gap: ``g0`` in nats, or ``None`` (or 0: off): with
        ``preservation_target="original"``, the preservation term is divided by
        ``clip(g / g0, 0.01, 1)`` where
        ``g = log p_c(x) - log p_c(b)`` is what the baseline removes, so a baseline that keeps
        most of the class does not let the mask collapse (:mod:`keras_neuromask.objective`).
    deletion_weight: ``delta``, the weight of the deletion game (0: not played).
    deletion_baseline: what the deletion game fills the removed region with (a name as for
        ``baseline``).
    sparsity: ``"parameter_l1"`` (paper, ``mean|w + param_limit|``), ``"mask_l1"`` (the
        mask's area, ``mean m``) or ``"area"`` (Extremal Perturbations' constraint: the mask
        keeps the share ``area`` of the image, :func:`keras_neuromask.losses.area_gap`).
    area: the share of the image the mask keeps (``sparsity="area"`` only, else ``None``).
    smoothness: ``"laplacian3"``, ``"laplacian5"`` (paper) or ``"total_variation"``.
    optimizer: ``"rmsprop"`` (TF1 semantics, paper) or ``"adam"``.
    learning_rate: the optimiser's step size.
    steps: optimisation steps per batch, or ``"auto"``: 50 on grids of cells of 16 px or more
        (from 128 px with ``mask_grid="auto"``), else 150
        (:meth:`keras_neuromask.settings.Settings.checked_steps`).
    baseline: ``"zero"`` (paper), ``"blur"``, ``"mean"``, ``"noise"``.
    blur_sigma: the ``"blur"`` baseline's standard deviation in pixels (``None``: a tenth of
        the image's shorter side).
    mask_grid: ``None`` for one parameter per pixel, ``(rows, cols)`` of a coarser grid, or
        ``"auto"`` (:func:`keras_neuromask.settings.auto_grid_cells`: 8x8 from 128 px up,
        2-px cells at 32 px).
    upsampling: how grid parameters become an image-size mask
        (:func:`keras_neuromask.masking.mask_at_size`): ``"mask_bilinear"`` or
        ``"parameters_bicubic"`` (a smooth outline at the grid's scale).
"""

from __future__ import annotations

_PAPER = {
    "init": "uniform",
    "init_value": 0.0,
    "param_limit": 10.0,
    "preservation_weight": 0.4,
    "preservation_target": "one",
    "sparsity_weight": 0.35,
    "sparsity": "parameter_l1",
    "optimizer": "rmsprop",
    "learning_rate": 0.03,
    "baseline": "zero",
    "blur_sigma": None,
    "mask_grid": None,
    "upsampling": "mask_bilinear",
    "area": None,
    "deletion_weight": 0.0,
    "deletion_baseline": "zero",
    "relative_gap": None,
}

PRESETS: dict[str, dict] = {
    "paper-cifar": {
        **_PAPER,
        "temperature": 1.0,
        "smoothness_weight": 0.15,
        "smoothness": "laplacian3",
        "steps": 2000,
    },
    "paper-imagenet": {
        **_PAPER,
        "temperature": 0.3,
        "smoothness_weight": 0.03,
        "smoothness": "laplacian5",
        "steps": 1000,
    },
    "default": {
        "init": "auto",
        "init_value": 0.0,
        "param_limit": 10.0,
        "temperature": 0.4,
        "preservation_weight": 1.0,
        "preservation_target": "original",
        "sparsity_weight": 3.0,
        "sparsity": "mask_l1",
        "smoothness_weight": 2.0,
        "smoothness": "perimeter",
        "optimizer": "adam",
        "learning_rate": 0.3,
        "steps": "auto",
        "baseline": "blur",
        "blur_sigma": 16.0,
        "mask_grid": "auto",
        "upsampling": "parameters_bicubic",
        "area": None,
        "deletion_weight": 0.0,
        "deletion_baseline": "mean",
        "relative_gap": 2.0,
    },
}
# The default until December 2026: one parameter per pixel, total variation, the class pushed
# towards certainty. The best insertion AUC of all (it optimises that protocol) but a speckle
# of single pixels on photos (docs/readable_masks.md); kept to compare and reproduce.
PRESETS["pixel"] = {**PRESETS["default"], "preservation_target": "one",
                    "smoothness_weight": 1.0, "smoothness": "total_variation",
                    "mask_grid": None, "upsampling": "mask_bilinear", "relative_gap": None,
                    "learning_rate": 0.2, "init": "constant", "steps": 150}
# The deletion game alone (Fong & Vedaldi 2017): the smallest region whose removal destroys
# the class, on the default's mask (grid, bicubic outline, perimeter); the removed region is
# filled with the image's mean colour. Before December 2026 it was one parameter per pixel
# (total variation 8, 300 steps): a speckle of ~60 pieces on photos (docs/known_answers.md).
# Only the kept image uses ``baseline``, so the deletion game ignores it.
PRESETS["deletion"] = {**PRESETS["default"], "preservation_weight": 0.0,
                       "deletion_weight": 1.0, "relative_gap": None, "learning_rate": 0.2,
                       "init": "constant", "steps": 150}


def get_preset(name: str) -> dict:
    """A copy of the preset called ``name``."""
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"Expected preset to be one of {sorted(PRESETS)}. "
                         f"Received: preset={name!r}")
    return dict(PRESETS[name])
