"""The Beam pipeline (keras_neuromask.serving.beam): the masks of ``explain``, a dead letter
for bad input, the same files on every run, on the DirectRunner with two worker processes."""

import glob
import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from keras_neuromask import NeuroMask, export_saved_model
from keras_neuromask.evaluation.datasets import make_shapes, trained_shapes_cnn
from keras_neuromask.image_io import load_image

try:
    import apache_beam as beam
except ImportError:  # reported by the first test; the others cannot run
    beam = None
needs_beam = pytest.mark.skipif(beam is None, reason='apache-beam is missing: pip install -e '
                                '".[dev]" (test_beam_is_installed_by_the_dev_extra fails)')
STEPS, BATCH = 20, 8


def test_beam_is_installed_by_the_dev_extra():
    assert beam is not None, 'pip install -e ".[dev]" installs apache-beam (setup.py)'


def _scaled(pixels):
    return pixels / 255.0  # the shapes CNN takes [0, 1]; files hold [0, 255]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    explainer = NeuroMask(trained_shapes_cnn(), steps=STEPS, preprocess=_scaled)
    return explainer, export_saved_model(explainer, str(tmp_path_factory.mktemp("models")))


def _image_folder(folder, count):
    """``count`` generated PNGs and three corrupt files; returns the good files, sorted."""
    os.makedirs(folder)
    pixels = np.rint(make_shapes(count, seed=5).images * 255).astype(np.uint8)
    for index, image in enumerate(pixels):
        Image.fromarray(image).save(os.path.join(folder, f"shape{index:02d}.png"))
    encoded = open(os.path.join(folder, "shape00.png"), "rb").read()
    for name, data in [("truncated.png", encoded[:len(encoded) // 2]),
                       ("notes.png", b"not an image"), ("empty.png", b"")]:
        open(os.path.join(folder, name), "wb").write(data)
    return sorted(glob.glob(os.path.join(folder, "shape*.png")))


def _files(folder):
    return {name: open(os.path.join(folder, name), "rb").read()
            for name in sorted(os.listdir(folder))}


def _explained_in_process(explainer, paths):
    images = np.stack([load_image(path, (32, 32), 3).array for path in paths])
    parts = [explainer.explain(images[i:i + BATCH])  # the pipeline's batches: name order,
             for i in range(0, len(images), BATCH)]  # the last one short (oneDNN rounds
    return {"masks": np.concatenate([p.masks for p in parts]),  # other sizes differently)
            "targets": np.concatenate([p.targets for p in parts])}


def _explain_dataset_twice(explainer, model_dir, tmp_path, capsys, count, rerun_args):
    """Runs the command with two worker processes on ``count`` images and three corrupt
    files, checks its files against in-process ``explain``, reruns it with ``rerun_args``
    and checks that the rerun wrote the same bytes."""
    from keras_neuromask.cli.main import main

    good = _image_folder(str(tmp_path / "images"), count)
    out = str(tmp_path / "results")
    argv = ["explain-dataset", str(tmp_path / "images" / "*.png"), "--model-dir", model_dir,
            "--out", out, "--batch-size", str(BATCH)]
    assert main([*argv, "--workers", "2"]) == 1  # some inputs went to the dead letter
    assert f"explained {count} image(s)" in capsys.readouterr().out
    first = _files(out)

    expected = _explained_in_process(explainer, good)
    records = [json.loads(line) for line in first["results.jsonl"].decode().splitlines()]
    assert [r["name"] for r in records] == good
    for record, mask, target in zip(records, expected["masks"], expected["targets"]):
        written = np.load(os.path.join(out, record["outputs"]["mask_npy"]))
        assert np.abs(written - mask).max() <= 1e-5, record["name"]
        assert record["target"] == target and record["steps"] == STEPS
        stem = os.path.basename(record["name"])[:-len(".png")]
        assert record["outputs"] == {"mask_png": f"{stem}.mask.png",
                                     "mask_npy": f"{stem}.mask.npy"}
    dead = [json.loads(line) for line in first["dead_letter.jsonl"].decode().splitlines()]
    assert [os.path.basename(d["name"]) for d in dead] == ["empty.png", "notes.png",
                                                           "truncated.png"]
    assert all(d["stage"] == "read" and "Expected a readable image file" in d["reason"]
               for d in dead)
    assert "truncated" in dead[2]["reason"]
    assert len(first) == 3 + 2 * count  # results, dead letter, page, a PNG and .npy per image
    page = first["index.html"].decode()
    assert page.count("<img ") == count and "Not explained (3)" in page
    assert all(r["class_name"] is None and r["framing"]["resize"] == "crop" for r in records)

    assert main([*argv, *rerun_args]) == 1
    assert _files(out) == first  # same names, same bytes


@needs_beam
def test_two_worker_processes_write_explains_masks_and_a_dead_letter_and_rerun_the_same(
        exported, tmp_path, capsys):
    # 12 images (two batches of 8 and 4); the rerun runs in this process (a different split
    # into bundles) and must still write the same bytes
    _explain_dataset_twice(*exported, tmp_path, capsys, 12, ["--direct_running_mode=in_memory",
                                                             "--direct_num_workers=1"])


@pytest.mark.slow  # 53 s and 108 s here (2 CPU cores shared with other jobs)
def test_64_images_on_two_worker_processes_twice_give_explains_masks_and_the_same_files(
        exported, tmp_path, capsys):
    _explain_dataset_twice(*exported, tmp_path, capsys, 64, ["--workers", "2"])


def _collect(pcollection, folder, label):
    """Pickles each element to ``folder`` (the pipeline's output, read after it ran)."""
    def dump(element):
        import pickle
        import uuid

        with open(os.path.join(folder, f"{label}-{uuid.uuid4().hex}.pickle"), "wb") as f:
            pickle.dump(element, f)

    return pcollection | f"Collect {label}" >> beam.Map(dump)


def _collected(folder, label):
    import pickle

    return [pickle.load(open(path, "rb")) for path in glob.glob(f"{folder}/{label}-*.pickle")]


@needs_beam
def test_explain_images_takes_bytes_arrays_and_targets_and_dead_letters_nan_and_wrong_shapes(
        exported, tmp_path):
    from keras_neuromask.image_io import decode_image
    from keras_neuromask.serving.beam import ExplainImages, ImageInput

    explainer, model_dir = exported
    pixels = np.rint(make_shapes(5, seed=9).images * 255).astype(np.float32)
    png = open(_image_folder(str(tmp_path / "images"), 1)[0], "rb").read()
    inputs = [ImageInput("a-array", pixels[0]), ImageInput("b-target", pixels[1], target=2),
              ImageInput("c-bytes", png), ImageInput("d-array", pixels[2]),
              ImageInput("e-nan", np.full((32, 32, 3), np.nan, np.float32)),
              ImageInput("f-small", pixels[3][:16]), ImageInput("g-target", pixels[4], 9),
              ImageInput("h-twice", pixels[0]), ImageInput("h-twice", pixels[1]), 42]
    folder = str(tmp_path)
    with beam.Pipeline(options=beam.options.pipeline_options.PipelineOptions(
            ["--direct_running_mode=in_memory"])) as pipeline:
        outputs = (pipeline | beam.Create(inputs, reshuffle=False)
                   | ExplainImages(model_dir, batch_size=4, overlay=True))
        _collect(outputs.results, folder, "result")
        _collect(outputs.dead_letter, folder, "dead")

    results = sorted(_collected(folder, "result"), key=lambda r: r.name)
    dead = {d.name: d.reason for d in _collected(folder, "dead")}
    assert [r.name for r in results] == ["a-array", "b-target", "c-bytes", "d-array"]
    assert sorted(dead) == ["42", "e-nan", "f-small", "g-target", "h-twice"]
    assert "Expected finite pixel values" in dead["e-nan"]
    assert "Expected pixels of shape (32, 32, 3)" in dead["f-small"]
    assert "Expected a target in [0, 4). Received: 9" in dead["g-target"]
    assert "Expected unique image names. Received: 2" in dead["h-twice"]
    # one batch of four, in name order; b's target is given, the others' are predicted
    images = np.stack([pixels[0], pixels[1], decode_image(png, (32, 32)).array, pixels[2]])
    predicted = explainer.classifier.predict(images / 255.0, verbose=0).argmax(-1)
    targets = [int(predicted[0]), 2, int(predicted[2]), int(predicted[3])]
    expected = explainer.explain(images, targets=targets, batch_size=4)
    for result, mask, target in zip(results, expected.masks, targets):
        assert np.abs(result.mask - mask).max() <= 1e-5 and result.target == target
        assert result.mask.dtype == np.float32 and result.steps == STEPS
        assert result.mask_png.startswith(b"\x89PNG")
        assert Image.open(io.BytesIO(result.overlay_png)).size == (32, 32)


@needs_beam
def test_a_wide_photo_is_centre_cropped_and_its_mask_and_class_name_come_back_on_the_photo(
        exported, tmp_path):
    from keras_neuromask.evaluation.datasets import SHAPE_NAMES
    from keras_neuromask.serving.beam import ExplainImages, ImageInput

    explainer, model_dir = exported
    shape = np.rint(make_shapes(1, seed=9).images[0] * 255).astype(np.uint8)
    photo = np.random.default_rng(0).integers(0, 255, (32, 64, 3), dtype=np.uint8)
    photo[:, 16:48] = shape  # the centre crop is the shape image, exactly
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="PNG")
    folder = str(tmp_path)
    with beam.Pipeline(options=beam.options.pipeline_options.PipelineOptions(
            ["--direct_running_mode=in_memory"])) as pipeline:
        outputs = (pipeline | beam.Create([ImageInput("wide", buffer.getvalue())])
                   | ExplainImages(model_dir, overlay=True, class_names=SHAPE_NAMES))
        _collect(outputs.results, folder, "result")
    (result,) = _collected(folder, "result")
    expected = explainer.explain(shape[None].astype(np.float32), batch_size=1)
    assert result.mask.shape == (32, 64)  # the photo's own pixels
    assert np.abs(result.mask[:, 16:48] - expected.masks[0]).max() <= 1e-5
    assert not result.mask[:, :16].any() and not result.mask[:, 48:].any()
    assert result.class_name == SHAPE_NAMES[int(expected.targets[0])]
    assert result.framing["source"] == [0, 16, 32, 32]
    assert Image.open(io.BytesIO(result.overlay_png)).size == (64, 32)


@needs_beam
def test_the_handler_runs_under_runinference_with_beams_batching(exported):
    from apache_beam.ml.inference.base import RunInference
    from apache_beam.testing.util import assert_that

    from keras_neuromask.serving.beam import ImageExample, SavedModelExplainHandler

    _, model_dir = exported
    pixels = np.rint(make_shapes(6, seed=2).images * 255).astype(np.float32)
    handler = SavedModelExplainHandler(model_dir, min_batch_size=2, max_batch_size=3)
    assert handler.batch_elements_kwargs() == {"min_batch_size": 2, "max_batch_size": 3}

    def check(predictions):
        assert len(predictions) == 6
        for prediction in predictions:
            result = prediction.inference
            assert result.mask.shape == (32, 32) and result.steps == STEPS
            assert result.target == 1  # every example asked for class 1
            assert prediction.model_id == model_dir

    with beam.Pipeline() as pipeline:
        predictions = (pipeline | beam.Create([ImageExample(p, 1) for p in pixels])
                       | RunInference(handler))
        assert_that(predictions | beam.combiners.ToList(), lambda lists: check(lists[0]))


@needs_beam
def test_export_info_reads_the_shapes_and_refuses_other_folders(exported, tmp_path):
    from keras_neuromask.serving.beam import ExplainImages, export_info

    _, model_dir = exported
    assert export_info(model_dir) == ((32, 32, 3), 4)
    with pytest.raises(ValueError, match="Expected a SavedModel version folder"):
        export_info(str(tmp_path))
    with pytest.raises(ValueError, match=r"Expected image_size to be the export's input size "
                                         r"\(32, 32\). Received: \(64, 64\)"):
        ExplainImages(model_dir, image_size=(64, 64))
    with pytest.raises(ValueError, match="Expected batch_size"):
        ExplainImages(model_dir, batch_size=0)
    with pytest.raises(ValueError, match="Expected mask_array"):
        ExplainImages(model_dir, mask_array="int8")


@needs_beam
def test_output_names_are_the_clis_whatever_the_order_and_outputs_are_never_read_back(tmp_path):
    from keras_neuromask.serving.beam.pipeline import MatchPattern
    from keras_neuromask.serving.beam.writing import output_stems

    names = ["b/cat.png", "a/cat.png", "a/CAT.jpg", "results.png"]
    stems = output_stems(names, str(tmp_path))
    assert stems == output_stems(names[::-1], str(tmp_path))
    assert stems == {"a/CAT.jpg": "CAT", "a/cat.png": "cat-2", "b/cat.png": "cat-3",
                     "results.png": "results"}
    for name in ("x.png", "x.mask.png", "x.overlay.png"):
        open(tmp_path / name, "wb").write(b"")
    found = list(MatchPattern(os.path.realpath(tmp_path)).process(str(tmp_path / "*.png")))
    assert found == [str(tmp_path / "x.png")]


@needs_beam
def test_pipeline_options_default_to_a_multi_process_direct_runner_unless_told_otherwise():
    from keras_neuromask.serving.beam import pipeline_options

    options = pipeline_options(workers=3).get_all_options()
    assert options["runner"] == "DirectRunner" and options["direct_num_workers"] == 3
    assert options["direct_running_mode"] == "multi_processing"
    options = pipeline_options("DirectRunner", ["--direct_running_mode=in_memory",
                                                "--direct_num_workers=1"]).get_all_options()
    assert options["direct_running_mode"] == "in_memory" and options["direct_num_workers"] == 1
    flink = pipeline_options("FlinkRunner", ["--flink_master=host:8081"]).get_all_options(
        drop_default=True)
    assert flink["runner"] == "FlinkRunner" and "direct_running_mode" not in flink
    with pytest.raises(ValueError, match="Expected runner in"):
        pipeline_options("LocalRunner")


@needs_beam
def test_a_float16_mask_array_is_the_mask_to_half_precision():
    from apache_beam.ml.inference.base import PredictionResult

    from keras_neuromask.serving.beam.handler import MaskResult
    from keras_neuromask.serving.beam.transforms import _Format, _Source

    mask = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    prediction = PredictionResult(None, MaskResult(mask, 1, 0.9, 0.8, 20))
    (result,) = _Format((8, 8, 3), False, "float16").process((_Source("x", None), prediction))
    assert result.mask.dtype == np.float16 and np.abs(result.mask - mask).max() <= 5e-4
    assert result.mask_png is None and result.overlay_png is None and result.steps == 20
    nan = PredictionResult(None, MaskResult(mask * np.nan, 1, 0.9, np.nan, 20))
    (dead,) = _Format((8, 8, 3), True, None).process((_Source("y", None), nan))
    assert "Expected a finite mask" in dead.value.reason


@needs_beam
def test_explain_dataset_keeps_tensorflows_start_up_lines_of_its_workers_off_the_terminal(
        exported, tmp_path):
    import subprocess
    import sys

    from keras_neuromask.cli.quiet import is_start_up_noise

    _image_folder(str(tmp_path / "images"), 2)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-m", "keras_neuromask", "explain-dataset",
         str(tmp_path / "images" / "shape*.png"), "--model-dir", exported[1], "--out",
         str(tmp_path / "out"), "--workers", "2"],
        capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "explained 2 image(s)" in done.stdout
    assert [line for line in done.stderr.splitlines() if is_start_up_noise(line)] == []
