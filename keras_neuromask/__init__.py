"""keras-neuromask: NeuroMask explanations for Keras image classifiers.

References:
    Alzantot, Widdicombe, Julier, Srivastava. "NeuroMask: Explaining Predictions of Deep
    Neural Networks through Mask Learning". SMARTCOMP 2019, arXiv:1908.04389.
"""

from keras_neuromask.explainer import Explanation, NeuroMask
from keras_neuromask.presets import PRESETS

__all__ = ["NeuroMask", "Explanation", "PRESETS"]
__version__ = "0.1.0"
