"""A Beam ``ModelHandler`` over an exported NeuroMask SavedModel.

The model is loaded with ``tf.saved_model.load`` and called through its signatures
(:mod:`keras_neuromask.serving.export`): ``serving_default`` explains the predicted classes,
``explain_target`` the classes the examples carry. Nothing of Keras is deserialised, and the
whole optimisation runs inside the loaded graph, so a batch gives the masks TF Serving would.

Beam's own ``TFModelHandlerTensor`` loads models with ``tf.keras``, which does not load a
Keras 3 export; this handler needs TensorFlow only.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

_SIGNATURES = ("serving_default", "explain_target", "predict")


class ImageExample(NamedTuple):
    """One image to explain, as the classifier sees it (before the model's preprocessing)."""

    pixels: np.ndarray  # float32 (H, W, C), the export's image shape
    target: int | None = None  # class to explain; None: the predicted class


class MaskResult(NamedTuple):
    """What the export answers for one image (``PredictionResult.inference``)."""

    mask: np.ndarray  # float32 (H, W) in [0, 1]; 1 = kept, the evidence for the class
    target: int  # the class explained
    original_probability: float  # p(target | image)
    masked_probability: float  # p(target | masked image)
    steps: int | None  # optimisation steps taken (None: an export older than this output)


class ExportInfo(NamedTuple):
    """The shapes an export was made for, read from its ``saved_model.pb``."""

    image_shape: tuple[int, int, int]  # (H, W, C) of the ``images`` input
    classes: int | None  # length of ``predict``'s probabilities (None when not fixed)


def export_info(model_dir: str) -> ExportInfo:
    """Reads the image shape and class count of an export without loading its graph.

    Raises:
        ValueError: ``model_dir`` is not a version folder written by
            :func:`keras_neuromask.export_saved_model`.
    """
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(os.fspath(model_dir), "saved_model.pb")
    if not tf.io.gfile.exists(path):
        raise ValueError(f"Expected a SavedModel version folder (e.g. models/neuromask/1, "
                         f"holding saved_model.pb). Received: {os.fspath(model_dir)!r}")
    proto = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(path, "rb") as handle:
        proto.ParseFromString(handle.read())
    signatures = proto.meta_graphs[0].signature_def
    missing = [name for name in _SIGNATURES if name not in signatures]
    images = signatures["serving_default"].inputs.get("images") if not missing else None
    dims = [d.size for d in images.tensor_shape.dim] if images is not None else []
    if missing or len(dims) != 4 or min(dims[1:]) < 1:
        raise ValueError(f"Expected an export of keras_neuromask.export_saved_model (signatures "
                         f"{_SIGNATURES}, images [None, H, W, C]). Received: {model_dir!r} with "
                         f"signatures {sorted(signatures)}")
    probabilities = signatures["predict"].outputs.get("probabilities")
    classes = probabilities.tensor_shape.dim[-1].size if probabilities is not None else -1
    return ExportInfo(tuple(dims[1:]), classes if classes > 0 else None)


class SavedModelExplainHandler(ModelHandler):
    """Explains batches of images with an exported NeuroMask SavedModel.

    Examples are :class:`ImageExample` (or a bare ``(H, W, C)`` array: the predicted class);
    inferences are :class:`MaskResult`. A batch whose examples carry no target calls
    ``serving_default``; otherwise one ``explain_target`` call explains the whole batch (the
    missing targets are the ``predict`` signature's argmax), so a batch is never split.

    Args:
        model_dir: a version folder written by :func:`keras_neuromask.export_saved_model`
            (local or any file system TensorFlow reads, such as ``gs://``).
        min_batch_size, max_batch_size, max_batch_duration_secs, large_model,
            model_copies: Beam's knobs (``ModelHandler``); they apply when the handler is
            given to ``RunInference`` directly.

    Masks depend on which images share a batch up to float rounding, which Adam amplifies
    where a gradient is near zero (the shapes CNN at 20 steps: masks moved by up to 0.05
    between one batch of 12 and sub-batches of 1, 3, 5 or 7 of the same images). Beam's
    batches depend on its bundles, so ``ExplainImages`` forms its own, in name order, and
    passes them pre-batched.

    Example:
        >>> from apache_beam.ml.inference.base import RunInference
        >>> masks = images | RunInference(SavedModelExplainHandler("models/neuromask/1",
        ...                                                         max_batch_size=8))
    """

    def __init__(self, model_dir: str, *, min_batch_size: int | None = None,
                 max_batch_size: int | None = None,
                 max_batch_duration_secs: int | None = None, large_model: bool = False,
                 model_copies: int | None = None):
        if not isinstance(model_dir, (str, os.PathLike)):
            raise TypeError(f"Expected model_dir as a str or os.PathLike. Received: "
                            f"{model_dir!r}")
        super().__init__(min_batch_size=min_batch_size, max_batch_size=max_batch_size,
                         max_batch_duration_secs=max_batch_duration_secs,
                         large_model=large_model, model_copies=model_copies)
        self.model_dir = os.fspath(model_dir)

    def load_model(self):
        import tensorflow as tf

        return tf.saved_model.load(self.model_dir)

    def run_inference(self, batch: Sequence[Any], model,
                      inference_args: dict | None = None) -> Iterable[PredictionResult]:
        import tensorflow as tf

        if inference_args:
            raise ValueError(f"Expected no inference_args. Received: {sorted(inference_args)}")
        examples = [example if isinstance(example, ImageExample) else ImageExample(example)
                    for example in batch]
        if not examples:
            return []
        images = tf.constant(np.stack([np.asarray(e.pixels, np.float32) for e in examples]))
        targets = [e.target for e in examples]
        if all(target is None for target in targets):
            outputs = model.signatures["serving_default"](images=images)
        else:
            if any(target is None for target in targets):
                predicted = model.signatures["predict"](images=images)["probabilities"]
                predicted = np.argmax(predicted.numpy(), axis=-1)
                targets = [p if t is None else t for t, p in zip(targets, predicted)]
            outputs = model.signatures["explain_target"](
                images=images, targets=tf.constant(np.asarray(targets, np.int64)))
        outputs = {name: value.numpy() for name, value in outputs.items()}
        steps = outputs.get("steps")
        return [PredictionResult(example, MaskResult(
            mask=outputs["masks"][i], target=int(outputs["target"][i]),
            original_probability=float(outputs["original_probability"][i]),
            masked_probability=float(outputs["masked_probability"][i]),
            steps=None if steps is None else int(steps[i])), model_id=self.model_dir)
                for i, example in enumerate(batch)]

    def get_num_bytes(self, batch: Sequence[Any]) -> int:
        return sum(np.asarray(getattr(e, "pixels", e)).nbytes for e in batch)

    def get_metrics_namespace(self) -> str:
        return "keras_neuromask"


__all__ = ["ExportInfo", "ImageExample", "MaskResult", "SavedModelExplainHandler", "export_info"]
