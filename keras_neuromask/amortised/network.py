"""The mask network: an encoder (the classifier's own frozen features, or a small conv
encoder trained from scratch) and a head conditioned on the class that outputs mask
parameters on NeuroMask's grid.

Head (Dabkowski & Gal 2017's feature filter, at the grid's resolution)::

    z = relu(conv1x1(f))                 bottleneck, width D
    z = z * e[c]                         class selector: a learned (classes, D) embedding
    z = resize(z, grid)                  bilinear (antialiased when shrinking)
    p = conv3x3(relu(conv3x3(z)))        (N, rows, cols, 1): the spatial pattern
    w = p - mean_cells(p) + b            mask parameters; b one learned level, stepped
                                         LEVEL_RATE times faster than the head's weights

The parameters go through the objective's own ``m = masks(w, (H, W))``, so a predicted mask
belongs to the same family as a per-image NeuroMask mask and can be refined by its steps.

References:
    Dabkowski, Gal. "Real Time Image Saliency for Black Box Classifiers". NeurIPS 2017.
"""

from __future__ import annotations

import keras

from keras_neuromask.amortised.layers import (
    CentredLevel,
    ClassSelector,
    ResizeTo,
    Standardise,
)

ENCODERS = ("auto", "features", "conv")
LEVEL_RATE = 100.0  # CentredLevel's rate: the level steps 100x the head's weights


def auto_feature_layer(classifier) -> str | None:
    """The name of the classifier's last layer with a 4-D output of at least 2x2 cells (not
    its input), or None when it has none (or no functional graph)."""
    if not getattr(classifier, "inputs", None):
        return None
    for layer in reversed(classifier.layers):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        shape = _output_shape(layer)
        if shape is not None and len(shape) == 4 and all(
                d is not None and d >= 2 for d in shape[1:3]):
            return layer.name
    return None


def _output_shape(layer):
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return None


def feature_layers(classifier, encoder: str, feature_layer) -> tuple[str, ...]:
    """The classifier layers whose outputs the encoder reads (empty: the conv encoder).

    Args:
        classifier: the frozen classifier.
        encoder: ``"auto"`` (``feature_layer`` or :func:`auto_feature_layer`, else the conv
            encoder), ``"features"`` (must find a layer) or ``"conv"``.
        feature_layer: None, a layer name or a list of names.

    Raises:
        ValueError: an unknown encoder, a layer the classifier lacks or one that is not 4-D.
    """
    if encoder not in ENCODERS:
        raise ValueError(f"Expected encoder in {ENCODERS}. Received: {encoder!r}")
    if encoder == "conv":
        if feature_layer is not None:
            raise ValueError("Expected no feature_layer with encoder='conv'. Received: "
                             f"{feature_layer!r}")
        return ()
    names = ([feature_layer] if isinstance(feature_layer, str) else
             list(feature_layer) if feature_layer is not None else [])
    if not names:
        found = auto_feature_layer(classifier)
        if found is None and encoder == "features":
            raise ValueError("Expected a classifier with a 4-D feature layer of at least 2x2 "
                             "cells (or encoder='conv'). Received: none found")
        return () if found is None else (found,)
    if not getattr(classifier, "inputs", None):
        raise ValueError("Expected a functional or Sequential classifier to read "
                         f"feature_layer from. Received: {type(classifier).__name__}")
    for name in names:
        if not isinstance(name, str):
            raise ValueError(f"Expected feature_layer names as str. Received: {name!r}")
        try:
            layer = classifier.get_layer(name)
        except ValueError as error:
            raise ValueError(f"Expected feature_layer among the classifier's layers. "
                             f"Received: {name!r}") from error
        shape = _output_shape(layer)
        if shape is None or len(shape) != 4:
            raise ValueError(f"Expected a feature layer with a 4-D output (N, h, w, D). "
                             f"Received: {name!r} with output shape {shape}")
    return tuple(names)


def feature_model(classifier, names: tuple[str, ...]) -> keras.Model:
    """A model sharing the classifier's layers (and so its weights) from its input to the
    named layers' outputs."""
    outputs = [classifier.get_layer(name).output for name in names]
    return keras.Model(classifier.inputs, outputs, name="frozen_features")


def mask_network(input_shapes: list[tuple], classes: int, grid: tuple[int, int], *,
                 from_images: bool = False, width: int = 64, init_value: float = 0.0,
                 level_rate: float = LEVEL_RATE, seed: int = 0) -> keras.Model:
    """The trainable network ``([features..., targets]) -> (N, rows, cols, 1)`` parameters.

    Args:
        input_shapes: ``(h, w, D)`` of each frozen feature map, or (``from_images``) the
            one ``(H, W, C)`` image shape.
        from_images: put the conv encoder (trained from scratch) in front: the network
            then takes images.
        classes: the classifier's number of classes.
        grid: ``(rows, cols)`` of the mask parameters.
        width: channels ``D`` of the head (and the conv encoder's widest layer).
        init_value: the parameters' value before training (the level ``b``; the pattern's
            kernel starts near zero), NeuroMask's constant start.
        level_rate: the level's step multiplier (:class:`CentredLevel`'s ``rate``).
        seed: seeds the initialisers.
    """
    layers = keras.layers

    def init(index):
        return keras.initializers.HeNormal(seed=seed + index)

    sources = [keras.Input(shape, name=f"features_{i}") for i, shape in enumerate(input_shapes)]
    targets = keras.Input((), dtype="int32", name="targets")
    if from_images:
        encoded = [_conv_encoder(sources[0], grid, width, init)]
    else:
        encoded = [ResizeTo(grid)(s) for s in sources]
    features = encoded[0] if len(encoded) == 1 else layers.Concatenate()(encoded)
    x = layers.Conv2D(width, 1, activation="relu", kernel_initializer=init(10),
                      name="bottleneck")(features)
    x = ClassSelector(classes, name="class_selector")([x, targets])
    x = layers.Conv2D(width, 3, padding="same", activation="relu", kernel_initializer=init(11),
                      name="mix")(x)
    pattern = layers.Conv2D(
        1, 3, padding="same", use_bias=False, name="pattern",
        kernel_initializer=keras.initializers.RandomNormal(stddev=1e-3, seed=seed + 12))(x)
    params = CentredLevel(init_value, rate=level_rate, name="params")(pattern)
    return keras.Model([*sources, targets], params, name="mask_network")


def _conv_encoder(images, grid, width, init):
    """Standardise, a 3x3 conv, then strided 3x3 convs while the map is over twice the grid."""
    layers = keras.layers
    x = Standardise(name="standardise")(images)
    x = layers.Conv2D(max(8, width // 4), 3, padding="same", activation="relu",
                      kernel_initializer=init(0), name="encoder_0")(x)
    size, index = min(images.shape[1], images.shape[2]), 1
    while size >= 4 * min(grid) and index < 5:
        x = layers.Conv2D(min(width, 8 * 2 ** index), 3, strides=2, padding="same",
                          activation="relu", kernel_initializer=init(index),
                          name=f"encoder_{index}")(x)
        size, index = (size + 1) // 2, index + 1
    x = layers.Conv2D(width, 3, padding="same", activation="relu",
                      kernel_initializer=init(index), name=f"encoder_{index}")(x)
    return ResizeTo(grid, name="to_grid")(x)


__all__ = ["ENCODERS", "auto_feature_layer", "feature_layers",
           "feature_model", "mask_network"]
