"""One contract over NeuroMask, RISE and every tf-keras-vis method.

A method is an object constructed with its options and called on data::

    method = get_method("gradcam", layer="last_conv")
    result = method(model, images, targets)   # MethodResult
    result.maps                                # float32 (N, H, W), each image in [0, 1]

Choices, the same for every method:

* the user's model is never changed: tf-keras-vis methods and RISE run on a flat copy
  (:func:`keras_neuromask.evaluation.vis_methods.prepare_classifier`), NeuroMask never modifies it;
* the class score is the logit: a softmax output layer is made linear in the copy (as
  tf-keras-vis recommends with ``ReplaceToLinear``); Score-CAM applies its own softmax to it;
  RISE weighs masks by the softmax probability, as in its paper; NeuroMask detects the
  softmax itself;
* ``preprocess`` (for models whose preprocessing lives outside) runs inside the copy, so
  maps and masks are over the raw pixels;
* maps are min-max normalised per image; ``seconds_per_image`` is the wall time of the call
  (preparing the copy included; it is cached per model and method object) over ``N``.
"""

from __future__ import annotations

import importlib
import inspect
import time
import weakref
from typing import ClassVar, NamedTuple

import numpy as np

from keras_neuromask import inputs
from keras_neuromask.evaluation.rise import rise_saliency
from keras_neuromask.evaluation.vis_methods import (
    TF_KERAS_VIS_CLASSES,
    copy_weights,
    direct_predict,
    normalize_maps,
    prepare_classifier,
    tf_keras_vis_maps,
)
from keras_neuromask.predictions import as_probabilities, looks_like_probabilities


class MethodResult(NamedTuple):
    """What every method returns."""

    maps: np.ndarray  # float32 (N, H, W), min-max normalised per image; high = important
    seconds_per_image: float  # wall time of the call divided by N


class Method:
    """Base of every method: ``method(model, images, targets=None) -> MethodResult``.

    Args:
        preprocess: optional TF function applied to the images before the model.
    """

    name: ClassVar[str] = ""

    def __init__(self, *, preprocess=None):
        if preprocess is not None and not callable(preprocess):
            raise TypeError(f"Expected preprocess as a callable. Received: {preprocess!r}")
        self.preprocess = preprocess
        self._cache = None  # (weakref to the model, what was built for it)

    def __call__(self, model, images, targets=None) -> MethodResult:
        """Explains ``targets`` (None: the predicted class) of ``images`` (N, H, W, C)."""
        batch, _ = inputs.as_image_batch(images)
        inputs.check_image_shape(batch, model, self.preprocess is not None)
        start = time.perf_counter()
        maps = self.explain_batch(model, batch, targets)
        seconds = time.perf_counter() - start
        return MethodResult(normalize_maps(maps), seconds / len(batch))

    def explain_batch(self, model, batch: np.ndarray, targets) -> np.ndarray:
        """Raw maps ``(N, H, W)`` for a float32 batch; subclasses implement it."""
        raise NotImplementedError

    def _cached(self, model, build):
        """What ``build(model)`` made for this same model object last time, else a new one."""
        if self._cache is not None and self._cache[0]() is model:
            return self._cache[1], True
        built = build(model)
        self._cache = (weakref.ref(model), built)
        return built, False

    def _prepared(self, model, batch, **options):
        prepared, reused = self._cached(model, lambda m: prepare_classifier(
            m, preprocess=self.preprocess, input_shape=batch.shape[1:], **options))
        if reused:
            copy_weights(model, prepared.model)  # the model's weights may have changed
        return prepared

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _scores_and_targets(prepared, batch: np.ndarray, targets, chunk: int = 64):
    """The copy's class scores on the images, and the targets (argmax when ``None``)."""
    scores = direct_predict(prepared.model, batch, chunk)
    checked = inputs.as_targets(targets, len(batch), scores.shape[-1])
    return scores, np.argmax(scores, axis=-1) if checked is None else checked


class _TfKerasVisMethod(Method):
    """A tf-keras-vis method on the flat logits copy; ``**options`` go to its ``__call__``."""

    kind: ClassVar[str] = ""
    defaults: ClassVar[dict] = {}
    reserved: ClassVar[tuple] = ("score", "seed_input", "normalize_map", "normalize_cam",
                                 "penultimate_layer", "seek_penultimate_conv_layer")

    def __init__(self, *, preprocess=None, seed: int = 0, **options):
        super().__init__(preprocess=preprocess)
        module, cls = TF_KERAS_VIS_CLASSES[self.kind]
        accepted = inspect.signature(getattr(importlib.import_module(module), cls).__call__)
        unknown = sorted((set(options) - set(accepted.parameters))
                         | (set(options) & set(self.reserved)))
        if unknown:
            raise TypeError(f"Expected options of tf-keras-vis {cls} (except "
                            f"{', '.join(self.reserved)}). Received: {unknown}")
        self.seed = int(seed)
        self.options = {**self.defaults, **options}

    def explain_batch(self, model, batch, targets):
        prepared = self._prepared(model, batch)
        _, chosen = _scores_and_targets(prepared, batch, targets)
        state = np.random.get_state()  # SmoothGrad draws from numpy's global generator
        np.random.seed(self.seed)
        try:
            return tf_keras_vis_maps(self.kind, prepared, batch, chosen, self.options)
        finally:
            np.random.set_state(state)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options})"


class Saliency(_TfKerasVisMethod):
    """|d logit_c / d x|, max over channels (Simonyan et al. 2014), via tf-keras-vis."""

    name, kind = "saliency", "saliency"


class SmoothGrad(_TfKerasVisMethod):
    """Saliency averaged over noisy copies (Smilkov et al. 2017); 20 samples, noise 0.2."""

    name, kind = "smoothgrad", "saliency"
    defaults = {"smooth_samples": 20, "smooth_noise": 0.2}


class _CamMethod(_TfKerasVisMethod):
    """A CAM method; ``layer``: the feature-map layer (name, index or layer; None: the last
    layer with a 4-D output)."""

    def __init__(self, *, layer=None, preprocess=None, seed: int = 0, **options):
        super().__init__(preprocess=preprocess, seed=seed, **options)
        self.layer = layer

    def _prepared(self, model, batch, **options):
        return super()._prepared(model, batch, cam_layer=self.layer, with_features=True)


class GradCAM(_CamMethod):
    """Grad-CAM (Selvaraju et al. 2017), via tf-keras-vis ``Gradcam``."""

    name, kind = "gradcam", "gradcam"


class GradCAMPlusPlus(_CamMethod):
    """Grad-CAM++ (Chattopadhay et al. 2018), via tf-keras-vis ``GradcamPlusPlus``."""

    name, kind = "gradcam++", "gradcam++"


class ScoreCAM(_CamMethod):
    """Score-CAM (Wang et al. 2020), via tf-keras-vis ``Scorecam`` (softmax of the logits)."""

    name, kind = "scorecam", "scorecam"

    def explain_batch(self, model, batch, targets):
        """One image at a time: tf-keras-vis masks every image by every channel at once
        (8 photos x 1280 channels of EfficientNet-Lite1 at 240x240 went past 22 GB)."""
        _, chosen = _scores_and_targets(self._prepared(model, batch), batch, targets)
        return np.concatenate([super(ScoreCAM, self).explain_batch(model, batch[i:i + 1],
                                                                    chosen[i:i + 1])
                               for i in range(len(batch))])


class LayerCAM(_CamMethod):
    """LayerCAM (Jiang et al. 2021), via tf-keras-vis ``Layercam``."""

    name, kind = "layercam", "layercam"


class RISE(Method):
    """RISE (Petsiuk et al. 2018): random masks weighted by the class's softmax probability.

    Args:
        num_masks: random masks (4000 in the paper).
        grid_size: cells per side of each mask's random grid.
        p1: probability of keeping a cell.
        batch_size: masked images per forward pass.
        seed: seed of the masks (the same masks for every image).
        preprocess: as for :class:`Method`.

    See :func:`keras_neuromask.evaluation.rise.rise_saliency` for the formula.
    """

    name = "rise"

    def __init__(self, *, num_masks: int = 4000, grid_size: int = 8, p1: float = 0.5,
                 batch_size: int = 100, seed: int = 0, preprocess=None):
        super().__init__(preprocess=preprocess)
        self.options = dict(num_masks=num_masks, grid_size=grid_size, p1=p1,
                            batch_size=batch_size, seed=seed)
        self._forward = None  # (copy, its call compiled once): RISE calls it num_masks / batch

    def explain_batch(self, model, batch, targets):
        import tensorflow as tf

        prepared = self._prepared(model, batch)
        scores, chosen = _scores_and_targets(prepared, batch, targets)
        # Logits unless the copy still ends in an (undetected, e.g. nested) softmax.
        logits = prepared.logits or not looks_like_probabilities(scores)
        if self._forward is None or self._forward[0] is not prepared.model:
            copy = prepared.model
            self._forward = (copy, tf.function(lambda x: copy(x, training=False),
                                               reduce_retracing=True))
        forward = self._forward[1]

        def probability(x):
            outputs = forward(tf.constant(x, tf.float32))
            return as_probabilities(np.asarray(outputs), logits)

        return rise_saliency(probability, batch, chosen, **self.options)

    def __repr__(self) -> str:
        return f"RISE({self.options})"


class NeuroMaskMethod(Method):
    """NeuroMask masks (:class:`keras_neuromask.NeuroMask`); ``**options`` go to it.

    One explainer is kept per model object, so its compiled step is reused between calls.
    """

    name = "neuromask"

    def __init__(self, *, preprocess=None, **options):
        super().__init__(preprocess=preprocess)
        self.options = options

    def explain_batch(self, model, batch, targets):
        from keras_neuromask.explainer import NeuroMask

        explainer, _ = self._cached(model, lambda m: NeuroMask(
            m, preprocess=self.preprocess, **self.options))
        return explainer.explain(batch, targets).masks

    def __repr__(self) -> str:
        return f"NeuroMaskMethod({self.options})"


METHODS: dict[str, type[Method]] = {
    cls.name: cls for cls in (NeuroMaskMethod, Saliency, SmoothGrad, GradCAM, GradCAMPlusPlus,
                              ScoreCAM, LayerCAM, RISE)
}


def method_names() -> tuple[str, ...]:
    """The registered method names, NeuroMask first."""
    return tuple(METHODS)


def get_method(name: str, **options) -> Method:
    """A method object by name, constructed with ``options``.

    Example:
        >>> get_method("rise", num_masks=1000)(model, images).maps.shape   # (N, H, W)
    """
    if name not in METHODS:
        raise ValueError(f"Expected a method name in {method_names()}. Received: {name!r}")
    return METHODS[name](**options)


__all__ = ["MethodResult", "Method", "NeuroMaskMethod", "Saliency", "SmoothGrad", "GradCAM",
           "GradCAMPlusPlus", "ScoreCAM", "LayerCAM", "RISE", "METHODS", "method_names",
           "get_method"]
