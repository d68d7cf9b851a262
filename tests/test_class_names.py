"""Class names: the shipped ImageNet list, labels files, and which names a run gets."""

import json

import pytest

from keras_neuromask.class_names import (
    class_name,
    imagenet_class_names,
    read_class_names,
    resolve_class_names,
)


def test_the_shipped_imagenet_names_are_the_standard_order():
    names = imagenet_class_names()
    assert len(names) == 1000
    assert (names[0], names[1], names[285], names[967], names[999]) == (
        "tench", "goldfish", "Egyptian cat", "espresso", "toilet tissue")
    names[0] = "changed"  # a copy: the caller cannot change the shipped list
    assert imagenet_class_names()[0] == "tench"


@pytest.mark.parametrize("name, text", [
    ("labels.txt", "cat\ndog\n bird \n\n"),
    ("labels.json", json.dumps(["cat", "dog", "bird"])),
    ("labels.json", json.dumps({"2": "bird", "0": "cat", "1": "dog"})),
    ("labels.json", json.dumps({"0": ["n1", "cat"], "1": ["n2", "dog"], "2": ["n3", "bird"]})),
])
def test_every_labels_format_reads_as_one_name_per_class(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert read_class_names(path) == ["cat", "dog", "bird"]


@pytest.mark.parametrize("name, text, expected", [
    ("empty.txt", "", "at least one"),
    ("gap.txt", "cat\n\ndog\n", "non-empty string"),
    ("bad.json", "{not json", "valid JSON"),
    ("keys.json", json.dumps({"a": "cat"}), "indices"),
    ("hole.json", json.dumps({"0": "cat", "2": "dog"}), "without [1]"),
    ("number.json", json.dumps([1, 2]), "non-empty string"),
])
def test_bad_labels_files_raise_value_error(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="Expected") as error:
        read_class_names(path)
    assert expected in str(error.value)


def test_a_missing_labels_file_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="Expected a readable labels file"):
        read_class_names(tmp_path / "nothere.txt")


def test_imagenet_names_are_automatic_for_1000_outputs_only(tmp_path):
    assert resolve_class_names(None, 1000)[285] == "Egyptian cat"
    assert resolve_class_names(None, 10) is None and resolve_class_names(None, None) is None
    assert resolve_class_names("none", 1000) is None and resolve_class_names("NONE", 3) is None
    path = tmp_path / "labels.txt"
    path.write_text("a\nb\nc\n")
    assert resolve_class_names(path, 3) == ["a", "b", "c"]
    assert resolve_class_names(["x", "y"], 2) == ["x", "y"]


def test_names_that_are_not_one_per_class_raise_value_error(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("a\nb\n")
    with pytest.raises(ValueError, match=r"Expected one class name per output of the model "
                                         r"\(1000\). Received: 2 names"):
        resolve_class_names(path, 1000)
    with pytest.raises(TypeError, match="Expected labels"):
        resolve_class_names(3, 3)


def test_class_name_is_none_without_names_or_outside_them():
    assert class_name(["a", "b"], 1) == "b"
    assert class_name(None, 1) is None and class_name(["a"], 5) is None
