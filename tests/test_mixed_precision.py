"""Mixed precision: the classifier computes in low precision, masks stay float32."""

import keras
import numpy as np
import pytest
from conftest import oracle_classifier, oracle_images, oracle_object

from keras_neuromask import NeuroMask


@pytest.fixture
def mixed_policy():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")  # the CPU's mixed policy
    yield
    keras.config.set_dtype_policy(previous)


def test_a_mixed_precision_classifier_gets_float32_masks_on_the_oracle_patch(mixed_policy):
    classifier = oracle_classifier()
    assert classifier.compute_dtype == "bfloat16"
    explainer = NeuroMask(classifier)
    assert explainer.mask_params is None and explainer.dtype_policy.name == "float32"
    result = explainer.explain(oracle_images(2))
    assert result.masks.dtype == np.float32 and explainer.mask_params.dtype == "float32"
    shares = (result.masks * oracle_object()).sum((1, 2)) / result.masks.sum((1, 2))
    assert shares.min() >= 0.85, shares
    assert isinstance(explainer.optimizer, keras.optimizers.Optimizer)
    assert not isinstance(explainer.optimizer, keras.optimizers.LossScaleOptimizer)


def test_a_float16_classifier_gets_a_static_loss_scale(mixed_policy):
    keras.config.set_dtype_policy("mixed_float16")
    explainer = NeuroMask(oracle_classifier(), classifier_output="logits")
    assert explainer.mask_objective().loss_scale == 4096.0
    keras.config.set_dtype_policy("float32")
    assert NeuroMask(oracle_classifier(),
                     classifier_output="logits").mask_objective().loss_scale == 1.0
