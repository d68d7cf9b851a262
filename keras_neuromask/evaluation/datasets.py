"""A generated localisation benchmark ("shapes") and the small CNN trained on it.

Each image holds ONE object whose shape decides the class (square, disc, triangle, plus,
ring) on a cluttered, noisy background with distractors (thin line segments and irregular
speckles) that are no class shape, so the class is only decidable from the object. The
object's pixels are known exactly (``object_masks``), which makes localisation scores such as
the pointing game and energy (`keras_neuromask.evaluation.metrics`) meaningful.

Everything is numpy, vectorised and deterministic by seed: 10 000 32x32 images take about
a second on one CPU core.

The CNN trained with the default recipe ships with the package (`shipped_shapes_cnn`, what
`trained_shapes_cnn()` returns): the demo and the benchmark scripts start without training.
Other settings are trained once and cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import NamedTuple

import keras
import numpy as np

from keras_neuromask.predictions import predict_in_chunks

SHAPE_NAMES = ("square", "disc", "triangle", "plus", "ring")
# Bump when the generator, the architecture or the training recipe changes: cached models
# trained under another tag are then ignored instead of loaded.
CACHE_VERSION = "v1"
SHIPPED_FILE = "shapes_cnn.keras"  # package data, in keras_neuromask/evaluation/data


class ShapesData(NamedTuple):
    """A batch of the generated localisation data set."""

    images: np.ndarray  # float32 (N, size, size, 3) in [0, 1]
    labels: np.ndarray  # int64 (N,), index into SHAPE_NAMES
    object_masks: np.ndarray  # bool (N, size, size), True on the object's pixels


def _shape_mask(shape, u, v):
    """Membership of normalised coordinates (u, v) (object radius 1) in the given shape."""
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8
    if shape == "disc":
        return u**2 + v**2 <= 1.0
    if shape == "triangle":  # equilateral, circumradius 1, inradius 0.5
        inside = np.ones(u.shape, dtype=bool)
        for angle in (np.pi / 2, 7 * np.pi / 6, 11 * np.pi / 6):
            inside &= u * np.cos(angle) + v * np.sin(angle) <= 0.5
        return inside
    if shape == "plus":
        a, b = np.abs(u), np.abs(v)
        return (np.minimum(a, b) <= 0.3) & (np.maximum(a, b) <= 1.0)
    r2 = u**2 + v**2  # ring
    return (r2 <= 1.0) & (r2 >= 0.55**2)


def _smooth_background(rng, n, size, grid=4):
    """Base colour plus a bilinearly upsampled (grid x grid) colour field, (n, size, size, 3)."""
    base = rng.uniform(0.1, 0.9, size=(n, 3, 1, 1)).astype(np.float32)
    field = rng.uniform(-0.1, 0.1, size=(n, 3, grid, grid)).astype(np.float32)
    pos = np.linspace(0, grid - 1, size)
    lo = np.minimum(np.floor(pos).astype(int), grid - 2)
    interp = np.zeros((size, grid), dtype=np.float32)
    interp[np.arange(size), lo] = 1 - (pos - lo)
    interp[np.arange(size), lo + 1] = pos - lo
    # Two large GEMMs instead of n small ones: rows, then columns.
    rows = (field.reshape(-1, grid) @ interp.T).reshape(n, 3, grid, size)
    cols = interp @ rows.transpose(2, 0, 1, 3).reshape(grid, -1)  # (size, n * 3 * size)
    background = cols.reshape(size, n, 3, size).transpose(1, 0, 3, 2) + base.reshape(n, 1, 1, 3)
    return base.reshape(n, 3), np.ascontiguousarray(background)


def _contrasting_colours(rng, base, min_contrast=0.4):
    """Random colours whose largest channel difference from ``base`` is >= ``min_contrast``."""
    colours = rng.uniform(0, 1, size=base.shape)
    for _ in range(20):  # redraw the failures; after that push channel 0 to the far end
        bad = np.abs(colours - base).max(axis=1) < min_contrast
        colours[bad] = rng.uniform(0, 1, size=(int(bad.sum()), 3))
    bad = np.abs(colours - base).max(axis=1) < min_contrast
    colours[bad, 0] = np.where(base[bad, 0] > 0.5, 0.0, 1.0)
    return colours


def make_shapes(
    n: int,
    *,
    size: int = 32,
    seed: int = 0,
    num_classes: int = 4,
    num_lines: int = 3,
    num_speckles: int = 4,
    noise: float = 0.04,
    min_radius: float = 0.16,
    max_radius: float = 0.3,
    rotate: bool = True,
) -> ShapesData:
    """Generates ``n`` images, each with one class-deciding object on a cluttered background.

    The object (radius ``r`` ~ U(min_radius, max_radius)·size, random position inside the
    image, random rotation, a colour that differs from the background's base colour by at least
    0.4 in one channel) is drawn last and so is never occluded; ``object_masks`` is exactly its
    pixels. Classes are balanced (``i % num_classes``, shuffled). Gaussian pixel noise of std
    ``noise`` covers everything, then values are clipped to [0, 1].

    Args:
        n: Number of images.
        size: Image height and width in pixels (>= 16).
        seed: Seed of the numpy generator; the same seed gives identical arrays.
        num_classes: 2 to 5; classes are the first ``num_classes`` of ``SHAPE_NAMES``.
        num_lines: Distractor line segments per image (1 px wide, random colour).
        num_speckles: Distractor speckles per image (random half-filled 3x3 patches).
        noise: Standard deviation of the pixel noise.
        min_radius: Smallest object radius as a fraction of ``size``.
        max_radius: Largest object radius as a fraction of ``size``.
        rotate: Rotate each object by a random angle.

    Returns:
        A `ShapesData` (images float32 (n, size, size, 3), labels int64 (n,), object_masks
        bool (n, size, size)).

    Example:
        >>> images, labels, object_masks = make_shapes(1000, seed=1)
    """
    checks = [
        (isinstance(n, (int, np.integer)) and n >= 0, "`n` a non-negative int", f"n={n!r}"),
        (isinstance(size, (int, np.integer)) and size >= 16, "`size` an int >= 16",
         f"size={size!r}"),
        (num_classes in range(2, len(SHAPE_NAMES) + 1),
         f"`num_classes` in [2, {len(SHAPE_NAMES)}]", f"num_classes={num_classes!r}"),
        (0 < min_radius <= max_radius <= 0.5, "0 < min_radius <= max_radius <= 0.5",
         f"min_radius={min_radius!r}, max_radius={max_radius!r}"),
    ]
    for ok, expected, received in checks:
        if not ok:
            raise ValueError(f"Expected {expected}. Received: {received}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % num_classes).astype(np.int64)
    base, images = _smooth_background(rng, n, size)
    rows = np.arange(n)[:, None]

    for _ in range(num_lines):  # distractor segments, 4 px to half the image long
        start = rng.uniform(0, size - 1, size=(n, 2))
        angle = rng.uniform(0, 2 * np.pi, size=n)
        length = rng.uniform(4, size / 2, size=n)
        t = np.linspace(0, 1, 2 * size)[None, :] * length[:, None]
        ys = np.clip(np.rint(start[:, :1] + t * np.sin(angle)[:, None]), 0, size - 1)
        xs = np.clip(np.rint(start[:, 1:] + t * np.cos(angle)[:, None]), 0, size - 1)
        colour = rng.uniform(0, 1, size=(n, 1, 3)).astype(np.float32)
        images[rows, ys.astype(int), xs.astype(int)] = colour
    for _ in range(num_speckles):  # distractor speckles: random half-filled 3x3 patches
        corner = rng.integers(0, size - 2, size=(n, 2))
        on = rng.random((n, 9)) < 0.5
        colour = rng.uniform(0, 1, size=(n, 3)).astype(np.float32)
        for cell in range(9):
            idx = np.flatnonzero(on[:, cell])
            dy, dx = divmod(cell, 3)
            images[idx, corner[idx, 0] + dy, corner[idx, 1] + dx] = colour[idx]

    radius = rng.uniform(min_radius, max_radius, size=n) * size
    centre = rng.uniform(radius[:, None], size - 1 - radius[:, None], size=(n, 2))
    theta = rng.uniform(0, 2 * np.pi, size=n) if rotate else np.zeros(n)
    grid = np.arange(size, dtype=np.float32)
    object_masks = np.zeros((n, size, size), dtype=bool)
    for k in range(num_classes):
        idx = np.flatnonzero(labels == k)
        r = radius[idx, None, None].astype(np.float32)
        dy = (grid[None, :, None] - centre[idx, 0, None, None].astype(np.float32)) / r
        dx = (grid[None, None, :] - centre[idx, 1, None, None].astype(np.float32)) / r
        cos = np.cos(theta[idx])[:, None, None].astype(np.float32)
        sin = np.sin(theta[idx])[:, None, None].astype(np.float32)
        object_masks[idx] = _shape_mask(SHAPE_NAMES[k], cos * dx + sin * dy, cos * dy - sin * dx)
    colours = _contrasting_colours(rng, base).astype(np.float32)
    images = np.where(object_masks[..., None], colours[:, None, None, :], images)

    images += noise * rng.standard_normal(size=images.shape, dtype=np.float32)
    np.clip(images, 0.0, 1.0, out=images)
    return ShapesData(images.astype(np.float32, copy=False), labels, object_masks)


def small_cnn(
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 4,
    *,
    seed: int | None = None,
) -> keras.Model:
    """A small functional CNN (about 36k parameters) that outputs logits.

    Two blocks of two 3x3 conv + BatchNorm + ReLU layers, each followed by 2x2 max pooling; a
    last 3x3 ReLU convolution named ``"last_conv"`` (for CAM methods); global max pooling
    (it learns "find the shape" much faster than average pooling here); a dense layer of
    ``num_classes`` logits.

    Args:
        input_shape: ``(H, W, C)`` of the images.
        num_classes: Number of output logits.
        seed: Seeds the kernel initialisers (layer ``i`` uses ``seed + i``); None = unseeded.

    Returns:
        An uncompiled ``keras.Model`` named ``"shapes_cnn"``.
    """
    if len(tuple(input_shape)) != 3:
        raise ValueError(f"Expected input_shape (H, W, C). Received: {input_shape!r}")
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"Expected num_classes >= 2. Received: {num_classes!r}")

    def init(i):
        return keras.initializers.GlorotUniform(seed=None if seed is None else seed + i)

    layers = keras.layers
    x = inputs = keras.Input(tuple(input_shape), name="image")
    for i, name in enumerate(["conv1a", "conv1b", "conv2a", "conv2b"]):
        x = layers.Conv2D(16 * int(name[4]), 3, padding="same", use_bias=False,
                          kernel_initializer=init(i), name=name)(x)
        x = layers.ReLU(name=f"{name}_relu")(layers.BatchNormalization(name=f"{name}_bn")(x))
        if name.endswith("b"):
            x = layers.MaxPooling2D(2, name=f"pool{name[4]}")(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", kernel_initializer=init(4),
                      name="last_conv")(x)
    x = layers.GlobalMaxPooling2D(name="gmp")(x)
    logits = layers.Dense(num_classes, kernel_initializer=init(5), name="logits")(x)
    return keras.Model(inputs, logits, name="shapes_cnn")


def default_cache_dir() -> str:
    """``$KERAS_NEUROMASK_CACHE`` if set, else ``~/.cache/keras-neuromask``."""
    default = os.path.join(os.path.expanduser("~"), ".cache", "keras-neuromask")
    return os.environ.get("KERAS_NEUROMASK_CACHE") or default


def _cache_file(cache_dir: str, settings: dict) -> str:
    """File name with the version tag, the seed and a digest of every training setting."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    name = f"shapes_cnn-{CACHE_VERSION}-seed{settings['seed']}-{digest}.keras"
    return os.path.join(cache_dir, name)


def training_data_seeds(seed: int = 0, epochs: int = 10) -> list[int]:
    """The `make_shapes` seed of each training epoch of `trained_shapes_cnn` (``seed``, epoch).

    A held-out draw must use a seed outside this list (and its neighbours need not be avoided:
    `make_shapes` seeds a fresh generator, so seed ``s + 1`` shares nothing with ``s``).
    """
    return [int(np.random.SeedSequence([int(seed), epoch]).generate_state(1)[0])
            for epoch in range(int(epochs))]


def _train(settings: dict, verbose: int) -> keras.Model:
    """Trains `small_cnn` on fresh generated data every epoch (no image is seen twice)."""
    size, seed = settings["size"], settings["seed"]
    model = small_cnn((size, size, 3), settings["num_classes"], seed=seed)
    steps = settings["epochs"] * -(-settings["train_size"] // settings["batch_size"])
    schedule = keras.optimizers.schedules.CosineDecay(settings["learning_rate"], steps)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss, metrics=["accuracy"])
    for epoch, epoch_seed in enumerate(training_data_seeds(seed, settings["epochs"])):
        data = make_shapes(settings["train_size"], size=size, seed=epoch_seed,
                           num_classes=settings["num_classes"])
        history = model.fit(data.images, data.labels, batch_size=settings["batch_size"],
                            epochs=1, shuffle=False, verbose=verbose if verbose == 1 else 0)
        if verbose > 1:  # one line per epoch, for logs
            logs = {k: float(v[-1]) for k, v in history.history.items()}
            print(f"epoch {epoch + 1}/{settings['epochs']}: loss {logs['loss']:.4f}, "
                  f"accuracy {logs['accuracy']:.4f}", flush=True)
    return model


def shapes_accuracy(model, data: ShapesData, *, batch_size: int = 500) -> float:
    """The share of ``data``'s images whose argmax output is their label.

    The model is called directly, ``model(x, training=False)`` on ``batch_size`` images at a
    time, not through ``predict``: no progress bar and no traced function.

    Args:
        model: A classifier of ``data``'s images (logits or probabilities).
        data: A `ShapesData` from `make_shapes`.
        batch_size: Images per call.

    Returns:
        The accuracy in [0, 1].

    Example:
        >>> shapes_accuracy(shipped_shapes_cnn(), make_shapes(2000, seed=5))  # about 0.99
    """
    if not isinstance(data, ShapesData):
        raise TypeError(f"Expected a ShapesData (from make_shapes). Received: {type(data)}")
    if len(data.labels) == 0:
        raise ValueError("Expected at least one image. Received: an empty ShapesData")
    logits = predict_in_chunks(lambda part: model(part, training=False), data.images,
                               batch_size)
    return float(np.mean(logits.argmax(axis=1) == data.labels))


# The settings `trained_shapes_cnn` trained the shipped model with (its defaults).
SHIPPED_SETTINGS = dict(version=CACHE_VERSION, seed=0, size=32, num_classes=4, epochs=10,
                        train_size=8000, batch_size=32, learning_rate=2e-3)
SHIPPED_ACCURACY = 0.991  # held-out accuracy of the shipped model (see shipped_shapes_cnn)
HELD_OUT_SEED = 987_654  # the make_shapes seed of that measurement (2000 images)


def shipped_shapes_cnn() -> keras.Model:
    """The demo's CNN as shipped in the package: `small_cnn` trained with `SHIPPED_SETTINGS`.

    Provenance: ``python scripts/train_shapes_cnn.py`` (seed 0: `SHIPPED_SETTINGS`, 10
    epochs of 8000 fresh images, the seeds of `training_data_seeds(0, 10)`), 2026-12-03,
    TensorFlow 2.21.0, Keras 3.15.1, 140 s on 2 x86-64 CPU cores. Held-out accuracy 0.9910
    (`SHIPPED_ACCURACY`) on ``make_shapes(2000, seed=987654)`` (`HELD_OUT_SEED`, no
    training seed). 205 KiB.

    The file is ``keras_neuromask/evaluation/data/shapes_cnn.keras`` (architecture and
    weights, no optimizer state, only built-in layers: no Lambda), package data loaded with
    ``safe_mode=True``; nothing is downloaded. Retrain it with the same recipe
    (`trained_shapes_cnn` with ``use_shipped=False``) by
    ``python scripts/train_shapes_cnn.py``.

    Returns:
        A fresh, uncompiled copy of the model (logits output, last conv layer
        ``"last_conv"``) on every call.
    """
    from importlib import resources

    data = resources.files("keras_neuromask.evaluation").joinpath("data", SHIPPED_FILE)
    with resources.as_file(data) as path:
        if not path.exists():
            raise FileNotFoundError(
                f"Expected the shipped model at {path} (package data of keras-neuromask). "
                "Received: no such file; reinstall the package or run "
                "scripts/train_shapes_cnn.py")
        return keras.saving.load_model(path, compile=False, safe_mode=True)


def trained_shapes_cnn(
    cache_dir: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    size: int = 32,
    num_classes: int = 4,
    epochs: int = 10,
    train_size: int = 8000,
    batch_size: int = 32,
    learning_rate: float = 2e-3,
    verbose: int = 0,
    use_shipped: bool = True,
) -> keras.Model:
    """`small_cnn` trained on `make_shapes` data: the shipped model, or trained and cached.

    With the defaults (`SHIPPED_SETTINGS`) and ``use_shipped=True`` this is
    `shipped_shapes_cnn()`: no training, no cache. Any other setting, or
    ``use_shipped=False``, trains with the recipe below and caches the result on disk.

    Training: ``epochs`` epochs of ``train_size`` freshly generated images each (seeds derived
    from ``seed``), Adam with a cosine-decayed learning rate, cross-entropy on logits. With
    the defaults it reaches `SHIPPED_ACCURACY` held-out accuracy for about 100 CPU-seconds
    of training (one to four minutes on 2 CPU cores, depending on their load).
    Kernel initialisers and data are seeded, so repeated training gives the same model up to
    TensorFlow's CPU kernels. Nothing is ever downloaded.

    The file name holds `CACHE_VERSION`, the seed and a digest of every setting, so a cached
    model is only reused for identical settings; it is written atomically (temporary file,
    then rename) and loaded with ``safe_mode=True``. An unreadable cache file is retrained.

    Args:
        cache_dir: Folder of the cache; None = `default_cache_dir()`.
        seed: Seeds the initialisers and the training data.
        size: Image size (``size x size x 3``).
        num_classes: Number of shape classes (2 to 5).
        epochs: Training epochs, each on new data.
        train_size: Images per epoch.
        batch_size: Training batch size.
        learning_rate: Initial Adam learning rate (cosine decay to 0).
        verbose: 0 silent; 1 Keras ``fit`` progress bars (for a terminal); 2 one line per
            epoch (for logs). > 0 also prints where the model comes from.
        use_shipped: Return the shipped model when the settings are `SHIPPED_SETTINGS`;
            False always goes through the cache (training on a miss).

    Returns:
        The trained classifier (uncompiled, logits output, last conv layer ``"last_conv"``),
        always as loaded from its file (shipped or cached) with ``safe_mode=True``.

    Example:
        >>> model = trained_shapes_cnn()  # the shipped model, < 1 s
        >>> other = trained_shapes_cnn(seed=1)  # trained (minutes) the first time, then cached
    """
    settings = dict(version=CACHE_VERSION, seed=int(seed), size=int(size),
                    num_classes=int(num_classes), epochs=int(epochs), train_size=int(train_size),
                    batch_size=int(batch_size), learning_rate=float(learning_rate))
    if use_shipped and settings == SHIPPED_SETTINGS:
        if verbose:
            print(f"Loading the shipped model (package data {SHIPPED_FILE}).", flush=True)
        return shipped_shapes_cnn()
    cache_dir = os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()
    path = _cache_file(cache_dir, settings)
    if os.path.exists(path):
        try:
            return keras.models.load_model(path, compile=False, safe_mode=True)
        except Exception as error:  # a damaged file: train again and replace it
            if verbose:
                print(f"Could not load {path} ({error}); training again.")
    start = time.perf_counter()
    model = _train(settings, verbose)
    os.makedirs(cache_dir, exist_ok=True)
    tmp = f"{path[:-len('.keras')]}.tmp{os.getpid()}.keras"
    model.save(tmp)
    os.replace(tmp, path)
    if verbose:
        print(f"Trained in {time.perf_counter() - start:.1f} s; cached at {path}", flush=True)
    return keras.models.load_model(path, compile=False, safe_mode=True)
