"""Named hyper-parameter sets of :class:`keras_neuromask.NeuroMask`.

``"paper-cifar"`` and ``"paper-imagenet"`` reproduce the reference code of the paper
(github nesl/neuromask: the CIFAR demo and the Inception-v3 notebook). ``"default"`` is ours:
a mask on an 8x8 grid drawn smoothly at the image's size (the same shapes at 32 and 512 px),
with a perimeter penalty, that keeps the class at least as probable as on the whole image;
tuned for readable masks on real photos, real-photo composites and the generated shapes
together (docs/readable_masks.md). ``"pixel"`` is the previous default (one parameter per
pixel); ``"deletion"`` plays the deletion game instead of the preservation game.

Keys:
    init: ``"uniform"`` (``w ~ U(-param_limit, param_limit)``, seeded per image) or
        ``"constant"`` (``w = init_value``).
    init_value: the constant start of the parameters (``"constant"`` only).
    param_limit: the paper's ``weight_limit``: the init range and the sparsity offset.
    temperature: ``T`` in ``m = sigmoid(w / T)``.
    preservation_weight, sparsity_weight, smoothness_weight: ``alpha``, ``beta``, ``gamma``.
    preservation_target: ``"one"`` (``-log p_c(x')``: push the kept class towards
        certainty, the paper) or ``"original"`` (``max(0, log p_c(x) - log p_c(x'))``: keep
        it at least as probable as on the whole image, no reward beyond).
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
    steps: optimisation steps per batch.
    baseline: ``"zero"`` (paper), ``"blur"``, ``"mean"``, ``"noise"``.
    blur_sigma: the ``"blur"`` baseline's standard deviation in pixels (``None``: a tenth of
        the image's shorter side).
    mask_grid: ``None`` for one parameter per pixel, or ``(rows, cols)`` of a coarser grid.
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
        "init": "constant",
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
        "learning_rate": 0.2,
        "steps": 150,
        "baseline": "blur",
        "blur_sigma": 16.0,
        "mask_grid": (8, 8),
        "upsampling": "parameters_bicubic",
        "area": None,
        "deletion_weight": 0.0,
        "deletion_baseline": "mean",
    },
}
# The default until December 2026: one parameter per pixel, total variation, the class pushed
# towards certainty. The best insertion AUC of all (it optimises that protocol) but a speckle
# of single pixels on photos (docs/readable_masks.md); kept to compare and reproduce.
PRESETS["pixel"] = {**PRESETS["default"], "preservation_target": "one",
                    "smoothness_weight": 1.0, "smoothness": "total_variation",
                    "mask_grid": None, "upsampling": "mask_bilinear"}
# The deletion game alone (Fong & Vedaldi 2017): the smallest smooth region whose removal
# destroys the class, one parameter per pixel with total variation 8 (blobs, which the
# zero-fill deletion metric rewards; see docs/quality.md, "Choosing the default").
# Only the kept image uses ``baseline``, so the deletion game ignores it.
PRESETS["deletion"] = {**PRESETS["pixel"], "preservation_weight": 0.0,
                       "deletion_weight": 1.0, "sparsity_weight": 1.0, "smoothness_weight": 8.0,
                       "steps": 300}


def get_preset(name: str) -> dict:
    """A copy of the preset called ``name``."""
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"Expected preset to be one of {sorted(PRESETS)}. "
                         f"Received: preset={name!r}")
    return dict(PRESETS[name])
