"""The real-photo localisation benchmark: ground truth is exactly the pasted pixels, the stream
is deterministic by seed, and only what the classifier recognises is kept."""

import numpy as np
import pytest
from conftest import small_cnn

from keras_neuromask.evaluation.photo_composites import (
    BACKGROUNDS,
    OBJECTS,
    Background,
    PhotoObject,
    cut_out,
    draw_composite,
    load_sample_photos,
    make_photo_composites,
    square_photos,
)

# Synthetic photos (no extra package): a red disc on white, a blue square on black, textures.
SQUARE = np.zeros((40, 60, 3), np.uint8)
SQUARE[10:30, 20:40] = (0, 0, 255)
DISC = np.full((50, 50, 3), 255, np.uint8)
yy, xx = np.mgrid[:50, :50]
DISC[(yy - 25) ** 2 + (xx - 25) ** 2 <= 15**2] = (255, 0, 0)
PHOTOS = {"square": SQUARE, "disc": DISC,
          "noise": np.random.default_rng(0).integers(0, 255, (80, 80, 3), np.uint8),
          "grey": np.full((30, 90, 3), 128, np.uint8)}
TOY_OBJECTS = (PhotoObject("square", "square", (0,), "polygon",
                           ((0.35, 0.27), (0.65, 0.27), (0.65, 0.72), (0.35, 0.72))),
               PhotoObject("disc", "disc", (1, 2), "ellipse", (0.5, 0.5, 0.26, 0.26)))
TOY_BACKGROUNDS = (Background("noise", "noise", (0, 0, 1, 1)),
                   Background("grey", "grey", (0.5, 0, 1, 1)))


def draw(index, seed=0, size=32):
    return draw_composite(index, size=size, seed=seed, objects=TOY_OBJECTS,
                          backgrounds=TOY_BACKGROUNDS, photos=PHOTOS)


def test_cut_out_keeps_the_shape_cropped_to_its_bounding_box():
    pixels, mask = cut_out(SQUARE, TOY_OBJECTS[0])
    assert pixels.shape[:2] == mask.shape and mask.all()  # the polygon is the blue square
    assert np.all(pixels == (0, 0, 255))
    pixels, mask = cut_out(DISC, TOY_OBJECTS[1])
    assert abs(mask.mean() - np.pi / 4) < 0.05  # a disc fills pi/4 of its box
    assert np.all(pixels[mask] == (255, 0, 0))


def test_ground_truth_is_exactly_the_pasted_object():
    for index in range(6):
        image, mask, which, place = draw(index)
        assert which == index % 2 and mask.any() and not mask.all()
        colour = (0, 0, 255) if which == 0 else (255, 0, 0)
        inner = mask.copy()  # the square's cut is all blue: every pasted pixel is blue
        for _ in range(0 if which == 0 else 3):  # the disc's box has white corners: erode
            inner &= np.roll(inner, 1, 0) & np.roll(inner, -1, 0) & np.roll(inner, 1, 1) \
                & np.roll(inner, -1, 1)
        assert inner.any()
        np.testing.assert_allclose(image[inner], np.broadcast_to(colour, image[inner].shape),
                                   atol=1.0)
        if TOY_BACKGROUNDS[place].name == "grey":
            np.testing.assert_array_equal(image[~mask], 128)
        longer = max(np.ptp(np.flatnonzero(mask.any(1))), np.ptp(np.flatnonzero(mask.any(0))))
        assert 0.4 * 32 - 2 <= longer + 1 <= 0.75 * 32 + 1


def test_the_stream_is_deterministic_by_seed_and_independent_of_batching():
    a, b, c = draw(3), draw(3), draw(3, seed=1)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_make_photo_composites_keeps_what_the_classifier_ranks_high_and_explains_it():
    model = small_cnn(size=32, classes=4, seed=0)
    kwargs = dict(size=32, seed=0, objects=TOY_OBJECTS, backgrounds=TOY_BACKGROUNDS,
                  photos=PHOTOS, top_k=2)
    data = make_photo_composites(model, 6, batch_size=4, **kwargs)
    again = make_photo_composites(model, 6, batch_size=5, **kwargs)
    np.testing.assert_array_equal(data.images, again.images)
    np.testing.assert_array_equal(data.targets, again.targets)
    assert data.images.shape == (6, 32, 32, 3) and data.object_masks.shape == (6, 32, 32)
    scores = np.asarray(model(data.images))
    for i, name in enumerate(data.objects):
        classes = {"square": (0,), "disc": (1, 2)}[name]
        assert data.targets[i] in classes
        rank = int((scores[i] > scores[i, data.targets[i]]).sum())
        assert rank == data.ranks[i] < 2
        assert all(rank <= (scores[i] > scores[i, c]).sum() for c in classes)  # the best one
    # Candidates that the model does not rank in the top 2 were skipped, in stream order.
    kept = [draw(i)[0] for i in range(40)]
    first = next(i for i, image in enumerate(kept) if np.array_equal(image, data.images[0]))
    for skipped in kept[:first]:
        assert not np.array_equal(skipped, data.images[0])


def test_make_photo_composites_says_when_too_few_are_recognised():
    model = small_cnn(size=32, classes=4, seed=0)
    never = (PhotoObject("square", "square", (3,), "polygon", TOY_OBJECTS[0].points),)
    data = make_photo_composites(model, 1, size=32, objects=never, backgrounds=TOY_BACKGROUNDS,
                                 photos=PHOTOS, top_k=4, max_candidates=3)
    assert data.targets.tolist() == [3]  # top 4 of 4 classes: always recognised
    with pytest.raises(ValueError, match="recognises"):
        make_photo_composites(lambda x: np.tile([[9.0, 0, 0, -9.0]], (len(x), 1)), 2,
                              size=32, objects=never, backgrounds=TOY_BACKGROUNDS,
                              photos=PHOTOS, top_k=1, max_candidates=8)
    with pytest.raises(ValueError, match="benchmark"):
        make_photo_composites(model, 1, size=32, photos={"square": SQUARE})


def test_the_shipped_catalogue_cuts_real_objects_from_the_installed_photos():
    pytest.importorskip("skimage")
    pytest.importorskip("sklearn")
    photos = load_sample_photos()
    assert {o.photo for o in OBJECTS} | {b.photo for b in BACKGROUNDS} <= set(photos)
    for item in OBJECTS:
        pixels, mask = cut_out(photos[item.photo], item)
        assert 0.5 < mask.mean() <= 1.0 and min(mask.shape) >= 60, item.name
        assert all(0 <= c < 1000 for c in item.classes)
    image, mask, _, _ = draw_composite(0, size=64, seed=0)
    assert image.shape == (64, 64, 3) and 0 <= image.min() and image.max() <= 255
    assert 0.02 < mask.mean() < 0.6
    names, squares = square_photos(48)
    assert names[:2] == ["chelsea", "coffee"] and squares.shape == (len(names), 48, 48, 3)
