"""Property tests (hypothesis) over shapes, dtypes, values, targets and settings.

The property, for every public entry point tried: the answer is either valid (finite masks in
[0, 1] of the right shape, int64 targets and steps, probabilities in [0, 1]) or a
``ValueError``/``TypeError`` whose message starts with "Expected" -- never a TensorFlow
internal error. Where the validity of an input is easy to state, the test states it too, so
a valid input that is refused (or a bad one that is accepted) fails.

Kept fast: tiny models built once per module, 2 optimisation steps, few examples,
``derandomize=True`` (the same examples on every run) and no example database on disk.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from keras_neuromask import NeuroMask, metrics
from keras_neuromask.presets import PRESETS

CLASSES, SIZE, STEPS = 3, 8, 2
_BASE = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                 suppress_health_check=[HealthCheck.too_slow])


def fast(examples: int) -> settings:
    """Few examples, no deadline, the same examples every run."""
    return settings(_BASE, max_examples=examples)


def free_size_classifier():
    """Any (H, W), three channels: conv, global average, dense logits."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 3))
    hidden = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(hidden)
    return keras.Model(inputs, keras.layers.Dense(CLASSES)(pooled))


@pytest.fixture(scope="module")
def classifier():
    return free_size_classifier()


@pytest.fixture(scope="module")
def explainer(classifier):
    return NeuroMask(classifier, steps=STEPS)


def outcome(call):
    """``("ok", result)`` or ``("refused", error)``; anything else fails the property."""
    try:
        result = call()
        event("valid")  # --hypothesis-show-statistics shows how many were valid
        return "ok", result
    except (ValueError, TypeError) as error:
        event(f"refused: {type(error).__name__}")
        assert str(error).startswith("Expected"), f"unclear {type(error).__name__}: {error}"
        assert not isinstance(error, tf.errors.OpError), repr(error)
        return "refused", error
    except FloatingPointError as error:  # the documented NaN-loss report
        assert str(error).startswith("Expected a finite loss"), str(error)
        return "refused", error


def assert_valid(result, count, height, width):
    assert result.masks.shape == (count, height, width) and result.masks.dtype == np.float32
    assert np.isfinite(result.masks).all()
    assert result.masks.min() >= 0 and result.masks.max() <= 1
    assert result.targets.shape == (count,) and result.targets.dtype == np.int64
    assert ((0 <= result.targets) & (result.targets < CLASSES)).all()
    assert result.steps.shape == (count,) and result.steps.dtype == np.int64
    for probability in (result.original_probability, result.masked_probability):
        assert probability.shape == (count,) and np.isfinite(probability).all()
        assert ((0 <= probability) & (probability <= 1)).all()


# ------------------------------------------------------------------------------- shapes
shapes = st.one_of(
    st.tuples(st.integers(1, 3), st.integers(1, 7), st.integers(1, 7), st.just(3)),  # valid
    st.lists(st.integers(0, 5), min_size=0, max_size=5).map(tuple),  # mostly invalid
)


@fast(8)
@given(shape=shapes)
def test_any_image_shape_gives_valid_masks_or_an_expected_error(explainer, shape):
    images = np.random.default_rng(0).uniform(size=shape).astype(np.float32)
    kind, result = outcome(lambda: explainer.explain(images))
    batch = (1, *shape) if len(shape) == 3 else shape
    should_work = len(batch) == 4 and min(batch[:3], default=0) >= 1 and batch[3] == 3
    assert (kind == "ok") == should_work, (shape, result)
    if kind == "ok":
        assert_valid(result, *batch[:3])


# ----------------------------------------------------------------------- dtypes, values
DTYPES = [np.uint8, np.uint16, np.int8, np.int32, np.int64, np.float16, np.float32,
          np.float64, np.bool_]
SHAPE = (2, SIZE, SIZE, 3)


@st.composite
def pixel_arrays(draw):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    if dtype.kind == "f":
        finite = st.floats(-1e4, 1e4, width=8 * min(dtype.itemsize, 4))
        special = st.sampled_from([np.nan, np.inf, -np.inf]
                                  + ([1e300, -1e300] if dtype.itemsize == 8 else []))
        elements = st.one_of(finite, finite, finite, special)
    else:
        elements = None  # the dtype's whole range
    array = draw(hnp.arrays(dtype, SHAPE, elements=elements, fill=elements))
    return array


@fast(25)
@given(images=pixel_arrays())
def test_any_dtype_and_values_give_valid_masks_or_an_expected_error(explainer, images):
    kind, result = outcome(lambda: explainer.explain(images))
    with np.errstate(invalid="ignore", over="ignore"):
        representable = np.all(np.isfinite(images.astype(np.float64))) and np.all(
            np.abs(images.astype(np.float64)) <= np.finfo(np.float32).max)
    assert (kind == "ok") == representable, (images.dtype, result)
    if kind == "ok":
        assert_valid(result, *SHAPE[:3])


@fast(4)
@given(dtype=st.sampled_from([np.complex64, np.str_, np.object_, np.datetime64]))
def test_non_real_dtypes_are_a_type_error(explainer, dtype):
    images = np.zeros(SHAPE).astype(dtype) if dtype is not np.datetime64 else np.zeros(
        SHAPE, "datetime64[s]")
    kind, error = outcome(lambda: explainer.explain(images))
    assert kind == "refused" and isinstance(error, TypeError), error


# ------------------------------------------------------------------------------ targets
def integral(value):
    return (isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
            ) or (isinstance(value, float) and np.isfinite(value) and value == int(value))


def expected_targets(targets, count=2):
    """The classes the explainer must use, or None when the targets must be refused."""
    if isinstance(targets, list):
        if len(targets) != count or not all(integral(t) for t in targets):
            return None
        values = [int(t) for t in targets]
    elif integral(targets):
        values = [int(targets)] * count
    else:
        return None
    return values if all(0 <= v < CLASSES for v in values) else None


scalars = st.one_of(st.integers(-3, 5), st.integers(-2 ** 70, 2 ** 70),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(
                        [0.0, 1.0, 2.0, 1.5]), st.booleans(), st.none(), st.text(max_size=2))
target_values = st.one_of(scalars.filter(lambda v: v is not None),
                          st.lists(scalars, min_size=0, max_size=3))


@fast(40)
@given(targets=target_values)
def test_any_targets_give_those_classes_or_an_expected_error(explainer, targets):
    images = np.random.default_rng(1).uniform(size=SHAPE).astype(np.float32)
    kind, result = outcome(lambda: explainer.explain(images, targets, steps=1))
    expected = expected_targets(targets)
    assert (kind == "ok") == (expected is not None), (targets, result)
    if kind == "ok":
        np.testing.assert_array_equal(result.targets, expected)
        assert np.isfinite(result.masks).all()


# ----------------------------------------------------------------------------- settings
def good_number(value, minimum_exclusive=True):
    """True: must be accepted; False: must be refused; None: either (underflows float32)."""
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return False
    if not minimum_exclusive:
        return value >= 0
    return None if 0 < value < 1e-30 else value > 0  # sigmoid(w / 0) is NaN: refuse or fail


def valid_grid(grid):
    if grid is None:
        return True
    grid = (grid, grid) if isinstance(grid, int) else grid
    return isinstance(grid, tuple) and len(grid) == 2 and all(
        isinstance(g, int) and g >= 1 for g in grid)


def valid_settings(options):
    """True / False: the constructor must accept / refuse ``options``; None: either."""
    steps = options["steps"]
    checks = [options["preset"] in PRESETS,
              steps is None or (isinstance(steps, int) and steps >= 1),
              good_number(options["learning_rate"]), good_number(options["temperature"]),
              good_number(options["sparsity_weight"], minimum_exclusive=False),
              valid_grid(options["mask_grid"]),
              options["baseline"] in (None, "zero", "blur", "mean", "noise")]
    if False in checks:
        return False
    return None if None in checks else True


positive = st.floats(0.01, 50)
# Left out here, tested on their own in test_robustness.py: int learning rates
# (test_an_int_learning_rate_works_like_a_float), float and bool mask grids
# (test_invalid_mask_grid_is_a_value_error), infinite learning rates
# (test_bad_settings_are_refused_at_construction).
good = st.fixed_dictionaries({
    "preset": st.sampled_from(sorted(PRESETS)), "steps": st.integers(1, 3),
    "learning_rate": st.one_of(st.none(), positive), "temperature": st.one_of(
        st.none(), positive, st.integers(1, 3)),
    "sparsity_weight": st.one_of(st.none(), st.floats(0, 5), st.integers(0, 2)),
    "mask_grid": st.one_of(st.none(), st.integers(1, 8),
                           st.tuples(st.integers(1, 8), st.integers(1, 8))),
    "baseline": st.one_of(st.none(), st.sampled_from(["zero", "blur", "mean", "noise"]))})
anything = st.fixed_dictionaries({
    "preset": st.one_of(st.sampled_from(sorted(PRESETS)), st.text(max_size=4)),
    "steps": st.one_of(st.none(), st.integers(-1, 3), st.floats(-1, 3), st.text(max_size=1)),
    "learning_rate": st.one_of(st.none(), st.floats(-1, 1e3), st.just(float("nan"))),
    "temperature": st.one_of(st.none(), st.floats(-1, 1e3), st.integers(-2, 3),
                             st.just(float("nan")), st.text(max_size=1)),
    "sparsity_weight": st.one_of(st.none(), st.floats(-1, 10), st.integers(-2, 2),
                                 st.just(float("nan"))),
    "mask_grid": st.one_of(st.none(), st.integers(-1, 10), st.text(max_size=1),
                           st.tuples(st.integers(-1, 10), st.integers(-1, 10)),
                           st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3))),
    "baseline": st.one_of(st.none(), st.sampled_from(["zero", "blur", "mean", "noise", "x"]))})


@fast(10)
@given(options=st.one_of(good, anything))
def test_any_settings_give_valid_masks_or_an_expected_error(classifier, options):
    images = np.random.default_rng(2).uniform(size=(1, 6, 6, 3)).astype(np.float32)

    def run():
        explainer = NeuroMask(classifier, **options)
        return explainer.explain(images, steps=None if options["steps"] is not None else STEPS)

    kind, result = outcome(run)
    expected = valid_settings(options)
    assert expected is None or (kind == "ok") == expected, (options, result)
    if kind == "ok":
        assert_valid(result, 1, 6, 6)


def test_the_explainer_after_any_bad_input_still_gives_a_fresh_explainers_answer(
        explainer, classifier):
    images = np.random.default_rng(3).uniform(size=SHAPE).astype(np.float32)
    for bad in (dict(images=images[..., :1]), dict(images=images * np.nan),
                dict(images=images, targets=[0, 9]), dict(images=images, steps=-1),
                dict(images=images[:0]), dict(images=images, targets="x")):
        with pytest.raises((ValueError, TypeError), match="^Expected"):
            explainer.explain(**bad)
    reused = explainer.explain(images)
    fresh = NeuroMask(classifier, steps=STEPS).explain(images)
    np.testing.assert_array_equal(reused.masks, fresh.masks)
    np.testing.assert_array_equal(reused.targets, fresh.targets)


# ------------------------------------------------------------------------------ metrics
@st.composite
def maps_and_objects(draw):
    shape = draw(st.one_of(st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)),
                           st.lists(st.integers(0, 4), max_size=4).map(tuple)))
    maps = draw(hnp.arrays(np.float64, shape, elements=st.one_of(
        st.floats(-10, 10), st.floats(-10, 10), st.sampled_from([np.nan, np.inf]))))
    objects = draw(hnp.arrays(np.int8, shape, elements=st.integers(0, 2)))
    return maps, objects


@fast(60)
@given(data=maps_and_objects(), tolerance=st.one_of(st.integers(-1, 3), st.floats(0, 2)))
def test_localisation_metrics_give_scores_in_0_1_or_an_expected_error(data, tolerance):
    maps, objects = data
    for name, call in (("pointing_game", lambda: metrics.pointing_game(maps, objects,
                                                                       tolerance)),
                       ("energy", lambda: metrics.energy(maps, objects)),
                       ("mask_area", lambda: metrics.mask_area(maps))):
        kind, scores = outcome(call)
        if kind == "ok":
            count = maps.shape[0] if maps.ndim == 3 else 1
            assert scores.shape == (count,), name
            assert np.isfinite(scores).all() and (0 <= scores).all() and (scores <= 1).all()
