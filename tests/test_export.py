"""The SavedModel export: in-graph optimisation, TF Serving layout, loading without us."""

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import tensorflow as tf
from conftest import oracle_classifier, oracle_images

from keras_neuromask import NeuroMask
from keras_neuromask.serving import export as export_module
from keras_neuromask.serving.export import export_saved_model

STEPS = 40


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    explainer = NeuroMask(oracle_classifier(), steps=STEPS, mask_grid=16)
    path = export_saved_model(explainer, str(tmp_path_factory.mktemp("models") / "neuromask"))
    return explainer, path


def test_layout_is_tf_serving_base_path_with_version_one(exported):
    _, path = exported
    assert os.path.basename(path) == "1"
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert os.path.isdir(os.path.join(path, "variables"))
    assert os.listdir(os.path.dirname(path)) == ["1"]  # no staging folder left behind


def test_served_masks_equal_the_in_process_explainer(exported):
    explainer, path = exported
    images = oracle_images(5)
    expected = explainer.explain(images)
    served = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(images))
    assert np.abs(served["masks"].numpy() - expected.masks).max() <= 1e-4
    np.testing.assert_array_equal(served["target"].numpy(), expected.targets)
    np.testing.assert_array_equal(served["steps"].numpy(), [STEPS] * 5)
    np.testing.assert_allclose(served["original_probability"], expected.original_probability,
                               atol=1e-5)
    np.testing.assert_allclose(served["masked_probability"], expected.masked_probability,
                               atol=1e-4)
    np.testing.assert_allclose(served["baseline_probability"],
                               expected.baseline_probability, atol=1e-5)


def test_batch_sizes_one_and_five_on_the_same_export(exported):
    _, path = exported
    serve = tf.saved_model.load(path).signatures["serving_default"]
    images = oracle_images(5)
    five = serve(images=tf.constant(images))["masks"].numpy()
    one = serve(images=tf.constant(images[:1]))["masks"].numpy()
    assert five.shape == (5, 32, 32) and one.shape == (1, 32, 32)
    np.testing.assert_allclose(one[0], five[0], atol=1e-5)


def test_explain_target_and_predict_signatures(exported):
    _, path = exported
    loaded = tf.saved_model.load(path)
    images = tf.constant(oracle_images(3))
    out = loaded.signatures["explain_target"](images=images,
                                              targets=tf.constant([2, 2, 2], tf.int64))
    np.testing.assert_array_equal(out["target"].numpy(), [2, 2, 2])
    probabilities = loaded.signatures["predict"](images=images)["probabilities"].numpy()
    np.testing.assert_allclose(probabilities.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(probabilities.argmax(1), [0, 1, 2])


def test_concurrent_requests_get_the_sequential_answers(exported):
    _, path = exported
    serve = tf.saved_model.load(path).signatures["serving_default"]
    batches = [oracle_images(2, seed=seed) for seed in range(4)]
    sequential = [serve(images=tf.constant(b))["masks"].numpy() for b in batches]
    answers, errors = [None] * 4, []

    def call(index):
        try:
            answers[index] = serve(images=tf.constant(batches[index]))["masks"].numpy()
        except Exception as error:  # reported below, never swallowed
            errors.append(error)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for got, want in zip(answers, sequential):
        np.testing.assert_array_equal(got, want)


def test_saved_model_cli_lists_signatures_and_runs_serving_default(exported, tmp_path):
    explainer, path = exported
    shown = subprocess.run(["saved_model_cli", "show", "--all", "--dir", path],
                           capture_output=True, text=True, check=True).stdout
    for name in ("serving_default", "explain_target", "predict"):
        assert f"signature_def['{name}']" in shown
    images = oracle_images(2)
    np.save(tmp_path / "x.npy", images)
    subprocess.run(["saved_model_cli", "run", "--dir", path, "--tag_set", "serve",
                    "--signature_def", "serving_default", "--inputs",
                    f"images={tmp_path / 'x.npy'}", "--outdir", str(tmp_path / "out")],
                   capture_output=True, text=True, check=True)
    masks = np.load(tmp_path / "out" / "masks.npy")
    np.testing.assert_allclose(masks, explainer.explain(images).masks, atol=1e-4)


def test_a_process_that_never_imports_keras_neuromask_reproduces_the_masks(exported, tmp_path):
    explainer, path = exported
    images = oracle_images(2)
    np.save(tmp_path / "x.npy", images)
    script = (
        "import sys, json, numpy as np, tensorflow as tf\n"
        f"m = tf.saved_model.load({path!r})\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
        "out = m.signatures['serving_default'](images=tf.constant(x))\n"
        f"np.save({str(tmp_path / 'masks.npy')!r}, out['masks'].numpy())\n"
        "print(json.dumps(sorted(k for k in sys.modules if k.startswith('keras_neuromask'))))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    np.testing.assert_allclose(np.load(tmp_path / "masks.npy"),
                               explainer.explain(images).masks, atol=1e-4)


@pytest.mark.parametrize("options", [
    dict(preset="paper-cifar"),
    dict(baseline="noise", preset="paper-imagenet"),
    dict(baseline="mean", preprocess=lambda x: x * 2.0 - 1.0),
    dict(preset="deletion"),
    dict(deletion_weight=0.5, deletion_baseline="blur"),
    dict(init="saliency"),  # drawn at 8x8 cells of the 16x16 grid
])
def test_export_honours_the_explainers_settings(options, tmp_path):
    classifier = oracle_classifier()
    if "preprocess" in options:
        import keras
        classifier = keras.Sequential([keras.Input((32, 32, 3)),
                                       keras.layers.Rescaling(0.5, 0.5), classifier])
    explainer = NeuroMask(classifier, steps=15, **options)
    path = export_saved_model(explainer, str(tmp_path))
    images = oracle_images(2)
    served = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(images))
    assert np.abs(served["masks"].numpy() - explainer.explain(images).masks).max() <= 1e-4


def test_versions_count_up_and_existing_versions_are_not_overwritten(tmp_path):
    explainer = NeuroMask(oracle_classifier(), steps=2)
    base = str(tmp_path / "m")
    assert export_saved_model(explainer, base).endswith(os.sep + "1")
    assert export_saved_model(explainer, base).endswith(os.sep + "2")
    with pytest.raises(ValueError, match="exists"):
        export_saved_model(explainer, base, version=2)
    assert export_saved_model(explainer, base, version=2, overwrite=True).endswith("2")
    with pytest.raises(ValueError, match="positive int"):
        export_saved_model(explainer, base, version=0)


def test_an_interrupted_export_leaves_no_partial_version(tmp_path, monkeypatch):
    explainer = NeuroMask(oracle_classifier(), steps=2)
    real = export_module._archive

    def failing(*args):
        archive = real(*args)

        def write_out(path, **kwargs):
            os.makedirs(path)
            open(os.path.join(path, "saved_model.pb"), "wb").close()
            raise KeyboardInterrupt

        archive.write_out = write_out
        return archive

    monkeypatch.setattr(export_module, "_archive", failing)
    with pytest.raises(KeyboardInterrupt):
        export_saved_model(explainer, str(tmp_path / "m"))
    assert os.listdir(tmp_path / "m") == []


def test_a_classifier_without_fixed_size_needs_image_shape(tmp_path):
    import keras
    inputs = keras.Input((None, None, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(pooled))
    with pytest.raises(ValueError, match="image_shape"):
        export_saved_model(NeuroMask(model, steps=2), str(tmp_path))
    path = export_saved_model(NeuroMask(model, steps=2), str(tmp_path), image_shape=(8, 8, 3))
    out = tf.saved_model.load(path).signatures["serving_default"](images=tf.zeros((1, 8, 8, 3)))
    assert out["masks"].shape == (1, 8, 8)


def test_the_served_graph_writes_no_variable_and_draws_no_stateful_randomness(exported):
    _, path = exported
    graph = tf.saved_model.load(path).signatures["serving_default"].graph
    ops = {op.type for op in graph.get_operations()}
    for function in graph.as_graph_def().library.function:
        ops |= {node.op for node in function.node_def}
    assert "While" in ops or "StatelessWhile" in ops
    risky = {op for op in ops if op.startswith(("Assign", "Random", "Stateful"))
             and op not in ("StatefulPartitionedCall",)}
    assert not risky, risky


@pytest.mark.parametrize("layout", ["instances", "inputs"])
def test_a_rest_request_answered_from_the_export_parses_to_the_masks(exported, layout):
    from keras_neuromask.serving import rest as serving

    explainer, path = exported
    images = oracle_images(2)
    body = json.loads(json.dumps(serving.predict_request(images, format=layout)))
    response = serving.answer_locally(tf.saved_model.load(path).signatures, body)
    parsed = serving.parse_predict_response(json.dumps(response))
    assert np.abs(parsed.masks - explainer.explain(images).masks).max() <= 1e-4
    np.testing.assert_array_equal(parsed.target, [0, 1])
    probabilities = serving.parse_probabilities(serving.answer_locally(
        tf.saved_model.load(path).signatures,
        serving.predict_request(images, signature_name="predict", format=layout)))
    np.testing.assert_array_equal(probabilities.argmax(1), [0, 1])


def test_an_export_with_early_stopping_stops_at_the_step_explain_stops(tmp_path):
    # the "pixel" preset: its masks still move by > 0.05 an epoch at 200 steps, which tells
    # one epoch more or less apart (the default's converge sooner)
    explainer = NeuroMask(oracle_classifier(), preset="pixel", steps=200, early_stopping=True)
    images = oracle_images(3)
    expected = explainer.explain(images)
    stopped = int(expected.steps[0])
    assert expected.steps.tolist() == [stopped] * 3 and 50 <= stopped < 200  # epochs of 25
    path = export_saved_model(explainer, str(tmp_path))
    served = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(images))
    masks = served["masks"].numpy()
    np.testing.assert_array_equal(served["steps"].numpy(), expected.steps)
    # Equal up to float rounding (1e-3 over 100 steps at full resolution), while one epoch
    # more or less, or no early stopping, moves the masks by more than 0.05.
    assert np.abs(masks - expected.masks).max() <= 1e-2
    for steps in (stopped - 25, stopped + 25, 200):
        other = NeuroMask(oracle_classifier(), preset="pixel", steps=steps).explain(images).masks
        assert np.abs(masks - other).max() > 0.05, steps
