"""The comparison report: every method scored the same way, files written."""

import json

import numpy as np
import pytest
from conftest import oracle_classifier, oracle_images, oracle_object

from keras_neuromask.evaluation.compare import get_method
from keras_neuromask.evaluation.report import FixedMaps, evaluate, markdown_table, write_report


def test_evaluate_scores_each_method_and_neuromask_finds_the_oracle_patch(tmp_path):
    model, images = oracle_classifier(), oracle_images(3)
    objects = np.repeat(oracle_object()[None], 3, axis=0)
    methods = {"neuromask": get_method("neuromask", steps=150),
               "saliency": get_method("saliency")}
    details = {}
    rows, maps = evaluate(model, images, methods, object_masks=objects, progress=None,
                          fidelity_steps=9, details=details)
    assert [row.method for row in rows] == ["neuromask", "saliency"]
    neuromask = rows[0]
    assert neuromask.pointing == 1.0 and neuromask.energy > 0.85
    for row in rows:
        assert 0 <= row.deletion <= 1 and 0 <= row.insertion <= 1 and row.seconds_per_image > 0
    assert maps["neuromask"].shape == (3, 32, 32)
    assert neuromask.pieces >= 1 and neuromask.pieces == np.mean(details["neuromask"]["pieces"])
    assert sorted(details["saliency"]) == ["area", "deletion", "energy", "insertion", "pieces",
                                           "pointing"]
    assert all(len(values) == 3 for values in details["saliency"].values())
    table = markdown_table(rows)
    assert table.count("\n") == 3 and "| neuromask |" in table and "pieces ↓" in table
    written = write_report(tmp_path, rows, maps, images, titles=["a", "b", "c"])
    assert json.loads(open(written["json"]).read())["rows"][0]["method"] == "neuromask"
    lines = open(written["csv"]).read().splitlines()
    assert lines[0].startswith("method,pointing,energy,pieces,") and len(lines) == 3
    from PIL import Image
    assert Image.open(written["grid"]).size == (3 * 96, 3 * 96)


def test_rows_without_ground_truth_show_a_dash():
    model, images = oracle_classifier(), oracle_images(2)
    rows, _ = evaluate(model, images, {"saliency": get_method("saliency")}, progress=None,
                       fidelity_steps=5)
    assert np.isnan(rows[0].pointing) and "–" in markdown_table(rows)


def test_fixed_maps_of_the_ground_truth_score_perfect_localisation():
    model, images = oracle_classifier(), oracle_images(2)
    objects = np.repeat(oracle_object()[None], 2, axis=0)
    rows, maps = evaluate(model, images, {"truth": FixedMaps(objects)}, object_masks=objects,
                          progress=None, fidelity_steps=5)
    assert rows[0].pointing == 1.0 and rows[0].energy == 1.0 and rows[0].seconds_per_image == 0
    assert rows[0].pieces == 1.0  # the patch is 6% of the image: all of it, one piece
    np.testing.assert_array_equal(maps["truth"], objects)
    with pytest.raises(ValueError, match="Expected 2 images of 32x32 pixels"):
        FixedMaps(objects)(model, images[:1])


def test_class_probabilities_are_the_softmax_of_the_predicted_or_given_class():
    from keras_neuromask.evaluation.report import class_probabilities

    model, images = oracle_classifier(), oracle_images(3)
    logits = np.asarray(model(images))
    softmax = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    targets, probabilities = class_probabilities(model, images)
    assert targets.tolist() == [0, 1, 2]
    np.testing.assert_allclose(probabilities, softmax[[0, 1, 2], [0, 1, 2]], rtol=1e-5)
    targets, probabilities = class_probabilities(model, images, targets=2)
    assert targets.tolist() == [2, 2, 2]
    np.testing.assert_allclose(probabilities, softmax[:, 2], rtol=1e-5)


def test_compare_images_titles_the_grid_with_class_names(tmp_path):
    from PIL import Image

    from keras_neuromask.evaluation.report import compare_images

    model, images = oracle_classifier(), oracle_images(2)
    plain = compare_images(model, images, tmp_path / "plain", methods=["saliency"])
    named = compare_images(model, images, tmp_path / "named", methods=["saliency"],
                           class_names=["red", "green", "blue"])
    with Image.open(plain["grid"]) as a, Image.open(named["grid"]) as b:
        assert a.size == b.size
        assert not np.array_equal(np.asarray(a), np.asarray(b))  # the titles are drawn
