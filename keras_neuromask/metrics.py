"""Every metric of an explanation, where a user looks first (they live in
:mod:`keras_neuromask.evaluation`).

Localisation against a known object: :func:`pointing_game`, :func:`energy`; the mask's size:
:func:`mask_area`; readability, the connected pieces of a map's top 10%:
:func:`connected_pieces`; fidelity to the model: :func:`deletion_auc`, :func:`insertion_auc`;
does the map depend on the model at all: :func:`sanity_check`; rank statistics:
:func:`rank_average`, :func:`spearman_correlation`. The NumPy metrics load at once, the
model-running ones (which import TensorFlow) on first use.
"""

import importlib

from keras_neuromask.evaluation.metrics import (
    as_maps,
    connected_pieces,
    energy,
    mask_area,
    pointing_game,
    rank_average,
    spearman_correlation,
)

_HOMES = {"deletion_auc": "fidelity", "insertion_auc": "fidelity", "FidelityResult": "fidelity",
          "sanity_check": "sanity", "SanityResult": "sanity"}

__all__ = ["pointing_game", "energy", "connected_pieces", "mask_area", "rank_average",
           "spearman_correlation", "as_maps", *_HOMES]


def __getattr__(name):
    if name in _HOMES:
        module = importlib.import_module(f"keras_neuromask.evaluation.{_HOMES[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'keras_neuromask.metrics' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
