"""keras_neuromask.results.outputs: safe names, no escapes, no overwritten inputs, writers."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from keras_neuromask.results.outputs import (
    ImageSummary,
    atomic_write,
    plan_outputs,
    safe_output_path,
    sanitize_stem,
    write_mask_npy,
    write_mask_png,
    write_summary_json,
)


@pytest.mark.parametrize(
    "name, stem",
    [
        ("a/b/cat.png", "cat"),
        ("../x", "x"),
        ("../../etc/passwd", "passwd"),
        ("/etc/passwd", "passwd"),
        ("..", "image"),
        ("...png", "png"),
        ("", "image"),
        ("C:\\Users\\me\\dog.jpg", "dog"),
        ("evil\x00name.png", "evil_name"),
        ("my cat (1).PNG", "my_cat_1_"),
        ("-rf.png", "rf"),
        (".hidden.png", "hidden"),
        ("line\nbreak\t.png", "line_break_"),
        ("chat.tar.gz", "chat.tar"),
        ("CON.png", "_CON"),
        ("caf\u00e9.png", "caf\u00e9"),
        ("a\u202egnp.exe", "a_gnp"),
        ("x" * 300 + ".png", "x" * 100),
    ],
)
def test_sanitize_stem_keeps_one_plain_component(name, stem):
    result = sanitize_stem(name)
    assert result == stem
    assert "/" not in result and "\\" not in result and "\x00" not in result
    assert not result.startswith((".", "-"))


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "../../../../tmp/evil", "a/../../b",
                                  "..\\..\\win", "\x00", "~/.ssh/id_rsa", "/"])
def test_output_path_never_escapes_out_dir(tmp_path, name):
    out = tmp_path / "out"
    path = safe_output_path(out, name, ".mask.png")
    assert path.parent == out.resolve()
    assert os.path.commonpath([path, out.resolve()]) == str(out.resolve())


def test_same_stem_in_two_folders_is_deduplicated(tmp_path):
    taken = set()
    first = safe_output_path(tmp_path, "a/cat.png", ".mask.png", taken=taken)
    second = safe_output_path(tmp_path, "b/cat.png", ".mask.png", taken=taken)
    third = safe_output_path(tmp_path, "c/CAT.jpg", ".mask.png", taken=taken)
    assert [p.name for p in (first, second, third)] == [
        "cat.mask.png", "cat-2.mask.png", "CAT-3.mask.png"]


def test_output_is_never_an_input_path(tmp_path):
    source = tmp_path / "cat.mask.png"
    source.write_bytes(b"input")
    path = safe_output_path(tmp_path, "cat.png", ".mask.png", inputs=[source])
    assert path.name == "cat-2.mask.png"
    assert path != source.resolve()


def test_output_through_a_symlink_to_an_input_is_avoided(tmp_path):
    source = tmp_path / "photos" / "cat.png"
    source.parent.mkdir()
    source.write_bytes(b"input")
    out = tmp_path / "out"
    out.mkdir()
    (out / "cat.png").symlink_to(source)
    path = safe_output_path(out, "cat.jpg", ".png", inputs=[source])
    assert path.name == "cat-2.png"


def test_plan_outputs_shares_one_stem_per_input_and_avoids_inputs(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    inputs = [tmp_path / "a" / "cat.png", tmp_path / "b" / "cat.png", out / "dog.mask.png",
              out / "dog.png"]
    suffixes = [".overlay.png", ".mask.png", ".mask.npy"]
    plans = plan_outputs(out, inputs, suffixes, reserved=["summary.json"])
    names = [[p[s].name for s in suffixes] for p in plans]
    assert names[0] == ["cat.overlay.png", "cat.mask.png", "cat.mask.npy"]
    assert names[1] == ["cat-2.overlay.png", "cat-2.mask.png", "cat-2.mask.npy"]
    assert names[2] == ["dog.mask.overlay.png", "dog.mask.mask.png", "dog.mask.mask.npy"]
    assert names[3] == ["dog-2.overlay.png", "dog-2.mask.png", "dog-2.mask.npy"]  # not dog.mask.png
    every = [p for plan in plans for p in plan.values()]
    assert len(set(every)) == len(every)
    assert not {p.resolve() for p in every} & {p.resolve() for p in inputs}


def test_reserved_names_are_not_handed_out(tmp_path):
    plans = plan_outputs(tmp_path, ["summary.png"], [".json"], reserved=["summary.json"])
    assert plans[0][".json"].name == "summary-2.json"


@pytest.mark.parametrize("suffix", ["/x.png", "../x", ".png/..", "a\x00b", 3, "." * 50])
def test_bad_suffix_raises_value_error(tmp_path, suffix):
    with pytest.raises(ValueError, match="Expected `suffix`"):
        safe_output_path(tmp_path, "cat.png", suffix)


def test_out_dir_that_is_a_file_raises_value_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="Expected `out_dir` to be a folder"):
        safe_output_path(tmp_path / "file", "cat.png", ".png")


def test_mask_png_is_8_bit_gray_with_rounded_values(tmp_path):
    mask = np.array([[0.0, 0.5], [1.0, 0.25]], np.float32)
    path = write_mask_png(mask, tmp_path / "sub" / "m.png")
    image = Image.open(path)
    assert image.mode == "L" and image.size == (2, 2)
    np.testing.assert_array_equal(np.asarray(image), [[0, 128], [255, 64]])


def test_mask_npy_round_trips_exactly(tmp_path):
    mask = np.random.default_rng(0).uniform(size=(5, 7)).astype(np.float32)
    path = write_mask_npy(mask, tmp_path / "m.npy")
    loaded = np.load(path, allow_pickle=False)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, mask)


@pytest.mark.parametrize("mask", [np.full((2, 2), 1.5), np.full((2, 2), -0.1),
                                  np.array([[np.nan, 0.0]]), np.zeros((2, 2, 2)), np.zeros(3)])
def test_bad_masks_raise_value_error_and_write_nothing(tmp_path, mask):
    with pytest.raises(ValueError, match="Expected"):
        write_mask_png(mask, tmp_path / "m.png")
    with pytest.raises(ValueError, match="Expected"):
        write_mask_npy(mask, tmp_path / "m.npy")
    assert os.listdir(tmp_path) == []


def test_summary_json_has_every_field_and_is_valid_json(tmp_path):
    record = ImageSummary(
        input_path="in/cat.png", target=np.int64(3), original_probability=np.float32(0.9),
        masked_probability=0.8, mask_area=0.12, steps=300, seconds=1.5,
        outputs={"overlay": tmp_path / "cat.overlay.png", "mask_png": "cat.mask.png"},
    )
    nan_record = record._replace(masked_probability=float("nan"))
    path = write_summary_json([record, nan_record], tmp_path / "summary.json",
                              run={"model": "tiny.keras", "steps": np.int64(300)})
    document = json.loads(path.read_text())
    assert document["version"] == 1
    assert document["run"] == {"model": "tiny.keras", "steps": 300}
    first = document["images"][0]
    assert set(first) == {"input_path", "target", "class_name", "original_probability",
                          "masked_probability", "mask_area", "steps", "seconds", "outputs"}
    assert first["target"] == 3 and first["original_probability"] == pytest.approx(0.9)
    assert first["class_name"] is None  # no names known: null, and no framing key
    named = record._replace(class_name="Egyptian cat", framing={"resize": "crop"}).to_json()
    assert named["class_name"] == "Egyptian cat" and named["framing"] == {"resize": "crop"}
    assert first["outputs"]["overlay"] == str(tmp_path / "cat.overlay.png")
    assert document["images"][1]["masked_probability"] is None
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary left


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("old")

    def fail(handle):
        handle.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, fail)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_atomic_write_replaces_a_symlink_instead_of_following_it(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "out.png"
    link.symlink_to(victim)
    write_mask_png(np.zeros((2, 2)), link)
    assert victim.read_text() == "keep me"
    assert not link.is_symlink() and Image.open(link).size == (2, 2)
