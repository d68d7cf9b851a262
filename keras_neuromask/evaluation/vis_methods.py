"""tf-keras-vis interop: a safe copy of a classifier for its methods, and NeuroMask behind its API.

tf-keras-vis 0.8.x on Keras 3 has traps (seen with TF 2.21 / Keras 3.15):

* ``ReplaceToLinear`` fails on a Sequential model (``'Sequential' object has no attribute
  'output_names'``), and it changes the activation of the model it is given;
* ``Gradcam`` on a Sequential model loaded from a ``.keras`` file gets ``None`` gradients (the
  layers' ``.output`` belong to another graph than the model's outputs);
* ``Gradcam``/``Scorecam`` read ``layer.output``, which for a nested functional model is its
  inner graph, not the outer model's;
* ``Scorecam`` calls ``model.predict``: a progress bar, and one more predict function traced
  for each copy (TensorFlow's "triggered tf.function retracing" warnings after a few).

:func:`prepare_classifier` avoids all of them by building a new, flat functional model:
``image -> [preprocess] -> fresh copies of the classifier's layers -> class scores``, with the
classifier's weights copied in, a softmax output layer made linear (scores are logits), and an
``Identity`` layer inserted right after the layer whose feature maps CAM methods use. The
user's model is never called, changed or re-wired.
"""

from __future__ import annotations

import functools
import importlib
from typing import NamedTuple

import keras
import numpy as np

from keras_neuromask.predictions import predict_in_chunks

FEATURES_LAYER = "neuromask_cam_features"
PREPROCESS_LAYER = "neuromask_preprocess"
# name -> (module, class) in tf-keras-vis 0.8.x
TF_KERAS_VIS_CLASSES = {
    "saliency": ("tf_keras_vis.saliency", "Saliency"),
    "gradcam": ("tf_keras_vis.gradcam", "Gradcam"),
    "gradcam++": ("tf_keras_vis.gradcam_plus_plus", "GradcamPlusPlus"),
    "scorecam": ("tf_keras_vis.scorecam", "Scorecam"),
    "layercam": ("tf_keras_vis.layercam", "Layercam"),
}


class PreparedClassifier(NamedTuple):
    """A flat copy of a classifier that tf-keras-vis methods can use without traps."""

    model: keras.Model  # image -> [preprocess] -> class scores; its own layers and weights
    features: keras.layers.Layer | None  # Identity after the CAM layer (None if not asked)
    features_from: str | None  # name of the classifier's layer whose output it passes on
    logits: bool  # True when a softmax output layer was made linear (scores are logits)


def normalize_maps(maps) -> np.ndarray:
    """Per-image min-max normalisation: ``(m - min m) / (max m - min m)``; constant -> 0.

    Args:
        maps: ``(N, H, W)`` array.

    Returns:
        float32 ``(N, H, W)`` in [0, 1] (NaN stays NaN, so a broken method shows).
    """
    maps = np.asarray(maps, np.float64)
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    safe = np.where(span > 0, span, 1.0)
    return np.where(span > 0, (maps - low) / safe, 0.0 * maps).astype(np.float32)


def _output_rank(layer) -> int | None:
    try:
        return len(layer.output.shape)
    except (AttributeError, ValueError, TypeError):
        return None


def cam_layer_name(model: keras.Model, layer=None) -> str:
    """The top-level layer whose feature maps CAM methods use.

    Args:
        model: a Sequential or functional classifier.
        layer: ``None`` (the last layer with a 4-D ``(N, h, w, channels)`` output), a layer
            name, an index into ``model.layers``, or the layer itself.

    Returns:
        The layer's name.
    """
    layers = [item for item in model.layers if not isinstance(item, keras.layers.InputLayer)]
    if layer is None:
        four_d = [item.name for item in layers if _output_rank(item) == 4]
        if not four_d:
            names = [item.name for item in layers]
            raise ValueError("Expected a layer with a 4-D output (N, h, w, channels) for a CAM "
                             f"method. Received: a model whose layers are {names}")
        return four_d[-1]
    if isinstance(layer, keras.layers.Layer):
        name = layer.name
    elif isinstance(layer, str):
        name = layer
    elif isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        if not -len(model.layers) <= layer < len(model.layers):
            raise ValueError(f"Expected a layer index in [-{len(model.layers)}, "
                             f"{len(model.layers)}). Received: {layer}")
        name = model.layers[layer].name
    else:
        raise TypeError(f"Expected layer as None, a name, an index or a Layer. Received: {layer!r}")
    found = [item for item in layers if item.name == name]
    if not found:
        raise ValueError(f"Expected a top-level layer of the model. Received: {name!r}; the "
                         f"layers are {[x.name for x in layers]}")
    if _output_rank(found[0]) != 4:
        raise ValueError(f"Expected a layer with a 4-D output (N, h, w, channels). Received: "
                         f"{name!r} with output rank {_output_rank(found[0])}")
    return name


def _clone_layer(layer, output_names):
    """A fresh layer from the config; a softmax output layer becomes linear."""
    config = layer.get_config()
    if layer.name in output_names:
        if isinstance(layer, keras.layers.Softmax):
            return keras.layers.Identity(name=layer.name)
        if config.get("activation") == "softmax":
            config = {**config, "activation": "linear"}
    return layer.__class__.from_config(config)


def copy_weights(source: keras.Model, prepared: keras.Model) -> None:
    """Copies every weight of ``source``'s layers into the same-named layers of ``prepared``.

    Nothing to do when ``prepared`` wraps ``source`` itself (a subclassed model).
    """
    if any(layer is source for layer in prepared.layers):
        return
    for layer in source.layers:
        if layer.weights:
            prepared.get_layer(layer.name).set_weights(layer.get_weights())


def prepare_classifier(model: keras.Model, *, preprocess=None, cam_layer=None,
                       with_features: bool = False, input_shape=None) -> PreparedClassifier:
    """Builds the flat, trap-free copy of ``model`` described in the module docstring.

    A subclassed model (no graph to copy) is wrapped instead, sharing its weights: its
    scores are what it outputs, and CAM methods are refused.

    Args:
        model: a built Keras classifier with one image input and one ``(N, classes)`` output.
        preprocess: optional TF function or Keras layer applied to the image first.
        cam_layer: see :func:`cam_layer_name`; used when ``with_features``.
        with_features: insert the ``Identity`` CAM methods read their feature maps from.
        input_shape: ``(H, W, C)`` of the images, used when the model has no ``inputs``.

    Returns:
        A :class:`PreparedClassifier`.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected a keras.Model. Received: {type(model)}")
    model_inputs = getattr(model, "inputs", None)
    if not model.built or (not model_inputs and input_shape is None):
        raise ValueError("Expected a built model with a known input. Received: a model "
                         "that was never called (build it or give it a keras.Input)")
    if model_inputs and (len(model_inputs) != 1 or len(model.outputs) != 1):
        raise ValueError("Expected a model with one input and one output. Received: "
                         f"{len(model_inputs)} inputs, {len(model.outputs)} outputs")
    structured = bool(model_inputs) and (isinstance(model, keras.Sequential) or any(
        cls.__name__ == "Functional" for cls in type(model).__mro__))
    if with_features and not structured:
        raise TypeError("Expected a Sequential or functional model for a CAM method. "
                        f"Received: {type(model).__name__}")
    shape = model_inputs[0].shape[1:] if model_inputs else (None, None, input_shape[-1])
    image = keras.Input(shape=tuple(shape), dtype="float32")
    x = image
    if preprocess is not None:
        layer = preprocess if isinstance(preprocess, keras.layers.Layer) else \
            keras.layers.Lambda(preprocess, name=PREPROCESS_LAYER)
        x = layer(image)
    features_from = cam_layer_name(model, cam_layer) if with_features else None
    features = keras.layers.Identity(name=FEATURES_LAYER) if with_features else None
    if not structured:
        return PreparedClassifier(keras.Model(image, model(x)), None, None, False)
    if isinstance(model, keras.Sequential):
        output_names = [model.layers[-1].name]
        for layer in model.layers:
            x = _clone_layer(layer, output_names)(x)
            x = features(x) if layer.name == features_from else x
        prepared = keras.Model(image, x)
    else:
        output_names = list(model.output_names)
        preprocessed = x

        def call(layer, *args, **kwargs):
            args, kwargs = keras.tree.map_structure(
                lambda t: preprocessed if t is image else t, (args, kwargs))
            out = layer(*args, **kwargs)
            return features(out) if layer.name == features_from else out

        prepared = keras.models.clone_model(
            model, input_tensors=keras.tree.map_structure(lambda _: image, model.input),
            clone_function=functools.partial(_clone_layer, output_names=output_names),
            call_function=call)
    copy_weights(model, prepared)
    linear = any(isinstance(layer, keras.layers.Softmax)
                 or layer.get_config().get("activation") == "softmax"
                 for layer in model.layers if layer.name in output_names)
    # Scorecam calls model.predict: the copy answers by direct calls instead (no progress
    # bar, no predict function traced per copy).
    prepared.predict = functools.partial(direct_predict, prepared)
    return PreparedClassifier(prepared, features, features_from, linear)


def direct_predict(model, x, batch_size: int | None = None, verbose=0):
    """``model.predict(x)`` of a one-input model by direct calls ``model(x, training=False)``.

    Eager calls trace nothing, so calling it on many copies of a model, or on batches of
    other sizes, neither retraces a ``tf.function`` nor prints a progress bar (``verbose`` is
    accepted, as ``predict``'s, and ignored).

    Args:
        model: a one-input Keras model.
        x: ``(N, ...)`` array, or a list of one (as tf-keras-vis passes it).
        batch_size: images per call (None: 32, as ``predict``).

    Returns:
        numpy ``(N, ...)`` outputs.
    """
    if isinstance(x, (list, tuple)):
        if len(x) != 1:
            raise ValueError(f"Expected one input array. Received: {len(x)} arrays")
        x = x[0]
    return predict_in_chunks(lambda part: model(part, training=False),
                             np.asarray(x, np.float32), batch_size or 32)


def tf_keras_vis_maps(kind: str, prepared: PreparedClassifier, images: np.ndarray,
                      targets: np.ndarray, options: dict) -> np.ndarray:
    """Runs one tf-keras-vis method on ``prepared`` and returns its raw maps ``(N, H, W)``.

    Args:
        kind: a key of :data:`TF_KERAS_VIS_CLASSES`.
        prepared: from :func:`prepare_classifier` (``with_features`` for CAM methods).
        images: float32 ``(N, H, W, C)``.
        targets: int ``(N,)``.
        options: extra keyword arguments of the tf-keras-vis ``__call__``.
    """
    import warnings

    from tf_keras_vis.utils.scores import CategoricalScore

    module, name = TF_KERAS_VIS_CLASSES[kind]
    method = getattr(importlib.import_module(module), name)(prepared.model, clone=False)
    score = CategoricalScore([int(t) for t in targets])
    if kind == "saliency":
        options = {**options, "normalize_map": False}
    else:
        options = {**options, "normalize_cam": False, "penultimate_layer": prepared.features,
                   "seek_penultimate_conv_layer": False}
    with warnings.catch_warnings():  # tf-keras-vis passes [x] to one-input models
        warnings.filterwarnings("ignore", message="The structure of `inputs`")
        maps = method(score, images, **options)
    return np.asarray(maps, np.float32).reshape(images.shape[:3])


class NeuroMaskVis:
    """NeuroMask with tf-keras-vis's calling convention: swap it in by changing one line.

    ``Saliency(model)`` or ``Gradcam(model, model_modifier=ReplaceToLinear())`` becomes
    ``NeuroMaskVis(model)``; the call ``vis(score, seed_input)`` is unchanged and returns
    numpy ``(N, H, W)`` maps, normalised per image like tf-keras-vis's.

    Args:
        model: the classifier (never modified; logits or softmax output both work, so no
            model modifier is needed).
        model_modifier: accepted for drop-in use: ``None`` or ``ReplaceToLinear`` (a no-op
            here: NeuroMask detects a softmax itself); anything else raises.
        clone: accepted and ignored (NeuroMask never modifies the model).
        **neuromask_options: keyword arguments of :class:`keras_neuromask.NeuroMask`
            (``preset``, ``steps``, ``preprocess``, ...).

    Example:
        >>> from tf_keras_vis.utils.scores import CategoricalScore
        >>> vis = NeuroMaskVis(model, steps=300)
        >>> maps = vis(CategoricalScore([281, 285]), images)   # (2, H, W) in [0, 1]
        >>> vis.last_explanation.masked_probability             # the full record
    """

    # tf-keras-vis options that do not apply to a mask learned on the input: ignored.
    IGNORED_OPTIONS = ("penultimate_layer", "seek_penultimate_conv_layer", "expand_cam",
                       "keepdims", "training")

    def __init__(self, model, model_modifier=None, clone: bool = True, **neuromask_options):
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear

        from keras_neuromask.explainer import NeuroMask

        modifiers = model_modifier if isinstance(model_modifier, (list, tuple)) else \
            [] if model_modifier is None else [model_modifier]
        if any(not isinstance(m, ReplaceToLinear) for m in modifiers):
            raise ValueError("Expected model_modifier None or ReplaceToLinear (NeuroMask never "
                             f"modifies the model). Received: {model_modifier!r}")
        self.model = model
        self.explainer = NeuroMask(model, **neuromask_options)
        self.last_explanation = None

    def __call__(self, score, seed_input, *, normalize_map: bool = True,
                 normalize_cam: bool | None = None, steps: int | None = None,
                 batch_size: int | None = None, **options):
        """Explains the classes that ``score`` names in ``seed_input``.

        Args:
            score: a ``tf_keras_vis.utils.scores.CategoricalScore`` (one index for every
                image, or one per image), a list holding one, or int class indices.
            seed_input: images ``(N, H, W, C)`` or ``(H, W, C)``, or a list of one array
                (then a list of one array is returned, as tf-keras-vis does).
            normalize_map, normalize_cam: min-max normalise each map (default True).
            steps, batch_size: passed to :meth:`keras_neuromask.NeuroMask.explain`.
            **options: the tf-keras-vis options in ``IGNORED_OPTIONS``; others raise.

        Returns:
            float32 ``(N, H, W)`` masks (1 = the pixels that keep the class).
        """
        unknown = sorted(set(options) - set(self.IGNORED_OPTIONS))
        if unknown:
            raise TypeError(f"Expected NeuroMaskVis options normalize_map, normalize_cam, "
                            f"steps, batch_size or {self.IGNORED_OPTIONS}. Received: {unknown}")
        as_list = isinstance(seed_input, list)
        if as_list and len(seed_input) != 1:
            raise ValueError(f"Expected one input (the model has one). Received: "
                             f"{len(seed_input)} seed inputs")
        images = np.asarray(seed_input[0] if as_list else seed_input)
        count = 1 if images.ndim == 3 else len(images)
        indices = score_indices(score)
        if len(indices) not in (1, count):
            raise ValueError(f"Expected one class index or one per image ({count}). "
                             f"Received: {indices}")
        targets = indices * count if len(indices) == 1 else indices
        result = self.explainer.explain(images, targets, steps=steps, batch_size=batch_size)
        self.last_explanation = result
        normalize = normalize_map if normalize_cam is None else normalize_cam
        maps = normalize_maps(result.masks) if normalize else result.masks
        return [maps] if as_list else maps


def score_indices(score) -> list[int]:
    """The class indices a tf-keras-vis ``CategoricalScore`` (or a list of one) reads."""
    from tf_keras_vis.utils.scores import CategoricalScore

    if isinstance(score, (list, tuple)) and len(score) == 1 \
            and isinstance(score[0], CategoricalScore):
        score = score[0]
    if isinstance(score, CategoricalScore):
        return [int(i) for i in score.indices]
    values = np.asarray(score)
    if values.ndim <= 1 and values.size and np.issubdtype(values.dtype, np.integer):
        return [int(i) for i in values.reshape(-1)]
    raise TypeError("Expected a tf_keras_vis CategoricalScore (or a list of one) or int class "
                    f"indices. Received: {score!r}")


__all__ = ["NeuroMaskVis", "score_indices", "PreparedClassifier", "prepare_classifier",
           "cam_layer_name", "copy_weights", "direct_predict", "normalize_maps",
           "tf_keras_vis_maps",
           "TF_KERAS_VIS_CLASSES"]
