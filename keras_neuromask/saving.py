"""The parts of a ``.keras`` config that :class:`~keras_neuromask.NeuroMask` and
:class:`~keras_neuromask.MaskPredictor` share, written and read back one way.

Both hold a frozen classifier, an optional ``preprocess`` callable and NeuroMask settings whose
tuples and arrays (``mask_grid``, an image ``baseline``) JSON turns into lists.
"""

from __future__ import annotations

import keras
import numpy as np


def models_config(classifier, preprocess) -> dict:
    """``{"classifier": ..., "preprocess": ...}``, serialised (``preprocess`` may be None)."""
    return {"classifier": keras.saving.serialize_keras_object(classifier),
            "preprocess": (None if preprocess is None
                           else keras.saving.serialize_keras_object(preprocess))}


def json_options(options: dict) -> dict:
    """``options`` with tuples and arrays as lists."""
    return {key: np.asarray(value).tolist() if isinstance(value, (tuple, np.ndarray))
            else value for key, value in options.items()}


def restored(config: dict, options_key: str | None = None) -> dict:
    """A copy of ``config`` with the classifier and ``preprocess`` deserialised and
    ``mask_grid`` a tuple again (in ``config[options_key]`` when given, else at the top)."""
    config = dict(config)
    config["classifier"] = keras.saving.deserialize_keras_object(config["classifier"])
    if config.get("preprocess") is not None:
        config["preprocess"] = keras.saving.deserialize_keras_object(config["preprocess"])
    options = config if options_key is None else dict(config.get(options_key) or {})
    if isinstance(options.get("mask_grid"), list):
        options["mask_grid"] = tuple(options["mask_grid"])
    if options_key is not None:
        config[options_key] = options
    return config
