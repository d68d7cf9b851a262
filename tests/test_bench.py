"""The benchmark's code path on a tiny model: structure and sanity of the numbers, never speed."""

import json
import math
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import small_cnn

from keras_neuromask import NeuroMask
from keras_neuromask.bench import speed as bench
from keras_neuromask.optimizers import initial_slots
from keras_neuromask.settings import Settings

TINY = {"tiny": bench.ModelSpec("tiny", lambda: small_cnn(size=16), 16, image_steps=80,
                                paper_preset="paper-cifar", paper_steps=2, explain_steps=4)}


@pytest.fixture(scope="module")
def tiny_result():
    return bench.run(["tiny"], batches=(2, 1), xla=(False,), repeats=3, specs=TINY)


def cells(line):
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_run_measures_every_batch_with_positive_finite_seconds(tiny_result):
    rows = tiny_result.rows
    assert [(r.model, r.xla, r.batch) for r in rows] == [("tiny", False, 1), ("tiny", False, 2)]
    for r in rows:
        assert r.note == ""
        for value in (r.gradient, r.step, r.ratio, r.cpu_ratio, r.explain):
            assert math.isfinite(value) and value > 0, r
    assert math.isfinite(tiny_result.paper["tiny"]) and tiny_result.paper["tiny"] > 0
    assert tiny_result.info["steps"]["tiny"] == {1: (40, 120), 2: (20, 60)}


def test_table_has_one_line_per_row_and_consistent_ratios(tiny_result):
    lines = bench.table(tiny_result).splitlines()
    header = cells(lines[0])
    assert len(header) == 10 and header[:3] == ["model", "XLA", "B"]
    body = [cells(line) for line in lines[2:]]
    assert [line[:3] for line in body] == [["tiny", "off", "1"], ["tiny", "off", "2"]]
    for line, row in zip(body, tiny_result.rows):
        assert len(line) == len(header)
        values = [float(v) for v in line[3:]]
        assert all(math.isfinite(v) and v > 0 for v in values)
        assert values[0] == pytest.approx(row.gradient * 1e3, abs=0.006)
        paper_over_explain = tiny_result.paper["tiny"] / row.explain
        assert values[-1] == pytest.approx(paper_over_explain, abs=0.51)


def test_targets_and_json_record_are_complete(tiny_result):
    found = bench.targets(tiny_result)
    assert [t.name for t in found] == ["(c)/(d), tiny, XLA off, B=1",
                                       "(c)/(d), tiny, XLA off, B=2"]
    assert all(t.met in (True, False) and t.value > 0 for t in found)
    record = json.loads(json.dumps(bench.as_dict(tiny_result), allow_nan=False))
    assert len(record["rows"]) == 2 and record["paper_seconds_per_image"]["tiny"] > 0
    assert "| ratio | value | goal | met |" in bench.targets_table(tiny_result)


def test_over_budget_configuration_is_skipped_with_a_note_not_measured():
    result = bench.run(["tiny"], batches=(1, 8), xla=(False,), repeats=1, specs=TINY,
                       config_budget_s=0.0)
    assert all(r.note.startswith("skipped: projected") for r in result.rows)
    assert all(math.isnan(r.step) and math.isnan(r.explain) for r in result.rows)
    text = bench.table(result)
    assert "skipped: projected" in text and "| tiny | off | 8 | - | - |" in text
    record = json.loads(json.dumps(bench.as_dict(result), allow_nan=False))
    assert record["rows"][0]["step"] is None
    assert [t.met for t in bench.targets(result)] == [None, None, None]


def test_projection_counts_every_timed_image_step():
    # (a) and (b): (8 repeats + 2) lo per batch; (d): 4 steps + a 4-step warm-up per end batch
    spec = TINY["tiny"]
    assert bench._projected_seconds(spec, [1, 2], 1, {1: 1.0}) == 40 * 10 + 2 * 20 * 10 + 8 + 16
    assert bench._projected_seconds(spec, [1, 2], 1, {1: 1.0, 2: 0.5}) == 400 + 200 + 8 + 8


def test_unknown_model_or_bad_batch_raises_value_error():
    with pytest.raises(ValueError, match="Expected models among"):
        bench.run(["resnet"], specs=TINY)
    with pytest.raises(ValueError, match="batch sizes >= 1"):
        bench.run(["tiny"], batches=(0, 2), specs=TINY)


def test_step_counts_keep_images_times_steps_and_a_floor():
    assert bench.step_counts(480, 1) == (240, 720)
    assert bench.step_counts(480, 16) == (15, 45)
    assert bench.step_counts(32, 16) == (2, 6)


def test_paper_step_is_the_reference_loss_and_tf1_rmsprop():
    model = small_cnn(size=16)
    settings = Settings.from_preset("paper-cifar")
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(size=(1, 16, 16, 3)).astype(np.float32))
    params = tf.constant(rng.uniform(-10, 10, size=(1, 16, 16, 1)).astype(np.float32))
    targets = tf.constant([2], tf.int64)
    slots = initial_slots("rmsprop", params)
    new_params, (mean_square,), loss = bench.paper_step(model, images, params, slots, 1,
                                                         targets, settings)
    explainer = NeuroMask(model, preset="paper-cifar", classifier_output="logits")
    with tf.GradientTape() as tape:
        tape.watch(params)
        expected = explainer.mask_objective().terms(params, images, tf.zeros_like(images),
                                                     targets).loss
    grads = tape.gradient(expected, params).numpy().astype(np.float64)
    np.testing.assert_allclose(loss.numpy(), expected.numpy(), rtol=1e-5)
    square = 0.9 * 1.0 + 0.1 * grads**2  # the accumulator starts at 1, not 0
    np.testing.assert_allclose(mean_square.numpy(), square, rtol=1e-5)
    np.testing.assert_allclose(params.numpy() - new_params.numpy(),
                               0.03 * grads / np.sqrt(square + 1e-10), atol=5e-6)


def test_cifar_cnn_is_cifar_size_with_logits():
    model = bench.cifar_cnn()
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 10)
    assert 500_000 < model.count_params() < 2_000_000
    assert model.layers[-1].activation is keras.activations.linear


@pytest.mark.slow
def test_script_quick_run_and_memory_write_json(tmp_path):
    script = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"
    out = tmp_path / "bench.json"
    done = subprocess.run(  # noqa: S603
        [sys.executable, str(script), "--quick", "--models", "cifar", "--batches", "1,2",
         "--xla", "off", "--memory", "--sizes", "32", "--json", str(out)],
        capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| cifar | off | 2 |" in done.stdout and "peak RSS" in done.stdout
    record = json.loads(out.read_text())
    assert len(record["rows"]) == 2 and len(record["memory"]) == 2
    assert all(m["peak_rss_mib"] > 0 for m in record["memory"])
