"""Model-randomisation sanity check for explanation methods (Adebayo et al. 2018)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import keras
import numpy as np

from keras_neuromask import inputs
from keras_neuromask.evaluation.metrics import as_maps, spearman_correlation


class SanityResult(NamedTuple):
    """What `sanity_check` returns; row ``k`` has ``layers[:k + 1]`` randomised."""

    layers: tuple[str, ...]  # names of the randomised layers, in the order randomised (top first)
    correlation: np.ndarray  # float64 (K, N), Spearman rho of original vs randomised maps
    original_maps: np.ndarray  # float32 (N, H, W), maps of the unchanged model (on a clone)
    randomized_maps: np.ndarray  # float32 (K, N, H, W)
    targets: np.ndarray  # int64 (N,), the classes explained throughout


def _initializer_for(layer, variable):
    """The layer's own initializer for ``variable`` (``kernel`` -> ``kernel_initializer``)."""
    name = variable.name.split("/")[-1].split(":")[0]
    for attr in (f"{name}_initializer", f"{name.replace('_kernel', '')}_initializer"):
        initializer = getattr(layer, attr, None)
        if isinstance(initializer, keras.initializers.Initializer):
            return initializer
    return None


def _randomize(layer, seed: int) -> None:
    """Re-initialises every weight of ``layer`` in place, seeded.

    Each variable is drawn again from the layer's own initializer (e.g. Glorot for kernels,
    zeros for biases, ones for BatchNorm scales), as in Adebayo et al.; a variable whose
    initializer is unknown gets ``N(0, std(w))`` noise (std 0.05 when ``w`` is constant).
    """
    values = []
    for index, variable in enumerate(layer.weights):
        shape, dtype = tuple(variable.shape), variable.dtype
        initializer = _initializer_for(layer, variable)
        if initializer is not None:
            config = initializer.get_config()
            if "seed" in config:
                config["seed"] = seed + index
            fresh = type(initializer).from_config(config)
            values.append(keras.ops.convert_to_numpy(fresh(shape, dtype=dtype)))
        else:
            current = keras.ops.convert_to_numpy(variable)
            std = float(current.std()) or 0.05
            rng = np.random.default_rng(seed + index)
            values.append(rng.normal(0.0, std, size=shape).astype(current.dtype))
    layer.set_weights(values)


def _resolve_layers(clone: keras.Model, layers) -> list:
    weighted = [layer for layer in reversed(clone.layers) if layer.weights]
    if layers is None:
        return weighted
    if isinstance(layers, (int, np.integer)) and not isinstance(layers, bool):
        if not 1 <= layers <= len(weighted):
            raise ValueError(
                f"Expected layers in [1, {len(weighted)}] (layers with weights). Received: "
                f"{layers}"
            )
        return weighted[: int(layers)]
    if isinstance(layers, str) or not isinstance(layers, Sequence) or not layers:
        raise TypeError(
            "Expected layers as None, an int or a non-empty sequence of layer names. "
            f"Received: {layers!r}"
        )
    by_name = {layer.name: layer for layer in weighted}
    unknown = [name for name in layers if name not in by_name]
    if unknown:
        raise ValueError(
            f"Expected names of layers with weights {sorted(by_name)}. Received: {unknown}"
        )
    return [by_name[name] for name in layers]


def _explain(explain_fn, model, images, targets, count) -> np.ndarray:
    maps = as_maps(explain_fn(model, images, targets), "explain_fn output")
    if maps.shape[0] != count or maps.shape[1:] != images.shape[1:3]:
        raise ValueError(
            f"Expected explain_fn to return maps of shape {(count, *images.shape[1:3])}. "
            f"Received: {maps.shape}"
        )
    return maps.astype(np.float32)


def sanity_check(
    explain_fn: Callable,
    model: keras.Model,
    images,
    targets=None,
    *,
    layers: int | Sequence[str] | None = None,
    seed: int = 0,
) -> SanityResult:
    """Cascading model-randomisation test: a faithful explanation must change.

    Works on a clone (``keras.models.clone_model`` + ``set_weights``): the maps of the
    unchanged clone are compared, by Spearman rank correlation per image, with the maps after
    re-initialising the top layer, then the top two, and so on (cascading, from the output
    down). High correlation after randomisation means the method ignores the model. The
    user's ``model`` is never given to ``explain_fn`` and its weights stay bit-identical.

    Args:
        explain_fn: ``explain_fn(model, images, targets) -> maps (N, H, W)``.
        model: A functional or Sequential ``keras.Model`` (``clone_model`` must support it).
        images: ``(N, H, W, C)`` or ``(H, W, C)``.
        targets: Classes to explain (int or one per image); None = the model's predictions.
            The same targets are explained for every randomisation.
        layers: Which layers to randomise: None = every layer with weights, from the top;
            an int k = the top k of those; or a sequence of layer names, randomised in that
            order (cumulatively).
        seed: Seeds the re-initialisation (layer i, variable j use ``seed + 1000 i + j``).

    Returns:
        A `SanityResult`.

    References:
        Adebayo et al. "Sanity Checks for Saliency Maps". NeurIPS 2018.
    """
    if not callable(explain_fn):
        raise TypeError(f"Expected a callable explain_fn. Received: {type(explain_fn)}")
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected a keras.Model. Received: {type(model)}")
    images, _ = inputs.as_image_batch(images)
    try:
        clone = keras.models.clone_model(model)
    except Exception as error:
        raise TypeError(
            "Expected a model that keras.models.clone_model can clone (functional or "
            f"Sequential). Received: {type(model).__name__} ({error})"
        ) from error
    clone.set_weights(model.get_weights())
    chosen = _resolve_layers(clone, layers)
    count = images.shape[0]
    if targets is None:
        logits = keras.ops.convert_to_numpy(clone(images, training=False))
        targets = np.argmax(logits, axis=-1).astype(np.int64)
    else:
        targets = inputs.as_targets(targets, count, None)

    original = _explain(explain_fn, clone, images, targets, count)
    randomized, correlation = [], []
    for index, layer in enumerate(chosen):
        _randomize(layer, seed + 1000 * index)
        maps = _explain(explain_fn, clone, images, targets, count)
        randomized.append(maps)
        correlation.append(spearman_correlation(original, maps))
    return SanityResult(
        layers=tuple(layer.name for layer in chosen),
        correlation=np.stack(correlation),
        original_maps=original,
        randomized_maps=np.stack(randomized),
        targets=targets,
    )
