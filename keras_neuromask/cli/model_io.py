"""Loading the classifier to explain from what a user has: a file, a folder or a name.

`load_classifier(spec)` accepts
- a `.keras` file, loaded with `keras.saving.load_model(..., safe_mode=not unsafe)`: a `Lambda`
  layer (arbitrary Python code) is refused unless `unsafe=True` (`--unsafe` on the command line);
- an `.h5` / `.hdf5` file (legacy Keras format, same safe-mode rule);
- a SavedModel folder (holding `saved_model.pb`), wrapped as
  `keras.layers.TFSMLayer(path, call_endpoint="serving_default")` inside a functional model; a
  signature returning a dict must have exactly one output. A SavedModel is a TensorFlow graph,
  and graphs are programs: load only SavedModels you trust;
- `keras.applications.NAME` (e.g. `keras.applications.MobileNetV2`), built with ImageNet
  weights (Keras downloads them when online) or `weights="none"` (random, offline), with that
  family's `preprocess_input` and default input size. Families that include their own
  preprocessing in the model (ConvNeXt, EfficientNet, EfficientNetV2, MobileNetV3) get
  `preprocess=None`: their `preprocess_input` is the identity.

Models are loaded with `compile=False` and are never changed afterwards (weights, trainable
flags). Every failure raises `ValueError("Expected ... Received: ...")`.
"""

from __future__ import annotations

import difflib
import os
from typing import Callable, NamedTuple

_APPLICATIONS_PREFIX = "keras.applications."
# keras.applications modules whose `preprocess_input` is the identity (the model rescales).
_SELF_PREPROCESSING = frozenset({"convnext", "efficientnet", "efficientnet_v2", "mobilenet_v3"})
# Default input sizes (H = W) of the applications whose size is not 224; passed as
# `input_shape` because some (MobileNetV3, ...) build with a free size otherwise.
_DEFAULT_SIZES = {
    "EfficientNetB1": 240, "EfficientNetB2": 260, "EfficientNetB3": 300, "EfficientNetB4": 380,
    "EfficientNetB5": 456, "EfficientNetB6": 528, "EfficientNetB7": 600,
    "EfficientNetV2B1": 240, "EfficientNetV2B2": 260, "EfficientNetV2B3": 300,
    "EfficientNetV2S": 384, "EfficientNetV2M": 480, "EfficientNetV2L": 480,
    "InceptionV3": 299, "InceptionResNetV2": 299, "Xception": 299, "NASNetLarge": 331,
}
_KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
_SPEC_HELP = "a .keras or .h5 file, a SavedModel folder, or keras.applications.NAME"


class LoadedModel(NamedTuple):
    """A classifier ready to explain, with what is needed to feed it images.

    Attributes:
        model: the `keras.Model`, one image input (N, H, W, C) and one output (N, classes).
        input_size: (H, W) that images must be resized to.
        channels: C, 1 or 3.
        preprocess: applied to [0, 255] pixels after masking (e.g.
            `keras.applications.mobilenet_v2.preprocess_input`), or None when the model takes
            the pixels as they are.
        name: a short name for reports: the file's stem or the application's name.
    """

    model: object  # keras.Model
    input_size: tuple[int, int]  # (H, W)
    channels: int  # 1 or 3
    preprocess: Callable | None  # pixels in [0, 255] -> model input; None: identity
    name: str  # file stem or keras.applications name


def _check_input_size(input_size) -> tuple[int, int] | None:
    if input_size is None:
        return None
    ok = isinstance(input_size, (tuple, list)) and len(input_size) == 2
    if not ok or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                         for s in input_size):
        raise ValueError(
            f"Expected `input_size` to be None or two positive integers (H, W). "
            f"Received: {input_size!r}"
        )
    return int(input_size[0]), int(input_size[1])


def _check_weights(weights) -> str | None:
    """Returns "imagenet", None (no weights) or a path to a weights file."""
    if weights is None or (isinstance(weights, str) and weights.lower() == "none"):
        return None
    if isinstance(weights, str) and weights.lower() == "imagenet":
        return "imagenet"
    if isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights):
        return os.fspath(weights)
    raise ValueError(
        f'Expected `weights` to be "imagenet", "none" or the path of a weights file. '
        f"Received: {weights!r}"
    )


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def _describe(model, spec: str, input_size, name: str, preprocess) -> LoadedModel:
    """Checks that `model` takes one image batch and gives one (N, classes) output."""
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except (AttributeError, ValueError) as err:
        raise ValueError(
            f"Expected a model with defined inputs and outputs (a Functional or built "
            f"Sequential model). Received: {spec!r} ({_first_line(err)})"
        ) from err
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(
            f"Expected a model with one image input and one output. Received: {spec!r} with "
            f"{len(inputs)} inputs and {len(outputs)} outputs"
        )
    shape, out_shape = tuple(inputs[0].shape), tuple(outputs[0].shape)
    if len(shape) != 4 or shape[-1] not in (1, 3):
        raise ValueError(
            f"Expected a model input of shape (batch, H, W, C) with C 1 or 3 (channels last). "
            f"Received: {spec!r} with input shape {shape}"
        )
    if len(out_shape) != 2:
        raise ValueError(
            f"Expected a model output of shape (batch, classes). Received: {spec!r} with output "
            f"shape {out_shape}"
        )
    height, width = shape[1], shape[2]
    if height is None or width is None:
        if input_size is None:
            raise ValueError(
                f"Expected an input size (--size H W, `input_size=(H, W)`) for a model whose "
                f"input height or width is not fixed. Received: {spec!r} with input shape "
                f"{shape}"
            )
    elif input_size is not None and tuple(input_size) != (height, width):
        raise ValueError(
            f"Expected `input_size` to match the model's fixed input size {(height, width)}. "
            f"Received: input_size={tuple(input_size)} for {spec!r}"
        )
    size = tuple(input_size) if input_size is not None else (int(height), int(width))
    return LoadedModel(model, size, int(shape[-1]), preprocess, name)


def _load_application(spec: str, weights, input_size) -> LoadedModel:
    import keras

    name = spec[len(_APPLICATIONS_PREFIX):]
    builder = getattr(keras.applications, name, None) if name[:1].isupper() else None
    if not callable(builder):
        known = sorted(n for n in dir(keras.applications) if n[:1].isupper())
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(known)}"
        raise ValueError(
            f"Expected keras.applications.NAME with NAME a Keras application. "
            f"Received: {spec!r}{hint}"
        )
    family = builder.__module__.rsplit(".", 1)[-1]
    module = getattr(keras.applications, family, None)
    preprocess = None
    if family not in _SELF_PREPROCESSING:
        preprocess = getattr(module, "preprocess_input", None)
        if preprocess is None:
            raise ValueError(
                f"Expected keras.applications.{family}.preprocess_input to exist. "
                f"Received: {spec!r}"
            )
    side = _DEFAULT_SIZES.get(name, 224)
    input_shape = (*(input_size or (side, side)), 3)
    try:
        model = builder(weights=weights, input_shape=input_shape)
    except Exception as err:
        offline = ' (use weights="none", --weights none, to build it offline)' if (
            weights == "imagenet"
        ) else ""
        raise ValueError(
            f"Expected keras.applications.{name} to build with weights={weights!r} and "
            f"input shape {input_shape}. Received: {_first_line(err)}{offline}"
        ) from err
    return _describe(model, spec, input_size, name, preprocess)


def _load_keras_file(path: str, weights, unsafe: bool):
    import keras

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=not unsafe)
    except Exception as err:
        if not unsafe and "safe_mode" in str(err):
            raise ValueError(
                f"Expected a model file that loads in Keras safe mode. Received: {path!r}, "
                f"which runs arbitrary Python code when loaded ({_first_line(err)}). If you "
                f"trust this file, pass --unsafe (unsafe=True) to load it."
            ) from err
        raise ValueError(
            f"Expected a readable Keras model file. Received: {path!r} ({_first_line(err)})"
        ) from err
    if weights not in (None, "imagenet"):
        try:
            model.load_weights(weights)
        except Exception as err:
            raise ValueError(
                f"Expected a weights file that fits {path!r}. Received: {weights!r} "
                f"({_first_line(err)})"
            ) from err
    return model


def _load_saved_model(path: str, input_size):
    import keras

    try:
        layer = keras.layers.TFSMLayer(path, call_endpoint="serving_default")
    except Exception as err:
        raise ValueError(
            f"Expected a SavedModel folder with a 'serving_default' signature. Received: "
            f"{path!r} ({_first_line(err)})"
        ) from err
    import tensorflow as tf

    signature = getattr(layer.call_endpoint_fn, "structured_input_signature", None)
    specs = [s for s in tf.nest.flatten(signature or ()) if isinstance(s, tf.TensorSpec)]
    if len(specs) != 1:
        raise ValueError(
            f"Expected a SavedModel whose 'serving_default' signature takes one image tensor. "
            f"Received: {path!r} taking {specs or signature}"
        )
    spec = specs[0]
    if len(spec.shape) != 4 or spec.shape[-1] not in (1, 3) or not spec.dtype.is_floating:
        raise ValueError(
            f"Expected a SavedModel input of floating dtype and shape (batch, H, W, C) with C 1 "
            f"or 3. Received: {path!r} with input {spec}"
        )
    height, width = spec.shape[1], spec.shape[2]
    if (height is None or width is None) and input_size is not None:
        height, width = input_size
    inputs = keras.Input(shape=(height, width, spec.shape[-1]), dtype=spec.dtype.name)
    outputs = layer(inputs)
    if isinstance(outputs, (dict, list, tuple)):
        values = list(outputs.values() if isinstance(outputs, dict) else outputs)
        if len(values) != 1:
            raise ValueError(
                f"Expected a SavedModel with one output. Received: {path!r} with outputs "
                f"{sorted(outputs) if isinstance(outputs, dict) else len(values)}"
            )
        outputs = values[0]
    name = os.path.basename(os.path.normpath(path)) or "saved_model"
    return keras.Model(inputs, outputs, name=name.replace(" ", "_"))


def load_classifier(
    spec: str | os.PathLike[str],
    *,
    weights: str | os.PathLike[str] | None = "imagenet",
    unsafe: bool = False,
    input_size: tuple[int, int] | None = None,
) -> LoadedModel:
    """Loads the classifier named by `spec` (a model file, a SavedModel or an application).

    Args:
        spec: a `.keras` / `.h5` file, a SavedModel folder, or "keras.applications.NAME".
        weights: for keras.applications: "imagenet" (downloaded by Keras when online), "none"
            (random weights, offline) or the path of a weights file. For model files and
            SavedModels "imagenet" and "none" keep the weights stored with the model, and a
            path loads that weights file into a `.keras` / `.h5` model.
        unsafe: load `.keras` / `.h5` files with `safe_mode=False`, allowing `Lambda` layers
            (arbitrary Python code). Only for files you trust.
        input_size: (H, W) for a model whose input height or width is None; must equal the
            fixed size otherwise. For keras.applications it builds the model at that size.

    Returns:
        A `LoadedModel` (model, input_size, channels, preprocess, name).

    Raises:
        ValueError: "Expected ... Received: ..." naming what could not be loaded and why.

    Example:
        >>> loaded = load_classifier("keras.applications.MobileNetV2", weights="none")
        >>> loaded.input_size, loaded.channels, loaded.name
        ((224, 224), 3, 'MobileNetV2')
    """
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"Expected `spec` to be a str or os.PathLike. Received: {spec!r}")
    spec = os.fspath(spec)
    input_size = _check_input_size(input_size)
    weights = _check_weights(weights)
    if not isinstance(unsafe, bool):
        raise TypeError(f"Expected `unsafe` to be a bool. Received: {unsafe!r}")
    if spec.startswith(_APPLICATIONS_PREFIX) and not os.path.exists(spec):
        return _load_application(spec, weights, input_size)
    if os.path.isdir(spec):
        if not os.path.isfile(os.path.join(spec, "saved_model.pb")):
            raise ValueError(
                f"Expected {_SPEC_HELP}. Received: {spec!r}, a folder without saved_model.pb"
            )
        if weights not in (None, "imagenet"):
            raise ValueError(
                f'Expected weights "imagenet" or "none" (the stored ones) for a SavedModel. '
                f"Received: {weights!r}"
            )
        model = _load_saved_model(spec, input_size)
    elif os.path.isfile(spec) and spec.lower().endswith(_KERAS_SUFFIXES):
        model = _load_keras_file(spec, weights, unsafe)
    else:
        reason = "no such file or folder" if not os.path.exists(spec) else "unknown file type"
        raise ValueError(f"Expected {_SPEC_HELP}. Received: {spec!r} ({reason})")
    name = os.path.splitext(os.path.basename(os.path.normpath(spec)))[0] or "model"
    return _describe(model, spec, input_size, name, None)
