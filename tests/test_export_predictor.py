"""A MaskPredictor's SavedModel: NeuroMask's signatures, the in-process masks, loadable without
keras_neuromask, and usable by `neuromask explain-dataset`."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import oracle_classifier, oracle_images
from PIL import Image

from keras_neuromask import MaskPredictor, export_saved_model

REFINE = 4


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    predictor = MaskPredictor(oracle_classifier(), encoder="conv", refine_steps=REFINE)
    predictor.fit(oracle_images(32, seed=1), epochs=2, verbose=0)
    path = export_saved_model(predictor, str(tmp_path_factory.mktemp("models") / "predictor"))
    return predictor, path


def test_served_masks_equal_the_in_process_predictor(exported):
    predictor, path = exported
    images = oracle_images(5, seed=3)
    expected = predictor.explain(images)
    served = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(images))
    assert sorted(served) == ["baseline_probability", "masked_probability", "masks",
                              "original_probability", "steps", "target"]  # as NeuroMask's
    np.testing.assert_allclose(served["baseline_probability"], expected.baseline_probability,
                               atol=1e-5)
    assert np.abs(served["masks"].numpy() - expected.masks).max() <= 1e-5
    np.testing.assert_array_equal(served["target"].numpy(), expected.targets)
    np.testing.assert_array_equal(served["steps"].numpy(), [REFINE] * 5)
    np.testing.assert_allclose(served["original_probability"], expected.original_probability,
                               atol=1e-5)
    np.testing.assert_allclose(served["masked_probability"], expected.masked_probability,
                               atol=1e-5)


def test_explain_target_and_predict_signatures(exported):
    predictor, path = exported
    loaded = tf.saved_model.load(path)
    images = oracle_images(3, seed=4)
    targets = np.array([2, 0, 1], np.int64)
    served = loaded.signatures["explain_target"](images=tf.constant(images),
                                                 targets=tf.constant(targets))
    expected = predictor.explain(images, targets)
    assert np.abs(served["masks"].numpy() - expected.masks).max() <= 1e-5
    probabilities = loaded.signatures["predict"](images=tf.constant(images))["probabilities"]
    np.testing.assert_allclose(probabilities.numpy().sum(-1), 1.0, atol=1e-5)


def test_a_process_that_never_imports_keras_neuromask_and_saved_model_cli_serve_it(
        exported, tmp_path):
    predictor, path = exported
    images = oracle_images(2, seed=6)
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
    expected = predictor.explain(images).masks
    assert np.abs(np.load(tmp_path / "masks.npy") - expected).max() <= 1e-5
    subprocess.run(["saved_model_cli", "run", "--dir", path, "--tag_set", "serve",
                    "--signature_def", "serving_default", "--inputs",
                    f"images={tmp_path / 'x.npy'}", "--outdir", str(tmp_path / "out")],
                   capture_output=True, text=True, check=True)
    assert np.abs(np.load(tmp_path / "out" / "masks.npy") - expected).max() <= 1e-5


def test_explain_dataset_runs_on_the_exported_predictor(exported, tmp_path, capsys):
    pytest.importorskip("apache_beam")  # test_beam.py fails when the dev extra lacks it
    from keras_neuromask.cli.main import main
    from keras_neuromask.image_io import load_image

    predictor, path = exported
    folder = tmp_path / "images"
    folder.mkdir()
    pixels = np.rint(oracle_images(3, seed=7) * 255).astype(np.uint8)
    for index, image in enumerate(pixels):
        Image.fromarray(image).save(folder / f"oracle{index}.png")
    out = tmp_path / "results"
    assert main(["explain-dataset", str(folder / "*.png"), "--model-dir", path, "--out",
                 str(out), "--direct_running_mode=in_memory", "--direct_num_workers=1"]) == 0
    assert "explained 3 image(s)" in capsys.readouterr().out
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    names = sorted(str(p) for p in folder.glob("*.png"))
    images = np.stack([load_image(name, (32, 32), 3).array for name in names])
    expected = predictor.explain(images)
    for record, mask in zip(records, expected.masks):
        assert record["steps"] == REFINE
        written = np.load(out / record["outputs"]["mask_npy"])
        assert np.abs(written - mask).max() <= 1e-5


def test_an_image_shape_other_than_the_predictors_is_refused(exported, tmp_path):
    predictor, _ = exported
    with pytest.raises(ValueError, match="Expected"):
        export_saved_model(predictor, str(tmp_path / "other"), image_shape=(16, 16, 3))
