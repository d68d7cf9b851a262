"""keras-neuromask: NeuroMask explanations for Keras image classifiers.

The public names load lazily, so ``neuromask --help`` answers without importing TensorFlow.

Layout, from the bottom up (a module imports only from its own level or below):

- the explainer and its maths, at the top level: ``explainer`` (the Keras model), ``settings``
  and ``presets``, ``objective``, ``masking``, ``losses``, ``optimizers``, ``optimisation``,
  ``callbacks``, ``inputs``, ``predictions``, ``image_io`` (reading image files),
  ``repeatable`` (the same masks run after run on CPU);
- ``amortised``: ``MaskPredictor``, a network trained with NeuroMask's objective that predicts
  masks in one forward pass;
- ``results``: writing explanations out (file names, mask files, overlays);
- ``evaluation``: metrics, fidelity, sanity, RISE, tf-keras-vis, comparison, reports, data
  sets (``keras_neuromask.metrics`` re-exports every metric);
- ``serving``: the TF Serving export, REST helpers, several devices, and ``serving.beam``
  (the Apache Beam pipeline; an optional extra, imported by nothing else);
- ``bench``: speed benchmarks;
- ``cli``: the ``neuromask`` command line and the demo.

References:
    Alzantot, Widdicombe, Julier, Srivastava. "NeuroMask: Explaining Predictions of Deep
    Neural Networks through Mask Learning". SMARTCOMP 2019, arXiv:1908.04389.
"""

import importlib

_HOMES = {"NeuroMask": "explainer", "Explanation": "explainer", "PRESETS": "presets",
          "MaskPredictor": "amortised.predictor",
          "Settings": "settings", "Objective": "objective",
          "export_saved_model": "serving.export", "explain_distributed": "serving.distributed",
          "get_method": "evaluation.compare", "compare_images": "evaluation.report",
          "overlay": "results.visualize", "save_overlay_png": "results.visualize",
          "enable_repeatable_masks": "repeatable"}
__all__ = list(_HOMES)
__version__ = "0.1.0"


def __getattr__(name):
    if name in _HOMES:
        return getattr(importlib.import_module(f"keras_neuromask.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'keras_neuromask' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
