"""Tests of the TF Serving REST helpers.

Request and response bodies follow the TensorFlow Serving RESTful API document,
"Predict API" (request format: row "instances" / columnar "inputs"; response format:
"predictions" / "outputs", names omitted when the model has one output; errors as
{"error": <message>}):
    https://www.tensorflow.org/tfx/serving/api_rest
    repo tensorflow/serving, path tensorflow_serving/g3doc/api_rest.md
    (commit 00e459f1604c40c073cbb9cb92d72cb6a88be9cd)
"""

import json

import numpy as np
import pytest

from keras_neuromask.serving.rest import (
    ServedExplanation,
    ServingError,
    parse_predict_response,
    parse_probabilities,
    predict_request,
    predict_url,
)

IMAGES = np.arange(2 * 2 * 3 * 1, dtype=np.float32).reshape(2, 2, 3, 1) / 8.0


def _fake_tf_serving(body: dict, outputs_of) -> dict:
    """What TF Serving does with a predict body, following the document's rules.

    Row format: ``instances`` is a list of objects (several named inputs) or the bare values
    of the only input; the response is ``predictions``: a list of objects (several outputs)
    or the bare values of the only output. Columnar format: ``inputs`` is an object (or the
    only input); the response is ``outputs``: an object (or the only output).
    """
    assert set(body) - {"signature_name"} in ({"instances"}, {"inputs"})
    if "instances" in body:
        rows = body["instances"]
        if isinstance(rows[0], dict):
            inputs = {name: np.array([row[name] for row in rows]) for name in rows[0]}
        else:
            inputs = {"images": np.array(rows)}
    else:
        inputs = body["inputs"]
        inputs = {k: np.array(v) for k, v in inputs.items()} if isinstance(inputs, dict) else {
            "images": np.array(inputs)}
    outputs = {name: value.tolist() for name, value in outputs_of(inputs).items()}
    if "instances" in body:
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values()))}
        n = len(next(iter(outputs.values())))
        return {"predictions": [{k: v[i] for k, v in outputs.items()} for i in range(n)]}
    return {"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs}


def _explain(inputs: dict) -> dict:
    """A known-answer stand-in for the explain signatures."""
    images = inputs["images"][..., 0]
    masks = images / images.max()
    target = inputs.get("targets", np.arange(len(images)) + 3)
    return {"masks": masks, "target": target,
            "original_probability": images.mean(axis=(1, 2)),
            "masked_probability": images.min(axis=(1, 2))}


def _check_known_answer(result, target):
    images = IMAGES[..., 0]
    assert isinstance(result, ServedExplanation)
    np.testing.assert_allclose(result.masks, images / images.max(), rtol=1e-6)
    np.testing.assert_array_equal(result.target, target)
    np.testing.assert_allclose(result.original_probability, images.mean(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_allclose(result.masked_probability, images.min(axis=(1, 2)))
    assert result.masks.dtype == np.float32 and result.masks.shape == (2, 2, 3)
    assert result.target.dtype == np.int64
    assert result.original_probability.dtype == result.masked_probability.dtype == np.float32


def test_url_uses_latest_version_unless_one_is_given():
    assert predict_url("localhost:8501", "nm") == "http://localhost:8501/v1/models/nm:predict"
    assert (predict_url("https://h:1/", "nm", version=7)
            == "https://h:1/v1/models/nm/versions/7:predict")


@pytest.mark.parametrize("kwargs", [dict(model_name="a/b"), dict(model_name=""),
                                    dict(version=0), dict(version="1"), dict(version=True),
                                    dict(host="")])
def test_url_rejects_bad_parts(kwargs):
    args = dict(host="h:1", model_name="nm") | kwargs
    with pytest.raises(ValueError, match="Expected .* Received"):
        predict_url(**args)


def test_row_request_with_one_input_lists_bare_images():
    body = predict_request(IMAGES)
    assert body == {"signature_name": "serving_default", "instances": IMAGES.tolist()}
    assert predict_request(IMAGES, signature_name="predict")["instances"] == IMAGES.tolist()


def test_row_request_with_two_inputs_lists_one_object_per_image():
    body = predict_request(IMAGES, signature_name="explain_target", targets=[4, 1])
    assert body == {"signature_name": "explain_target", "instances": [
        {"images": IMAGES[0].tolist(), "targets": 4},
        {"images": IMAGES[1].tolist(), "targets": 1}]}


def test_columnar_request_maps_each_input_name_to_its_batch():
    body = predict_request(IMAGES, signature_name="explain_target", targets=5, format="inputs")
    assert body == {"signature_name": "explain_target",
                    "inputs": {"images": IMAGES.tolist(), "targets": [5, 5]}}


@pytest.mark.parametrize("format", ["instances", "inputs"])
@pytest.mark.parametrize("signature", ["serving_default", "explain_target", "predict"])
def test_request_survives_strict_json_round_trip(format, signature):
    targets = [0, 2] if signature == "explain_target" else None
    body = predict_request(IMAGES, signature_name=signature, targets=targets, format=format)
    text = json.dumps(body, allow_nan=False)
    assert json.loads(text) == body
    assert set(body) == {"signature_name", format}  # either row or columnar, never both


def test_single_uint8_image_is_sent_as_a_batch_of_float_values():
    image = np.array([[[0], [255]]], dtype=np.uint8)
    body = predict_request(image)
    assert body["instances"] == [[[[0.0], [255.0]]]]
    assert isinstance(body["instances"][0][0][1][0], float)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels_are_rejected(bad):
    images = IMAGES.copy()
    images[1, 0, 2, 0] = bad
    with pytest.raises(ValueError, match="Expected finite pixel values.*Received: 1 "):
        predict_request(images)


@pytest.mark.parametrize("images, error", [
    (np.zeros((2, 3)), ValueError), (np.zeros((0, 2, 2, 1)), ValueError),
    (np.zeros((1, 2, 2, 1, 1)), ValueError), (np.ones((1, 2, 2, 1), bool), TypeError),
    ([[["a"]]], TypeError)])
def test_images_of_wrong_shape_or_type_are_rejected(images, error):
    with pytest.raises(error, match="Expected .* Received"):
        predict_request(images)


@pytest.mark.parametrize("kwargs, error", [
    (dict(signature_name="explain_target"), ValueError),                      # targets missing
    (dict(targets=[1, 2]), ValueError),                                       # not taken
    (dict(signature_name="explain_target", targets=[1, 2, 3]), ValueError),  # wrong count
    (dict(signature_name="explain_target", targets=-1), ValueError),
    (dict(signature_name="explain_target", targets=[1.0, 2.0]), TypeError),
    (dict(signature_name="explain-target"), ValueError),
    (dict(format="columns"), ValueError)])
def test_bad_targets_signature_or_format_are_rejected(kwargs, error):
    with pytest.raises(error, match="Expected .* Received"):
        predict_request(IMAGES, **kwargs)


@pytest.mark.parametrize("format", ["instances", "inputs"])
def test_served_explanation_round_trips_in_both_formats(format):
    body = predict_request(IMAGES, format=format)
    response = _fake_tf_serving(json.loads(json.dumps(body)), _explain)
    _check_known_answer(parse_predict_response(json.dumps(response)), target=[3, 4])
    body = predict_request(IMAGES, signature_name="explain_target", targets=[9, 0], format=format)
    _check_known_answer(parse_predict_response(_fake_tf_serving(body, _explain)), target=[9, 0])


def test_documented_multi_output_row_response_is_read_per_instance():
    text = """{"predictions": [
        {"masks": [[0.0, 1.0]], "target": 2, "original_probability": 0.5,
         "masked_probability": 0.25},
        {"masks": [[1.0, 0.5]], "target": 0, "original_probability": 0.75,
         "masked_probability": NaN}]}"""  # NaN: TF Serving's documented JSON extension
    result = parse_predict_response(text)
    np.testing.assert_array_equal(result.masks, [[[0.0, 1.0]], [[1.0, 0.5]]])
    np.testing.assert_array_equal(result.target, [2, 0])
    np.testing.assert_array_equal(result.original_probability, [0.5, 0.75])
    assert result.masked_probability[0] == 0.25 and np.isnan(result.masked_probability[1])


def test_documented_columnar_response_is_read_by_output_name():
    text = """{"outputs": {"masks": [[[0.0, 1.0]]], "target": [1],
        "original_probability": [0.9], "masked_probability": [0.8], "extra": [7]}}"""
    result = parse_predict_response(text.encode())
    assert result.masks.shape == (1, 1, 2) and result.target.tolist() == [1]
    np.testing.assert_allclose(result.masked_probability, [0.8])
    assert result.baseline_probability is None  # an export from before December 2026
    newer = parse_predict_response(text.replace('"extra"', '"baseline_probability": [0.125], '
                                                '"extra"'))
    assert newer.baseline_probability.dtype == np.float32
    np.testing.assert_array_equal(newer.baseline_probability, [0.125])


@pytest.mark.parametrize("format", ["instances", "inputs"])
def test_single_output_response_is_read_as_probabilities(format):
    body = predict_request(IMAGES, signature_name="predict", format=format)
    probabilities = np.array([[0.25, 0.75], [1.0, 0.0]], np.float32)
    response = _fake_tf_serving(body, lambda inputs: {"probabilities": probabilities})
    assert set(response) == {"predictions" if format == "instances" else "outputs"}
    assert response[next(iter(response))] == probabilities.tolist()  # the name is omitted
    np.testing.assert_array_equal(parse_probabilities(response), probabilities)
    with pytest.raises(ValueError, match="single unnamed output.*parse_probabilities"):
        parse_predict_response(response)


def test_error_response_raises_serving_error_with_the_server_message():
    text = '{ "error": "Servable not found for request: Latest(half)" }'  # the document's
    with pytest.raises(ServingError, match=r"Servable not found for request: Latest\(half\)"):
        parse_predict_response(text)
    with pytest.raises(ServingError) as info:
        parse_probabilities(json.loads(text))
    assert info.value.message == "Servable not found for request: Latest(half)"


@pytest.mark.parametrize("response", [
    {"predictions": [{"masks": [[0.0]], "target": 1}]},                        # missing outputs
    {"outputs": {"masks": [[[0.0]]], "target": [1, 2], "original_probability": [0.1],
                 "masked_probability": [0.1]}},                                # sizes differ
    {"outputs": {"masks": [[0.0]], "target": [1], "original_probability": [0.1],
                 "masked_probability": [0.1]}},                                # masks rank 2
    {"outputs": {"masks": [[[0.0]]], "target": [1.5], "original_probability": [0.1],
                 "masked_probability": [0.1]}},                                # fractional class
    {"outputs": {"masks": [[[0.0], [0.0, 1.0]]], "target": [1],
                 "original_probability": [0.1], "masked_probability": [0.1]}},  # ragged
    {"result": [1.0]}, {"predictions": []}, {"predictions": [1], "outputs": [1]}, "not json",
    b"\xff\xfe"])
def test_malformed_responses_are_rejected(response):
    with pytest.raises(ValueError, match="Expected .* Received"):
        parse_predict_response(response)


def test_non_object_response_is_a_type_error():
    with pytest.raises(TypeError, match="Expected a JSON object"):
        parse_predict_response("[1, 2]")
