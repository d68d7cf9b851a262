"""Explanation across several devices: the masks equal the one-device ``explain``."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import small_cnn

import keras_neuromask
from keras_neuromask import NeuroMask
from keras_neuromask.serving import distributed
from keras_neuromask.serving.distributed import explain_distributed
from keras_neuromask.serving.export import make_explain_function

TOLERANCE = 1e-5

# Two logical CPUs must be configured before TensorFlow initialises its devices, so this
# runs in a fresh process and prints what the test then checks.
TWO_CPUS = """
import json, os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from conftest import small_cnn
from keras_neuromask import NeuroMask, explain_distributed

def difference(a, b):
    return float(np.abs(a.masks - b.masks).max())

model = small_cnn(16)
before = [w.copy() for w in model.get_weights()]
images = np.random.default_rng(0).uniform(size=(5, 16, 16, 3)).astype(np.float32)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
report = {"replicas": strategy.num_replicas_in_sync}

one_device = tf.distribute.OneDeviceStrategy("/cpu:0")  # the same graph, one replica
explainer = NeuroMask(model, steps=30)
reference = explainer.explain(images)
one = explain_distributed(explainer, images, strategy=one_device)
two = explain_distributed(explainer, images, strategy=strategy)
report["default"] = difference(one, two)
report["default_vs_explain"] = difference(reference, two)
report["targets_equal"] = bool(np.array_equal(reference.targets, two.targets))
report["steps"] = two.steps.tolist()
report["masked_probability"] = float(np.abs(one.masked_probability
                                            - two.masked_probability).max())
chosen = [3, 2, 1, 0, 3]
one = explain_distributed(explainer, images, chosen, strategy=one_device)
two = explain_distributed(explainer, images, chosen, strategy=strategy)
report["given_targets"] = difference(one, two)
report["given_targets_kept"] = two.targets.tolist()

paper = NeuroMask(model, preset="paper-cifar")  # uniform init seeded by the image index
one = paper.explain(images, steps=10)
two = explain_distributed(paper, images, strategy=strategy, steps=10)
report["paper"] = difference(one, two)
report["paper_steps"] = two.steps.tolist()
report["weights_identical"] = all(np.array_equal(a, b)
                                  for a, b in zip(before, model.get_weights()))
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def two_cpus():
    root = os.path.dirname(os.path.dirname(os.path.abspath(keras_neuromask.__file__)))
    tests = os.path.dirname(os.path.abspath(__file__))
    path = os.pathsep.join([root, tests, os.environ.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", TWO_CPUS], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": path}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_logical_cpus_give_the_one_device_masks_for_an_odd_batch(two_cpus):
    assert two_cpus["replicas"] == 2
    assert two_cpus["default"] <= TOLERANCE  # 5 images: shards of 3 and 2 (+1 padding)
    assert two_cpus["masked_probability"] <= TOLERANCE
    assert two_cpus["targets_equal"]
    assert two_cpus["steps"] == [30] * 5


def test_given_targets_are_kept_and_give_the_one_device_masks(two_cpus):
    assert two_cpus["given_targets_kept"] == [3, 2, 1, 0, 3]
    assert two_cpus["given_targets"] <= TOLERANCE


def test_two_logical_cpus_equal_explain_with_a_seeded_uniform_init(two_cpus):
    # without each shard's first index, images 3 and 4 would start from images 0 and 1's
    # draw (a difference near 1); the paper preset's RMSprop does not amplify fit's rounding
    assert two_cpus["paper"] <= TOLERANCE
    assert two_cpus["paper_steps"] == [10] * 5


def test_the_classifier_weights_stay_bit_identical(two_cpus):
    assert two_cpus["weights_identical"]


def test_one_replica_with_a_steps_override_equals_explain():
    explainer = NeuroMask(small_cnn(16), preset="paper-imagenet")
    images = np.random.default_rng(1).uniform(size=(3, 16, 16, 3)).astype(np.float32)
    expected = explainer.explain(images, steps=4)
    got = explain_distributed(explainer, images, strategy=tf.distribute.get_strategy(),
                              steps=4)
    assert np.abs(got.masks - expected.masks).max() <= TOLERANCE
    np.testing.assert_array_equal(got.targets, expected.targets)
    np.testing.assert_allclose(got.original_probability, expected.original_probability,
                               atol=1e-6)
    np.testing.assert_array_equal(got.steps, [4, 4, 4])
    assert got.masks.shape == (3, 16, 16) and got.masks.dtype == np.float32


def test_first_index_seeds_the_exported_function_like_explain():
    explainer = NeuroMask(small_cnn(16), preset="paper-cifar")
    images = np.random.default_rng(2).uniform(size=(3, 16, 16, 3)).astype(np.float32)
    expected = explainer.explain(images, steps=3)
    explain = make_explain_function(explainer, (16, 16, 3), steps=3)
    tail = explain(tf.constant(images[1:]), tf.constant(expected.targets[1:]),
                   first_index=tf.constant(1))
    assert np.abs(tail["masks"].numpy() - expected.masks[1:]).max() <= TOLERANCE
    unshifted = explain(tf.constant(images[1:]), tf.constant(expected.targets[1:]))
    assert np.abs(unshifted["masks"].numpy() - expected.masks[1:]).max() > 0.1


def test_strategy_none_takes_the_one_in_scope_else_one_mirrored_strategy():
    scoped = tf.distribute.OneDeviceStrategy("/cpu:0")
    with scoped.scope():
        assert distributed._strategy(None) is scoped
    default = distributed._strategy(None)
    assert isinstance(default, tf.distribute.MirroredStrategy)
    assert distributed._strategy(None) is default


def test_bad_input_raises_expected_received():
    explainer = NeuroMask(small_cnn(16), steps=2)
    images = np.zeros((2, 16, 16, 3), np.float32)
    for call, error in [
        (lambda: explain_distributed(explainer, np.zeros((2, 8, 8, 3))), ValueError),
        (lambda: explain_distributed(explainer, images, [0, 9]), ValueError),
        (lambda: explain_distributed(explainer, images, steps=0), ValueError),
        (lambda: explain_distributed(explainer, images[0, 0]), ValueError),
        (lambda: explain_distributed(explainer, images, strategy="/cpu:0"), TypeError),
        (lambda: explain_distributed(small_cnn(16), images), TypeError),
        (lambda: explain_distributed(NeuroMask(small_cnn(16), early_stopping=True), images),
         ValueError),
    ]:
        with pytest.raises(error, match="Expected .* Received"):
            call()
