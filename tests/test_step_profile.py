"""The step profile's code path on a tiny model: structure and arithmetic, never speed."""

import math

import numpy as np
import pytest
from conftest import small_cnn

from keras_neuromask import NeuroMask
from keras_neuromask.bench import step_profile


@pytest.fixture(scope="module")
def tiny_profile():
    model = small_cnn(size=16)
    images = np.random.default_rng(0).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    return model, step_profile.profile(model, images, image_steps=80, repeats=3)


def test_every_loop_is_timed_with_positive_finite_seconds(tiny_profile):
    _, found = tiny_profile
    assert found.batch == 2
    for clock in (found.wall, found.cpu):
        assert set(clock) == set(step_profile.LOOPS)
        assert all(math.isfinite(v) for v in clock.values()), clock
        # differences of two step counts: the stand-in's microseconds may drown in noise
        assert all(clock[name] > 0 for name in ("model", "in_graph", "fit")), clock


def test_the_split_adds_up_to_fit_over_model(tiny_profile):
    _, found = tiny_profile
    for clock in ("wall", "cpu"):
        shares = found.shares(clock)
        parts = shares["mask maths + optimiser"] + shares["Keras fit"] + shares["rest"]
        assert parts == pytest.approx(shares["fit / model"] - 1.0)


def test_stand_in_keeps_the_input_and_the_classes_and_is_smaller(tiny_profile):
    model, _ = tiny_profile
    cheap = step_profile.stand_in(model)
    assert cheap.input_shape == model.input_shape
    assert cheap.output_shape == model.output_shape
    assert cheap.count_params() < model.count_params()
    NeuroMask(cheap, steps=2).explain(np.zeros((1, 16, 16, 3), np.float32))  # it is explainable


def test_table_has_a_wall_and_a_cpu_row_per_profile(tiny_profile):
    _, found = tiny_profile
    lines = step_profile.table({("tiny", 2): found}).splitlines()
    assert lines[0].startswith("| model | B | clock |")
    assert [line.split("|")[3].strip() for line in lines[2:]] == ["wall", "cpu"]
