"""REST helpers for a NeuroMask SavedModel served by TensorFlow Serving.

TF Serving's predict endpoint is ``POST http://host:port/v1/models/<name>[/versions/<v>]:predict``
with a JSON body. A request gives its input tensors either in row format
(``{"instances": [...]}``, one entry per image) or in columnar format (``{"inputs": {...}}``,
one entry per named input); the response comes back in the same format
(``{"predictions": [...]}`` or ``{"outputs": ...}``), or as ``{"error": "..."}``.

Signatures of an exported explainer (see ``keras_neuromask.serving.export``):

- ``serving_default``: ``images`` (float32 [None, H, W, C]) -> ``masks`` (float32
  [None, H, W]), ``target`` (int64 [None]), ``original_probability``,
  ``masked_probability`` and ``baseline_probability`` (float32 [None]; exports before
  December 2026 lack the last); the class explained is the predicted one.
- ``explain_target``: ``images`` and ``targets`` (int64 [None]) -> the same outputs.
- ``predict``: ``images`` -> ``probabilities`` (float32 [None, classes]).

This module needs only numpy and the standard library, so a client can use it without
TensorFlow.

Example:
    >>> import json, urllib.request
    >>> body = predict_request(images)                     # doctest: +SKIP
    >>> req = urllib.request.Request(predict_url("localhost:8501", "neuromask"),
    ...                              data=json.dumps(body).encode())  # doctest: +SKIP
    >>> with urllib.request.urlopen(req) as reply:          # doctest: +SKIP
    ...     result = parse_predict_response(reply.read())

References:
    TensorFlow Serving RESTful API, https://www.tensorflow.org/tfx/serving/api_rest
    (tensorflow/serving ``tensorflow_serving/g3doc/api_rest.md``).
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

import numpy as np

SIGNATURE_EXPLAIN = "serving_default"
SIGNATURE_EXPLAIN_TARGET = "explain_target"
SIGNATURE_PREDICT = "predict"
SIGNATURES = (SIGNATURE_EXPLAIN, SIGNATURE_EXPLAIN_TARGET, SIGNATURE_PREDICT)
OUTPUT_NAMES = ("masks", "target", "original_probability", "masked_probability")
FORMATS = ("instances", "inputs")
_BAD_NAME = re.compile(r"[/:?#\s]")


class ServedExplanation(NamedTuple):
    """The explanation returned by a served explainer, as numpy arrays."""

    masks: np.ndarray  # float32 (N, H, W) in [0, 1]; high = the pixels that keep the class
    target: np.ndarray  # int64 (N,), the class explained for each image
    original_probability: np.ndarray  # float32 (N,), probability of target, unmasked image
    masked_probability: np.ndarray  # float32 (N,), probability of target, masked image
    # float32 (N,), probability of target on the baseline alone; None from older exports
    baseline_probability: np.ndarray | None = None


class ServingError(RuntimeError):
    """TF Serving answered ``{"error": "..."}``; ``message`` holds the server's text."""

    def __init__(self, message: str):
        super().__init__(f"TF Serving returned an error: {message}")
        self.message = message


def predict_url(host: str, model_name: str, version: int | None = None) -> str:
    """URL of TF Serving's predict endpoint.

    Args:
        host: ``"host:port"`` or a base URL such as ``"http://host:port"`` (REST port,
            8501 by default).
        model_name: the ``--model_name`` the server was started with.
        version: a model version (a positive int); ``None`` uses the latest version.

    Returns:
        ``"<base>/v1/models/<model_name>[/versions/<version>]:predict"``.
    """
    if not isinstance(host, str) or not host.strip("/ "):
        raise ValueError(f"Expected host to be a non-empty string. Received: host={host!r}")
    if not isinstance(model_name, str) or not model_name or _BAD_NAME.search(model_name):
        raise ValueError(
            "Expected model_name to be a non-empty string without '/', ':', '?', '#' or "
            f"whitespace. Received: model_name={model_name!r}"
        )
    base = host.strip().rstrip("/")
    if "://" not in base:
        base = f"http://{base}"
    url = f"{base}/v1/models/{model_name}"
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 1:
            raise ValueError(
                f"Expected version to be None or a positive int. Received: version={version!r}"
            )
        url += f"/versions/{int(version)}"
    return url + ":predict"


def predict_request(
    images: Any,
    *,
    signature_name: str = SIGNATURE_EXPLAIN,
    targets: Any = None,
    format: str = "instances",
) -> dict:
    """JSON body (a dict for ``json.dumps``) of a TF Serving predict request.

    Args:
        images: (H, W, C) or (N, H, W, C) array-like of real numbers (uint8 or float; sent as
            float32 values). Every value must be finite: JSON has no NaN or Infinity.
        signature_name: ``"serving_default"`` (explain the predicted class),
            ``"explain_target"`` (explain ``targets``), or ``"predict"`` (probabilities).
        targets: only with ``"explain_target"``: one class index for all images, or one per
            image.
        format: ``"instances"`` (row format: one entry per image, an object
            ``{"images": ..., "targets": ...}`` when the signature has two inputs, the bare
            image otherwise) or ``"inputs"`` (columnar format: ``{"images": [...], ...}``).

    Returns:
        ``{"signature_name": ..., "instances": [...]}`` or
        ``{"signature_name": ..., "inputs": {...}}``.
    """
    if signature_name not in SIGNATURES:
        raise ValueError(
            f"Expected signature_name to be one of {SIGNATURES}. "
            f"Received: signature_name={signature_name!r}"
        )
    if format not in FORMATS:
        raise ValueError(f"Expected format to be one of {FORMATS}. Received: format={format!r}")
    batch = _images_as_list(images)
    named = {"images": batch}
    if signature_name == SIGNATURE_EXPLAIN_TARGET:
        named["targets"] = _targets_as_list(targets, len(batch))
    elif targets is not None:
        raise ValueError(
            f"Expected targets=None for signature {signature_name!r} (only "
            f"{SIGNATURE_EXPLAIN_TARGET!r} takes targets). Received: targets={targets!r}"
        )
    body: dict = {"signature_name": signature_name}
    if format == "inputs":
        body["inputs"] = named
    elif len(named) == 1:
        body["instances"] = batch
    else:
        body["instances"] = [dict(zip(named, row)) for row in zip(*named.values())]
    return body


def parse_predict_response(body: dict | str | bytes) -> ServedExplanation:
    """Reads the response of an explain signature (``serving_default`` or ``explain_target``).

    Args:
        body: the response, as a parsed dict or as JSON text. Row format
            ``{"predictions": [{"masks": ..., "target": ..., ...}, ...]}`` and columnar format
            ``{"outputs": {"masks": [...], "target": [...], ...}}`` are both accepted.

    Returns:
        A ``ServedExplanation`` (masks float32 (N, H, W), target int64 (N,), probabilities
        float32 (N,)).

    Raises:
        ServingError: the server answered ``{"error": ...}``.
        ValueError: the response is not one of an explain signature.
    """
    named, _ = _outputs(body)
    if named is None:
        raise ValueError(
            f"Expected a response with the named outputs {OUTPUT_NAMES}. Received: a single "
            "unnamed output (the 'predict' signature's; read it with parse_probabilities)"
        )
    missing = [name for name in OUTPUT_NAMES if name not in named]
    if missing:
        raise ValueError(
            f"Expected a response with the named outputs {OUTPUT_NAMES}. "
            f"Received: outputs {sorted(named)} (missing {missing})"
        )
    masks = _array(named["masks"], np.float32, "masks", rank=3)
    target = _array(named["target"], np.float64, "target", rank=1)
    if not np.array_equal(target, np.round(target)):
        raise ValueError(f"Expected integer class indices in 'target'. Received: {target}")
    result = ServedExplanation(
        masks=masks,
        target=target.astype(np.int64),
        original_probability=_array(named["original_probability"], np.float32,
                                    "original_probability", rank=1),
        masked_probability=_array(named["masked_probability"], np.float32,
                                  "masked_probability", rank=1),
        baseline_probability=None if "baseline_probability" not in named else _array(
            named["baseline_probability"], np.float32, "baseline_probability", rank=1),
    )
    sizes = {name: len(value) for name, value in result._asdict().items()
             if value is not None}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"Expected one entry per image in every output. Received: {sizes}")
    return result


def parse_probabilities(body: dict | str | bytes) -> np.ndarray:
    """Reads the response of the ``predict`` signature: float32 probabilities (N, classes)."""
    named, raw = _outputs(body)
    if named is None:
        return _array(raw, np.float32, "probabilities", rank=2)
    if "probabilities" not in named:
        raise ValueError(
            "Expected a response with the output 'probabilities'. "
            f"Received: outputs {sorted(named)}"
        )
    return _array(named["probabilities"], np.float32, "probabilities", rank=2)


def _images_as_list(images: Any) -> list:
    array = np.asarray(images)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise TypeError(
            f"Expected images of real numbers (uint8 or float). Received: dtype={array.dtype}"
        )
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or 0 in array.shape:
        raise ValueError(
            f"Expected images of shape (H, W, C) or (N, H, W, C) with no empty axis. "
            f"Received: shape={array.shape}"
        )
    array = array.astype(np.float32)
    if not np.all(np.isfinite(array)):
        raise ValueError(
            "Expected finite pixel values in float32 (JSON cannot carry NaN or Infinity). "
            f"Received: {int(np.sum(~np.isfinite(array)))} non-finite values"
        )
    return array.tolist()


def _targets_as_list(targets: Any, n: int) -> list:
    if targets is None:
        raise ValueError(
            f"Expected targets (one class index, or one per image) for signature "
            f"{SIGNATURE_EXPLAIN_TARGET!r}. Received: targets=None"
        )
    array = np.asarray(targets)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"Expected integer class indices. Received: targets={targets!r}")
    if array.ndim == 0:
        array = np.full((n,), array)
    if array.shape != (n,) or np.any(array < 0):
        raise ValueError(
            f"Expected one non-negative class index, or {n} (one per image). "
            f"Received: targets with shape {array.shape} and values {array.tolist()}"
        )
    return array.astype(np.int64).tolist()


def _as_dict(body: dict | str | bytes) -> dict:
    if isinstance(body, (str, bytes, bytearray)):
        try:
            body = json.loads(body)  # Python's json reads NaN / Infinity, as TF Serving writes
        except ValueError as error:  # JSONDecodeError, or bytes that are not UTF-8
            raise ValueError(f"Expected a JSON response. Received: {body[:200]!r}") from error
    if not isinstance(body, dict):
        raise TypeError(f"Expected a JSON object (dict). Received: {type(body).__name__}")
    if "error" in body:
        raise ServingError(str(body["error"]))
    keys = [key for key in ("predictions", "outputs") if key in body]
    if len(keys) != 1:
        raise ValueError(
            "Expected a response with exactly one of 'predictions' (row format) or 'outputs' "
            f"(columnar format). Received: keys {sorted(body)}"
        )
    return body


def _outputs(body: dict | str | bytes) -> tuple[dict | None, Any]:
    """(outputs by name, or None when the response holds one unnamed output; raw value)."""
    body = _as_dict(body)
    if "outputs" in body:
        outputs = body["outputs"]
        return (outputs if isinstance(outputs, dict) else None), outputs
    rows = body["predictions"]
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"Expected a non-empty list of predictions. Received: {rows!r:.200}")
    if not any(isinstance(row, dict) for row in rows):
        return None, rows
    if not all(isinstance(row, dict) for row in rows):
        raise ValueError("Expected every prediction to be an object. Received: a mixed list")
    names = set(rows[0])
    if any(set(row) != names for row in rows):
        raise ValueError(
            "Expected the same outputs in every prediction. "
            f"Received: {sorted({tuple(sorted(row)) for row in rows})}"
        )
    return {name: [row[name] for row in rows] for name in names}, rows


def _array(value: Any, dtype: type, name: str, *, rank: int) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"Expected {name!r} to be a rectangular nested list of numbers. "
            f"Received: {str(value)[:200]}"
        ) from error
    if array.ndim != rank:
        raise ValueError(f"Expected {name!r} of rank {rank}. Received: shape {array.shape}")
    return array


def answer_locally(signatures, body: dict | str | bytes) -> dict:
    """Answers a predict request body from a loaded SavedModel, the way TF Serving would.

    For trying an export without a server: decodes the row (``"instances"``) or columnar
    (``"inputs"``) body, calls the signature, and encodes the outputs in the same format
    (a signature with one output loses its name, as in TF Serving).

    Args:
        signatures: ``tf.saved_model.load(path).signatures``.
        body: the request, as :func:`predict_request` builds it.

    Returns:
        The response body (a dict for ``json.dumps``).
    """
    import tensorflow as tf

    request = json.loads(body) if isinstance(body, (str, bytes, bytearray)) else dict(body)
    name = request.get("signature_name", SIGNATURE_EXPLAIN)
    if name not in signatures:
        return {"error": f"Serving signature name: \"{name}\" not found in signature def"}
    if "instances" in request:
        rows = request["instances"]
        columns = ({key: [row[key] for row in rows] for key in rows[0]}
                   if rows and isinstance(rows[0], dict) else {"images": rows})
    else:
        inputs = request["inputs"]
        columns = inputs if isinstance(inputs, dict) else {"images": inputs}
    feed = {"images": tf.constant(np.asarray(columns["images"], np.float32))}
    if "targets" in columns:
        feed["targets"] = tf.constant(np.asarray(columns["targets"], np.int64))
    outputs = {key: value.numpy().tolist() for key, value in signatures[name](**feed).items()}
    if "instances" in request:
        count = len(next(iter(outputs.values())))
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values()))}
        return {"predictions": [{key: value[i] for key, value in outputs.items()}
                                for i in range(count)]}
    return {"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs}
