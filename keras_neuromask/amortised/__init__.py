"""Amortised NeuroMask: a network trained with NeuroMask's own objective that predicts an
image's mask parameters in one forward pass (Dabkowski & Gal 2017), optionally refined per
image by a few NeuroMask steps from that prediction."""

from keras_neuromask.amortised.predictor import MaskPredictor

__all__ = ["MaskPredictor"]
