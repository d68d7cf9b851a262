"""``MaskPredictor``: a Keras model that learns to predict NeuroMask's mask in one forward
pass, trained with NeuroMask's own objective on a user's images.

References:
    Dabkowski, Gal. "Real Time Image Saliency for Black Box Classifiers". NeurIPS 2017.
    Alzantot et al. "NeuroMask: Explaining Predictions of Deep Neural Networks through Mask
    Learning". SMARTCOMP 2019, arXiv:1908.04389.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

from keras_neuromask import inputs, saving
from keras_neuromask.amortised import network as networks
from keras_neuromask.amortised.inference import masks_function
from keras_neuromask.explainer import Explanation, NeuroMask
from keras_neuromask.losses import LossTerms

_CLASSIFIER_KEY = "classifier_"  # prefix of the classifier's weights in the .keras store


@keras.saving.register_keras_serializable(package="keras_neuromask")
class MaskPredictor(keras.Model):
    """Predicts NeuroMask masks in one forward pass; trained on the objective itself.

    A network ``g`` maps an image ``x`` and the class to explain ``c`` to mask parameters
    ``w = g(x, c)`` on the grid of NeuroMask's settings (``settings.grid_shape(H, W)``);
    training minimises NeuroMask's loss of those parameters over a data set::

        min_g  mean_i L_i(g(x_i, c_i))

    with ``L_i`` the per-image objective of :class:`keras_neuromask.NeuroMask` (same preset,
    same mask family ``m = masks(w, (H, W))``), so ``explain(..., refine_steps=k)`` can go on
    with ``k`` per-image NeuroMask steps from the prediction (a warm start). Only ``g``'s
    weights are trained; the classifier is not tracked, its weights stay bit-identical and no
    ``trainable`` flag is touched. The loss terms and the kept class probability are Keras
    metrics, so ``History``, callbacks and TensorBoard work as for any model.

    Args:
        classifier: a ``keras.Model`` with one image input and one ``(N, classes)`` output
            (logits or softmax probabilities).
        preset: NeuroMask's preset of the objective (``"default"``).
        neuromask_options: further :class:`~keras_neuromask.NeuroMask` keywords (e.g.
            ``{"mask_grid": (7, 7)}``); ``steps`` is unused, ``optimizer`` and
            ``learning_rate`` drive the refinement.
        encoder: ``"auto"`` (the classifier's own frozen features when it has a 4-D layer of
            at least 2x2 cells, else ``"conv"``), ``"features"`` or ``"conv"`` (a small conv
            encoder trained from scratch).
        feature_layer: a layer name or a list of names of the classifier (``None``: its last
            4-D layer); their outputs, frozen, feed the head.
        width: channels of the head.
        level_rate: how many times faster than the head's weights the masks' level steps
            (:class:`~keras_neuromask.amortised.layers.CentredLevel`); files saved before
            this option existed load with 1, as they were trained.
        image_shape: ``(H, W, C)``; default the classifier's fixed input shape.
        preprocess: a TF function applied to images before the classifier (as for NeuroMask).
        classifier_output: ``"auto"``, ``"logits"`` or ``"probabilities"``.
        refine_steps: default NeuroMask steps from the prediction in :meth:`explain` and the
            export.
        seed: seeds the network's initialisers and NeuroMask's objective.
        batch_size: images per call of :meth:`explain` (and per training step by default).

    Example:
        >>> predictor = MaskPredictor(classifier)
        >>> predictor.fit(train_images, epochs=10)            # a keras History
        >>> result = predictor.explain(images)                 # an Explanation, one pass
        >>> refined = predictor.explain(images, refine_steps=15)
        >>> predictor.save("predictor.keras")
    """

    def __init__(self, classifier, *, preset: str = "default",
                 neuromask_options: dict | None = None, encoder: str = "auto",
                 feature_layer=None, width: int = 64,
                 level_rate: float = networks.LEVEL_RATE, image_shape=None, preprocess=None,
                 classifier_output: str = "auto", refine_steps: int = 0, seed: int = 0,
                 batch_size: int = 16, **kwargs):
        super().__init__(**{"dtype": "float32", **kwargs})
        inputs.check_classifier(classifier)
        object.__setattr__(self, "_classifier", classifier)  # untracked: never trained
        if not isinstance(neuromask_options, (dict, type(None))):
            raise TypeError(f"Expected neuromask_options as a dict. Received: "
                            f"{neuromask_options!r}")
        options = dict(neuromask_options or {})
        self.neuromask_options = options
        self.preset, self.seed = preset, inputs.check_int("seed", seed, minimum=0)
        self.batch_size = inputs.check_int("batch_size", batch_size, minimum=1)
        self.refine_steps = inputs.check_int("refine_steps", refine_steps, minimum=0)
        self.width = inputs.check_int("width", width, minimum=1)
        if isinstance(level_rate, bool) or not isinstance(level_rate, (int, float)) or not (
                level_rate > 0):
            raise ValueError(f"Expected level_rate > 0. Received: {level_rate!r}")
        self.level_rate = float(level_rate)
        self.classifier_output, self.preprocess = classifier_output, preprocess
        explainer = NeuroMask(classifier, preset=preset, preprocess=preprocess,
                              classifier_output=classifier_output, seed=self.seed,
                              batch_size=self.batch_size, **options)
        object.__setattr__(self, "_explainer", explainer)  # its objective; not a sub-layer
        self.image_shape = _image_shape(classifier, image_shape)
        self.objective = explainer.mask_objective(self.image_shape)  # decides logits/probs
        probe = tf.zeros((1, *self.image_shape))
        self.classes = int(self.objective.classify(probe).shape[-1])
        self.grid = tuple(self.objective.settings.grid_shape(*self.image_shape[:2]))
        self.encoder, self.feature_layer = encoder, feature_layer
        names = networks.feature_layers(classifier, encoder, feature_layer)
        self.feature_layer_names = names
        frozen = networks.feature_model(classifier, names) if names else None
        object.__setattr__(self, "_frozen_features", frozen)  # the classifier's own layers
        if frozen is None:
            shapes = [self.image_shape]
        else:
            shapes = [tuple(t.shape[1:]) for t in self._encode(probe)]
        settings = self.objective.settings
        self.network = networks.mask_network(
            shapes, self.classes, self.grid, from_images=frozen is None, width=self.width,
            level_rate=self.level_rate,
            init_value=settings.init_value if settings.init == "constant" else 0.0,
            seed=self.seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in LossTerms._fields}
        self._functions = {}
        self.supports_jit = False  # jit_compile="auto" means off (the blur, resizes)
        self.built = True

    # ------------------------------------------------------------------ properties
    @property
    def classifier(self) -> keras.Model:
        """The frozen classifier being explained."""
        return self._classifier

    @property
    def settings(self):
        """NeuroMask's :class:`~keras_neuromask.settings.Settings` of the objective."""
        return self.objective.settings

    @property
    def metrics(self):
        return list(self.trackers.values())

    # ------------------------------------------------------------------ the maths
    def _encode(self, images) -> list:
        """The network's inputs besides the targets: the frozen feature maps, or the images
        (the conv encoder is inside the network)."""
        if self._frozen_features is None:
            return [images]
        x = images if self.preprocess is None else self.preprocess(images)
        outputs = self._frozen_features(x, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return [tf.stop_gradient(tf.cast(o, tf.float32)) for o in outputs]

    def predict_params(self, images, targets, features=None, training: bool = False):
        """Mask parameters ``w = g(x, c)``, ``(N, rows, cols, 1)``.

        Args:
            images: ``(N, H, W, C)`` float32 tensor.
            targets: ``(N,)`` int classes to explain.
            features: the frozen feature maps if already computed (a list), else None.
            training: the network's mode.
        """
        features = self._encode(images) if features is None else list(features)
        return self.network([*features, tf.cast(targets, tf.int32)], training=training)

    def call(self, images):
        """Masks ``(N, H, W)`` of the predicted classes, without refinement."""
        images = tf.cast(images, tf.float32)
        targets = tf.argmax(self.objective.classify(images), axis=-1)
        params = self.predict_params(images, targets)
        return self.objective.masks(params, tuple(self.image_shape[:2]))[..., 0]

    # ------------------------------------------------------------------ Keras hooks
    def _batch_terms(self, data, training: bool):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        x = x if isinstance(x, dict) else {"images": x}
        images = tf.cast(x["images"], tf.float32)
        objective = self.objective
        if "targets" in x:
            targets = tf.cast(x["targets"], tf.int64)
        else:
            targets = tf.argmax(objective.classify(images), axis=-1)
        features = [x[f"features_{i}"] for i in range(len(self.feature_layer_names))] \
            if "features_0" in x else None
        original = x.get("original_loss")
        if original is None:
            original = objective.original_loss(images, targets)
        baseline = objective.baseline(images)
        removed = objective.removed_fill(images)
        with tf.GradientTape() as tape:
            params = self.predict_params(images, targets, features, training=training)
            terms = objective.terms(params, images, baseline, targets, removed, original)
            scaled = tf.reduce_mean(terms.loss) * objective.loss_scale  # float16 gradients
        return tape, scaled, terms

    def train_step(self, data):
        """One batch: the mean of NeuroMask's per-image loss at the predicted parameters,
        ``mean_i L_i(g(x_i, c_i))``, and one optimiser step on ``g``'s weights only."""
        tape, scaled, terms = self._batch_terms(data, training=True)
        weights = self.network.trainable_weights
        gradients = tape.gradient(scaled, weights)
        scale = self.objective.loss_scale
        self.optimizer.apply([tf.convert_to_tensor(g) / scale for g in gradients], weights)
        return self._update_trackers(terms)

    def test_step(self, data):
        _, _, terms = self._batch_terms(data, training=False)
        return self._update_trackers(terms)

    def _update_trackers(self, terms: LossTerms) -> dict:
        for name, values in zip(LossTerms._fields, terms):
            self.trackers[name].update_state(values)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    # ------------------------------------------------------------------ public API
    def fit(self, x, targets=None, *, epochs: int = 1, batch_size: int | None = None,
            callbacks=None, verbose="auto", shuffle: bool = True, validation_data=None,
            initial_epoch: int = 0, **kwargs):
        """Trains the network on images; returns Keras' ``History``.

        With arrays, the targets (``None``: the classifier's argmax), the frozen features
        and the preservation floor ``-log p_c(x)`` are computed once, before the first
        epoch (the classifier then runs once per step, on the masked images).

        Args:
            x: images ``(N, H, W, C)``, or a ``tf.data.Dataset`` of batches of images,
                ``(images, targets)`` or ``{"images": ..., "targets": ...}`` (targets: the
                argmax when absent).
            targets: with arrays: ``None``, one int or one int per image.
            epochs, callbacks, verbose, shuffle, initial_epoch: as in ``keras.Model.fit``.
            batch_size: images per step with arrays (default: :attr:`batch_size`).
            validation_data: images (array) scored with the same metrics (``val_*``).
            **kwargs: other ``keras.Model.fit`` arguments (``steps_per_epoch``, ...).

        Not compiled yet: compiled with ``keras.optimizers.Adam(1e-3)``; no loss is needed
        (the objective is NeuroMask's).
        """
        if not self.compiled:
            self.compile(optimizer=keras.optimizers.Adam(1e-3))
        size = self.batch_size if batch_size is None else inputs.check_int(
            "batch_size", batch_size, minimum=1)
        if isinstance(x, tf.data.Dataset):
            if targets is not None:
                raise ValueError("Expected targets inside the dataset. Received: targets= "
                                 "with a tf.data.Dataset")
            data, size, shuffle = x.map(_as_example_dict), None, False  # its own order
        else:
            data = self.training_arrays(x, targets)
        if validation_data is not None:
            validation_data = (self.training_arrays(validation_data),)
        return super().fit(data, batch_size=size, epochs=epochs, callbacks=callbacks,
                           verbose=verbose, shuffle=shuffle, initial_epoch=initial_epoch,
                           validation_data=validation_data, **kwargs)

    def training_arrays(self, images, targets=None) -> dict:
        """What :meth:`fit` trains on, computed once: ``images``, ``targets``, the frozen
        feature maps ``features_i`` and ``original_loss`` (when the objective has a floor)."""
        batch, chosen, _ = self._explainer.checked_inputs(images, targets)
        self._check_size(batch)
        arrays = {"images": batch, "targets": chosen}
        encode = tf.function(self._precompute)
        parts = [encode(tf.constant(batch[i:i + self.batch_size]),
                        tf.constant(chosen[i:i + self.batch_size]))
                 for i in range(0, len(batch), self.batch_size)]
        for key in parts[0]:
            arrays[key] = np.concatenate([part[key].numpy() for part in parts])
        return arrays

    def _precompute(self, images, targets) -> dict:
        values = {}
        if self._frozen_features is not None:
            values.update({f"features_{i}": f for i, f in enumerate(self._encode(images))})
        original = self.objective.original_loss(images, targets)
        if original is not None:
            values["original_loss"] = original
        return values

    def explain(self, images, targets=None, *, refine_steps: int | None = None,
                batch_size: int | None = None) -> Explanation:
        """Explains each image's target class by the predicted mask (refined on request).

        Args:
            images: one image ``(H, W, C)`` or a batch ``(N, H, W, C)``.
            targets: ``None`` (the predicted classes), one int, or one int per image.
            refine_steps: NeuroMask steps from the prediction (default :attr:`refine_steps`).
            batch_size: images per call (default :attr:`batch_size`).

        Returns:
            An :class:`keras_neuromask.Explanation` (``steps``: the refinement steps).
        """
        start = time.perf_counter()
        steps = self.refine_steps if refine_steps is None else inputs.check_int(
            "refine_steps", refine_steps, minimum=0)
        size = self.batch_size if batch_size is None else inputs.check_int(
            "batch_size", batch_size, minimum=1)
        batch, chosen, original = self._explainer.checked_inputs(images, targets)
        self._check_size(batch)
        function = self.masks_function(steps)
        parts = [function(tf.constant(batch[i:i + size]), tf.constant(chosen[i:i + size]))
                 for i in range(0, len(batch), size)]
        values = {key: np.concatenate([part[key].numpy() for part in parts])
                  for key in ("masks", "masked_probability", "baseline_probability")}
        if not np.isfinite(values["masks"]).all():
            raise FloatingPointError("Expected finite masks. Received: NaN or Inf (check the "
                                     "classifier's outputs and the refinement's rate)")
        return explanation_of(dict(
            values, targets=chosen, original_probability=original,
            steps=np.full(len(batch), steps, np.int64), seconds=time.perf_counter() - start))

    def masks_function(self, refine_steps: int):
        """The compiled ``(images, targets) -> dict`` of :mod:`.inference` (cached)."""
        if refine_steps not in self._functions:
            spec = [tf.TensorSpec([None, *self.image_shape], tf.float32),
                    tf.TensorSpec([None], tf.int64)]
            self._functions[refine_steps] = tf.function(
                masks_function(self, refine_steps), input_signature=spec)
        return self._functions[refine_steps]

    def _check_size(self, batch: np.ndarray) -> None:
        if tuple(batch.shape[1:]) != tuple(self.image_shape):
            shape = ", ".join(map(str, self.image_shape))
            raise ValueError(f"Expected images of shape (N, {shape}). Received: {batch.shape}")

    # ------------------------------------------------------------------ saving
    def save_own_variables(self, store):
        """Saves the classifier's weights too (it is untracked, so a ``.keras`` file would
        otherwise hold only the mask network)."""
        super().save_own_variables(store)
        for index, weight in enumerate(self._classifier.weights):
            store[f"{_CLASSIFIER_KEY}{index}"] = weight.numpy()

    def load_own_variables(self, store):
        keys = [key for key in store.keys() if key.startswith(_CLASSIFIER_KEY)]
        weights = self._classifier.weights
        if len(keys) != len(weights):
            raise ValueError(f"Expected {len(weights)} classifier weights in the file. "
                             f"Received: {len(keys)}")
        for index, weight in enumerate(weights):
            weight.assign(store[f"{_CLASSIFIER_KEY}{index}"])
        own = self._trainable_variables + self._non_trainable_variables
        for index, variable in enumerate(own):
            variable.assign(store[f"{index}"])

    def get_config(self):
        return {
            **super().get_config(), **saving.models_config(self._classifier, self.preprocess),
            "preset": self.preset,
            "neuromask_options": saving.json_options(self.neuromask_options),
            "encoder": self.encoder, "feature_layer": self.feature_layer, "width": self.width,
            "level_rate": self.level_rate,
            "image_shape": list(self.image_shape),
            "classifier_output": self.classifier_output, "refine_steps": self.refine_steps,
            "seed": self.seed, "batch_size": self.batch_size,
        }

    @classmethod
    def from_config(cls, config):
        config = saving.restored(config, options_key="neuromask_options")
        config["image_shape"] = tuple(config["image_shape"])
        config.setdefault("level_rate", 1.0)  # saved before the level had its own rate
        return cls(**config)


def explanation_of(values: dict) -> Explanation:
    """An :class:`~keras_neuromask.Explanation` from named values: each of its fields is
    taken from ``values`` (extra values, for fields it does not have, are left out)."""
    missing = [name for name in Explanation._fields if name not in values]
    if missing:
        raise ValueError(f"Expected a value for every Explanation field. Received: none for "
                         f"{missing}")
    return Explanation(**{name: values[name] for name in Explanation._fields})


def _as_example_dict(*element):
    """A dataset element (images, (images, targets) or a dict) as a dict."""
    if len(element) == 1:
        element = element[0]
    if isinstance(element, dict):
        return element
    if isinstance(element, tuple):
        return {"images": element[0], "targets": element[1]} if len(element) > 1 else {
            "images": element[0]}
    return {"images": element}


def _image_shape(classifier, image_shape) -> tuple[int, int, int]:
    if image_shape is None:
        shape = tuple(classifier.inputs[0].shape[1:]) if getattr(
            classifier, "inputs", None) else ()
        if len(shape) != 3 or None in shape:
            raise ValueError("Expected image_shape=(H, W, C) for a classifier without a fixed "
                             f"input size. Received: input shape {shape}")
        image_shape = shape
    image_shape = tuple(image_shape)
    if len(image_shape) != 3 or not all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0
            for d in image_shape):
        raise ValueError(f"Expected image_shape as (H, W, C) positive ints. Received: "
                         f"{image_shape!r}")
    return tuple(int(d) for d in image_shape)


__all__ = ["MaskPredictor", "explanation_of"]
