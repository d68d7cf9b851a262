"""keras-neuromask: NeuroMask explanations for Keras image classifiers.

The public names load lazily, so ``neuromask --help`` answers without importing TensorFlow.

References:
    Alzantot, Widdicombe, Julier, Srivastava. "NeuroMask: Explaining Predictions of Deep
    Neural Networks through Mask Learning". SMARTCOMP 2019, arXiv:1908.04389.
"""

import importlib

__all__ = ["NeuroMask", "Explanation", "PRESETS", "export_saved_model", "explain_distributed"]
__version__ = "0.1.0"

_HOMES = {"NeuroMask": "explainer", "Explanation": "explainer", "PRESETS": "presets",
          "export_saved_model": "export", "explain_distributed": "distributed"}


def __getattr__(name):
    if name in _HOMES:
        return getattr(importlib.import_module(f"keras_neuromask.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'keras_neuromask' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
