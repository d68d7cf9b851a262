"""A real-photo localisation benchmark: real objects cut from shipped photos, pasted onto other
real scenes and textures, with the pasted pixels as ground truth.

The photos are the sample images that Python packages ship (nothing is downloaded):
scikit-image's ``skimage.data`` (chelsea, coffee, astronaut, stereo_motorcycle, rocket, the
brick, grass and gravel textures, ...), matplotlib's ``grace_hopper.jpg`` and scikit-learn's
``load_sample_images`` (china, flower). scikit-image and scikit-learn come with the
``benchmark`` extra (``pip install keras-neuromask[benchmark]``), never with the core package.

Each object is one hand-drawn shape (an ellipse or a polygon) in coordinates normalised to
its photo's width and height, drawn by looking at the photo with a 10% grid over it and
following the object's outline at that precision (see :data:`OBJECTS`). A composite pastes one
object (hard edges, so the ground truth is exactly the pasted pixels), scaled so that its
longer side is a random share of the image side and placed at a random position, onto a random
square crop of a background region that holds none of the objects. Everything is seeded:
candidate ``i`` is drawn from ``SeedSequence([seed, i])`` alone.

:func:`make_photo_composites` keeps a candidate only where the classifier ranks one of the
object's ImageNet classes in its top ``top_k`` (5 by default), and explains that class (the
best-ranked of them): the ground truth is then the evidence for the explained class.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw

# The photos of the natural-photo report, in its order.
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "motorcycle", "grace_hopper", "china",
          "flower")


class PhotoObject(NamedTuple):
    """An object to cut from a photo."""

    name: str
    photo: str  # key of load_sample_photos()
    classes: tuple[int, ...]  # the ImageNet-1k classes that name it
    shape: str  # "ellipse" or "polygon"
    points: tuple  # ellipse: (cx, cy, rx, ry); polygon: ((x, y), ...); x, y in [0, 1]


class Background(NamedTuple):
    """A region of a photo that holds none of the objects."""

    name: str
    photo: str
    box: tuple[float, float, float, float]  # (left, top, right, bottom), normalised


class PhotoComposites(NamedTuple):
    """The benchmark's images and their ground truth."""

    images: np.ndarray  # float32 (N, size, size, 3), RGB in [0, 255]
    targets: np.ndarray  # int64 (N,), the class to explain
    object_masks: np.ndarray  # bool (N, size, size), the pasted pixels
    objects: tuple[str, ...]  # the object pasted into each image
    backgrounds: tuple[str, ...]  # the background of each image
    ranks: np.ndarray  # int64 (N,), the target's rank in the classifier's scores (0 = top 1)


# Shapes drawn over each photo with a 10% grid; the classes are the ImageNet-1k classes that
# name the object (EfficientNet-Lite1's top 5 on the object pasted on grey held them).
OBJECTS: tuple[PhotoObject, ...] = (
    PhotoObject("cat", "chelsea", (285, 281, 282, 283, 284), "ellipse",
                (0.5, 0.5, 0.46, 0.56)),  # the face fills the photo; the ellipse trims corners
    PhotoObject("espresso", "coffee", (967, 968, 504), "ellipse",
                (0.465, 0.575, 0.345, 0.415)),  # cup and saucer
    PhotoObject("motorcycle", "motorcycle", (665, 670), "polygon",
                ((0.16, 0.5), (0.2, 0.32), (0.45, 0.33), (0.55, 0.28), (0.62, 0.2),
                 (0.72, 0.2), (0.8, 0.24), (0.78, 0.36), (0.86, 0.5), (0.93, 0.7),
                 (0.9, 0.9), (0.8, 0.9), (0.72, 0.75), (0.5, 0.75), (0.47, 0.88),
                 (0.42, 0.88), (0.4, 0.75), (0.3, 0.72), (0.22, 0.8), (0.17, 0.75))),
    PhotoObject("pagoda", "china", (698, 663, 483, 442, 832), "polygon",
                ((0.31, 0.05), (0.33, 0.05), (0.34, 0.13), (0.5, 0.27), (0.45, 0.32),
                 (0.5, 0.4), (0.5, 0.55), (0.54, 0.6), (0.51, 0.7), (0.56, 0.8), (0.56, 0.9),
                 (0.14, 0.9), (0.14, 0.8), (0.1, 0.62), (0.14, 0.55), (0.14, 0.4),
                 (0.18, 0.3), (0.15, 0.27), (0.3, 0.13))),
    PhotoObject("space shuttle", "astronaut", (812,), "polygon",
                ((0.77, 0.0), (0.84, 0.0), (0.86, 0.1), (0.88, 0.1), (0.89, 0.4), (0.9, 0.45),
                 (0.88, 0.52), (0.8, 0.52), (0.74, 0.54), (0.72, 0.48), (0.7, 0.42),
                 (0.73, 0.22), (0.76, 0.15), (0.77, 0.08))),  # the model behind the astronaut
    PhotoObject("helmet", "astronaut", (518, 560), "ellipse",
                (0.78, 0.88, 0.24, 0.2)),  # her helmet, cut by the photo's corner
    PhotoObject("uniform", "grace_hopper", (652,), "polygon",
                ((0.3, 0.07), (0.5, 0.03), (0.7, 0.1), (0.73, 0.2), (0.7, 0.5), (0.9, 0.6),
                 (0.97, 0.75), (0.98, 1.0), (0.02, 1.0), (0.05, 0.7), (0.15, 0.62),
                 (0.33, 0.52), (0.3, 0.3))),  # Grace Hopper in her navy uniform
)

BACKGROUNDS: tuple[Background, ...] = (
    Background("brick", "brick", (0.0, 0.0, 1.0, 1.0)),
    Background("grass", "grass", (0.0, 0.0, 1.0, 1.0)),
    Background("gravel", "gravel", (0.0, 0.0, 1.0, 1.0)),
    Background("moon", "moon", (0.0, 0.0, 1.0, 1.0)),
    Background("hubble deep field", "hubble_deep_field", (0.0, 0.0, 1.0, 1.0)),
    Background("tissue", "immunohistochemistry", (0.0, 0.0, 1.0, 1.0)),
    Background("lake and sky", "china", (0.56, 0.0, 1.0, 0.6)),
    Background("trees", "china", (0.55, 0.62, 1.0, 1.0)),
    Background("night launch pad", "rocket", (0.0, 0.0, 0.44, 1.0)),
    Background("leaves", "flower", (0.0, 0.0, 0.26, 1.0)),
)


def _rgb(array) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype == bool or array.dtype.kind == "f":
        array = np.rint(np.clip(array.astype(np.float64), 0, 1) * 255)
    array = array.astype(np.uint8)
    return np.repeat(array[..., None], 3, axis=-1) if array.ndim == 2 else array[..., :3]


@functools.lru_cache(maxsize=1)
def load_sample_photos() -> dict[str, np.ndarray]:
    """Every sample photo that is installed, by name, as uint8 RGB ``(h, w, 3)``.

    Grey textures become grey RGB. A missing package leaves its photos out (scikit-image and
    scikit-learn come with the ``benchmark`` extra; matplotlib's photo is always there).
    """
    import matplotlib.cbook

    photos = {}
    try:
        from skimage import data

        for name in ("chelsea", "coffee", "astronaut", "rocket", "brick", "grass", "gravel",
                     "moon", "hubble_deep_field", "immunohistochemistry"):
            photos[name] = _rgb(getattr(data, name)())
        photos["motorcycle"] = _rgb(data.stereo_motorcycle()[0])
    except ImportError:
        pass
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        photos["grace_hopper"] = np.asarray(Image.open(file).convert("RGB"))
    try:
        from sklearn.datasets import load_sample_images

        photos["china"], photos["flower"] = (_rgb(a) for a in load_sample_images().images)
    except ImportError:
        pass
    return photos


def square_photos(size: int = 240, names=PHOTOS) -> tuple[list[str], np.ndarray]:
    """The named photos that are installed, centre-cropped to a square and resized (Lanczos).

    Returns:
        ``(names, images)``: the names found and float32 ``(n, size, size, 3)`` in [0, 255].
    """
    photos = load_sample_photos()
    found = [name for name in names if name in photos]
    images = []
    for name in found:
        photo = photos[name]
        side = min(photo.shape[:2])
        top, left = (photo.shape[0] - side) // 2, (photo.shape[1] - side) // 2
        square = Image.fromarray(photo[top:top + side, left:left + side])
        images.append(np.asarray(square.resize((size, size), Image.LANCZOS), np.float32))
    return found, np.stack(images) if images else np.zeros((0, size, size, 3), np.float32)


def cut_out(photo: np.ndarray, item: PhotoObject) -> tuple[np.ndarray, np.ndarray]:
    """The object's pixels and shape, cropped to the shape's bounding box.

    Returns:
        ``(pixels, mask)``: uint8 ``(h, w, 3)`` and bool ``(h, w)``.
    """
    height, width = photo.shape[:2]
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    if item.shape == "ellipse":
        cx, cy, rx, ry = item.points
        draw.ellipse([(cx - rx) * width, (cy - ry) * height, (cx + rx) * width,
                      (cy + ry) * height], fill=1)
    elif item.shape == "polygon":
        draw.polygon([(x * width, y * height) for x, y in item.points], fill=1)
    else:
        raise ValueError(f"Expected shape 'ellipse' or 'polygon'. Received: {item.shape!r}")
    mask = np.asarray(canvas) > 0
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        raise ValueError(f"Expected a shape with pixels inside the photo. Received: {item}")
    crop = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    return photo[crop], mask[crop]


def _background(rng, photo: np.ndarray, box, size: int) -> np.ndarray:
    """A random square crop (60-100% of the region's shorter side) of the region, resized."""
    height, width = photo.shape[:2]
    left, top = int(box[0] * width), int(box[1] * height)
    right, bottom = int(box[2] * width), int(box[3] * height)
    side = max(1, int(rng.uniform(0.6, 1.0) * min(right - left, bottom - top)))
    y = top + int(rng.integers(0, bottom - top - side + 1))
    x = left + int(rng.integers(0, right - left - side + 1))
    square = photo[y:y + side, x:x + side]
    square = square[:, ::-1] if rng.random() < 0.5 else square
    return np.asarray(Image.fromarray(np.ascontiguousarray(square)).resize(
        (size, size), Image.LANCZOS), np.float32)


def draw_composite(index: int, *, size: int = 240, seed: int = 0, objects=OBJECTS,
                   backgrounds=BACKGROUNDS, min_scale: float = 0.4, max_scale: float = 0.75,
                   photos=None) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Candidate ``index`` of the seeded stream: one object pasted on one background.

    Object ``index % len(objects)`` (round robin), a background drawn at random; the object,
    mirrored with probability 1/2, is resized (Lanczos; its mask nearest-neighbour) so that
    its longer side is ``U(min_scale, max_scale) * size``, and pasted with hard edges at a
    uniformly random position where it fits.

    Args:
        index: position in the stream (>= 0).
        size: side of the square image in pixels.
        seed: seed of the stream.
        objects, backgrounds: the catalogues.
        min_scale, max_scale: range of the object's longer side, as a share of ``size``.
        photos: name -> uint8 RGB photo (None: :func:`load_sample_photos`).

    Returns:
        ``(image float32 (size, size, 3) in [0, 255], mask bool (size, size), object index,
        background index)``.
    """
    if not 0 < min_scale <= max_scale <= 1:
        raise ValueError("Expected 0 < min_scale <= max_scale <= 1. Received: "
                         f"min_scale={min_scale!r}, max_scale={max_scale!r}")
    photos = load_sample_photos() if photos is None else photos
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))
    which = int(index) % len(objects)
    item = objects[which]
    place = int(rng.integers(len(backgrounds)))
    image = _background(rng, photos[backgrounds[place].photo], backgrounds[place].box, size)
    pixels, shape = cut_out(photos[item.photo], item)
    if rng.random() < 0.5:
        pixels, shape = pixels[:, ::-1], shape[:, ::-1]
    scale = rng.uniform(min_scale, max_scale) * size / max(shape.shape)
    height = min(size, max(1, round(shape.shape[0] * scale)))
    width = min(size, max(1, round(shape.shape[1] * scale)))
    pixels = np.asarray(Image.fromarray(np.ascontiguousarray(pixels)).resize(
        (width, height), Image.LANCZOS), np.float32)
    shape = np.asarray(Image.fromarray(np.ascontiguousarray(shape)).resize(
        (width, height), Image.NEAREST), bool)
    y, x = int(rng.integers(0, size - height + 1)), int(rng.integers(0, size - width + 1))
    mask = np.zeros((size, size), bool)
    mask[y:y + height, x:x + width] = shape
    image[y:y + height, x:x + width][shape] = pixels[shape]
    return image, mask, which, place


def make_photo_composites(model, count: int, *, size: int = 240, seed: int = 0,
                          top_k: int = 5, objects=OBJECTS, backgrounds=BACKGROUNDS,
                          min_scale: float = 0.4, max_scale: float = 0.75, preprocess=None,
                          max_candidates: int | None = None, batch_size: int = 16,
                          photos=None) -> PhotoComposites:
    """The first ``count`` candidates of the seeded stream that ``model`` recognises.

    A candidate is kept when one of its object's classes is among the ``top_k`` highest of
    the model's scores; its target is the best-ranked of them. Candidates are drawn and
    scored ``batch_size`` at a time, in stream order, so the result depends only on the
    arguments (and the model), not on how it was batched.

    Args:
        model: classifier: ``(B, size, size, 3)`` RGB in [0, 255] (after ``preprocess``) ->
            ``(B, classes)`` logits or probabilities (only their order matters).
        count: composites to keep (>= 1).
        size, seed, objects, backgrounds, min_scale, max_scale, photos: as for
            :func:`draw_composite`.
        top_k: how high the object's class must rank.
        preprocess: optional function applied to a batch before the model.
        max_candidates: candidates to try before giving up (None: ``20 * count``).
        batch_size: candidates per model call.

    Returns:
        A :class:`PhotoComposites` of ``count`` images.

    Raises:
        ValueError: fewer than ``count`` candidates were recognised.

    Example:
        >>> data = make_photo_composites(model, 60, seed=0)   # model: 240x240, [0, 255]
        >>> data.images.shape, data.object_masks.shape
        ((60, 240, 240, 3), (60, 240, 240))
    """
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"Expected count as an int >= 1. Received: {count!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"Expected top_k as an int >= 1. Received: {top_k!r}")
    photos = load_sample_photos() if photos is None else photos
    needed = {item.photo for item in objects} | {place.photo for place in backgrounds}
    missing = sorted(needed - set(photos))
    if missing:
        raise ValueError(f"Expected the sample photos {missing} (pip install "
                         f"'keras-neuromask[benchmark]'). Received: only {sorted(photos)}")
    limit = 20 * int(count) if max_candidates is None else int(max_candidates)
    kept: list = []
    index = 0
    while len(kept) < count and index < limit:
        drawn = [draw_composite(i, size=size, seed=seed, objects=objects,
                                backgrounds=backgrounds, min_scale=min_scale,
                                max_scale=max_scale, photos=photos)
                 for i in range(index, min(index + batch_size, limit))]
        index += len(drawn)
        batch = np.stack([image for image, *_ in drawn])
        scores = np.asarray(model(batch if preprocess is None else preprocess(batch)))
        order = np.argsort(-scores, axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(scores.shape[1])[None, :], axis=1)
        for row, (image, mask, which, place) in enumerate(drawn):
            classes = np.asarray(objects[which].classes)
            best = int(np.argmin(rank[row, classes]))
            if rank[row, classes[best]] < top_k and len(kept) < count:
                kept.append((image, mask, classes[best], rank[row, classes[best]],
                             objects[which].name, backgrounds[place].name))
    if len(kept) < count:
        raise ValueError(f"Expected {count} composites the model recognises (top {top_k}). "
                         f"Received: {len(kept)} of {index} candidates")
    images, masks, targets, ranks, names, places = zip(*kept)
    return PhotoComposites(np.stack(images).astype(np.float32), np.asarray(targets, np.int64),
                           np.stack(masks), tuple(names), tuple(places),
                           np.asarray(ranks, np.int64))


__all__ = ["PhotoObject", "Background", "PhotoComposites", "OBJECTS", "BACKGROUNDS", "PHOTOS",
           "load_sample_photos", "square_photos", "cut_out", "draw_composite",
           "make_photo_composites"]
