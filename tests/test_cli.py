"""The `neuromask` command line, driven as a subprocess on generated files."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import oracle_classifier, oracle_images
from PIL import Image

# The subprocesses import this checkout's package, whatever is installed.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHONPATH = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": PYTHONPATH}


def neuromask(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "keras_neuromask", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env={**ENV, **(env or {})},
                          timeout=600)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    oracle_classifier().save(folder / "oracle.keras")
    for i, image in enumerate(oracle_images(3)):
        Image.fromarray((image * 255).astype(np.uint8)).resize((64, 64), Image.NEAREST).save(
            folder / f"img{i}.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG not really")
    return folder


def test_explain_writes_overlays_masks_and_a_summary(workdir):
    done = neuromask("explain", "img0.png", "img1.png", "--model", "oracle.keras",
                     "--input-range", "0-1", "--steps", "60", "--out", "out", cwd=workdir)
    assert done.returncode == 0, done.stderr
    out = workdir / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert [r["target"] for r in summary["images"]] == [0, 1]
    for record in summary["images"]:
        assert set(record) >= {"input_path", "target", "class_name", "original_probability",
                               "masked_probability", "mask_area", "steps", "seconds", "framing"}
        assert record["class_name"] is None  # 3 outputs, no --labels: no names
        assert 0 <= record["mask_area"] <= 1 and record["steps"] == 60
        assert record["original_probability"] > 0.5
    overlay = Image.open(out / "img0.overlay.png")
    assert overlay.size == (64, 64) and overlay.mode == "RGB"  # the image's own size
    mask_png = np.asarray(Image.open(out / "img0.mask.png"))
    assert mask_png.shape == (64, 64) and mask_png.dtype == np.uint8  # the photo's pixels
    mask = np.load(out / "img0.mask.npy")
    assert mask.shape == (64, 64) and 0 <= mask.min() and mask.max() <= 1
    assert mask[16:32, 32:48].mean() > 3 * mask.mean() / 2  # the oracle's patch stands out
    assert (out / "index.html").exists()
    assert "img0.png: class 0, p " in done.stdout  # one line per image
    for record in summary["images"]:  # the blurred oracle patch loses its texture: chance
        assert abs(record["baseline_probability"] - 1 / 3) < 0.02
        assert record["baseline_keeps_class"] == (
            record["baseline_probability"] >= 0.5 * record["original_probability"])


def test_a_model_the_baseline_satisfies_gets_one_line_saying_so(tmp_path):
    from keras_neuromask.evaluation import known_answers as ka

    ka.known_answer_model("colour", 32).save(tmp_path / "colour.keras")
    for i, image in enumerate(ka.known_answer_images("colour", 2, 32).images):
        Image.fromarray((image * 255).astype(np.uint8)).save(tmp_path / f"c{i}.png")
    done = neuromask("explain", "c0.png", "c1.png", "--model", "colour.keras",
                     "--input-range", "0-1", "--steps", "10", "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if "baseline alone keeps" in line]
    assert len(lines) == 2 and "c0.png" in lines[0] and "c1.png" in lines[1]
    records = json.loads((tmp_path / "out" / "summary.json").read_text())["images"]
    assert all(r["baseline_keeps_class"] for r in records)
    assert all(r["baseline_probability"] >= 0.5 * r["original_probability"] for r in records)


@pytest.fixture(scope="module")
def wide_photos(workdir):
    """32 x 64 photos whose oracle patch sits where a centre crop puts it at rows 8:16,
    columns 16:24 of the 32 x 32 input: rows 8:16, columns 32:40 of the photo."""
    names = []
    for i, image in enumerate(oracle_images(2, seed=5)):
        photo = np.random.default_rng(i).uniform(0.2, 0.8, (32, 64, 3)).astype(np.float32)
        photo[:, 16:48] = image
        Image.fromarray(np.rint(photo * 255).astype(np.uint8)).save(workdir / f"wide{i}.png")
        names.append(f"wide{i}.png")
    (workdir / "labels.txt").write_text("red patch\ngreen patch\nblue patch\n")
    return names


def test_a_wide_photo_is_centre_cropped_and_its_mask_lands_on_the_patch_of_the_photo(
        workdir, wide_photos):
    done = neuromask("explain", *wide_photos, "--model", "oracle.keras", "--input-range",
                     "0-1", "--steps", "60", "--labels", "labels.txt", "--out", "wide",
                     cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "wide0.png: red patch (0), p " in done.stdout
    assert "wide1.png: green patch (1), p " in done.stdout
    out = workdir / "wide"
    summary = json.loads((out / "summary.json").read_text())
    assert [r["class_name"] for r in summary["images"]] == ["red patch", "green patch"]
    assert summary["images"][0]["framing"]["source"] == [0, 16, 32, 32]
    for i in range(2):
        mask = np.load(out / f"wide{i}.mask.npy")
        assert mask.shape == (32, 64)  # the photo's own pixels
        assert not mask[:, :16].any() and not mask[:, 48:].any()  # not seen by the model
        assert mask[8:16, 32:40].mean() > 3 * mask[:, 16:48].mean() / 2  # the oracle's patch
        overlay = np.asarray(Image.open(out / f"wide{i}.overlay.png"))
        assert overlay.shape == (32, 64, 3)
        edge = overlay[20:, :16].astype(int)  # faded to gray outside the crop
        assert (edge[..., 0] == edge[..., 1]).all() and (edge[..., 1] == edge[..., 2]).all()
    page = (out / "index.html").read_text()
    assert "red patch (0)" in page and "wide0.overlay.png" in page


def test_pad_and_squash_are_chosen_with_resize_and_recorded(workdir, wide_photos):
    for mode, source, target in (("pad", [0, 0, 32, 64], [8, 0, 16, 32]),
                                 ("squash", [0, 0, 32, 64], [0, 0, 32, 32])):
        done = neuromask("explain", wide_photos[0], "--model", "oracle.keras", "--steps",
                         "2", "--resize", mode, "--labels", "none", "--out", mode, cwd=workdir)
        assert done.returncode == 0, done.stderr
        record = json.loads((workdir / mode / "summary.json").read_text())["images"][0]
        assert record["framing"]["source"] == source and record["framing"]["target"] == target
        assert np.load(workdir / mode / "wide0.mask.npy").shape == (32, 64)


def test_a_failing_image_keeps_the_others_and_exits_non_zero(workdir):
    done = neuromask("explain", "img0.png", "corrupt.png", "missing.png", "img2.png",
                     "--model", "oracle.keras", "--steps", "5", "--out", "partial",
                     cwd=workdir)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "corrupt.png" in done.stderr
    summary = json.loads((workdir / "partial" / "summary.json").read_text())
    assert [os.path.basename(r["input_path"]) for r in summary["images"]] == ["img0.png",
                                                                             "img2.png"]
    assert len(summary["run"]["failed"]) == 2
    assert (workdir / "partial" / "img2.mask.npy").exists()


@pytest.mark.parametrize("args,expected", [
    (["explain", "img0.png", "--model", "nothere.keras"], "nothere.keras"),
    (["explain", "img0.png", "--model", "oracle.keras", "--target", "7"], "targets"),
    (["explain", "img0.png", "--model", "oracle.keras", "--steps", "0"], "steps"),
    (["explain", "img0.png", "--model", "oracle.keras", "--labels", "nothere.txt"],
     "labels file"),
    (["explain", "img0.png", "--model", "oracle.keras", "--labels", "img0.png"], "labels"),
])
def test_user_mistakes_end_in_one_line_and_exit_code_two(workdir, args, expected):
    done = neuromask(*args, cwd=workdir)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    error_lines = [line for line in done.stderr.splitlines() if line.startswith("neuromask:")]
    assert len(error_lines) == 1 and expected in error_lines[0]


def test_debug_shows_the_traceback(workdir):
    done = neuromask("--debug", "explain", "img0.png", "--model", "nothere.keras", cwd=workdir)
    assert done.returncode != 0 and "Traceback" in done.stderr


def test_export_writes_a_tf_serving_version(workdir):
    done = neuromask("export", "--model", "oracle.keras", "--out", "models", "--steps", "5",
                     cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert (workdir / "models" / "1" / "saved_model.pb").exists()


@pytest.mark.parametrize("command", ["explain", "compare", "export", "explain-dataset", "demo",
                                     "bench"])
def test_help_of_each_command_shows_an_example(command):
    from keras_neuromask.cli.main import build_parser

    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[command]
    assert "example:" in sub.format_help() and "neuromask " + command in sub.format_help()


def test_demo_explains_compares_exports_and_answers_a_request(tmp_path):
    cache = tmp_path / "cache"
    done = neuromask("demo", "--out", tmp_path / "demo", "--images", "3", cwd=tmp_path,
                     env={"KERAS_NEUROMASK_CACHE": str(cache)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert not cache.exists()  # the shipped CNN: nothing trained, nothing cached
    # Not a terminal: one line per stage, no progress bar, no TensorFlow retracing warning.
    log = done.stdout + done.stderr
    assert "\r" not in log and "━" not in log and "retracing" not in log
    stages = [line for line in done.stdout.splitlines() if line[:4] in ("1/4 ", "2/4 ", "3/4 ",
                                                                          "4/4 ")]
    assert [line[:3] for line in stages] == ["1/4", "2/4", "3/4", "4/4"]
    demo = tmp_path / "demo"
    summary = json.loads((demo / "explanations" / "summary.json").read_text())
    assert len(summary["images"]) == 3
    assert {r["class_name"] for r in summary["images"]} <= {"square", "disc", "triangle",
                                                            "plus", "ring"}
    assert (demo / "explanations" / "index.html").exists()
    page = (demo / "comparison" / "index.html").read_text()
    assert page.count("<img ") == 3 * 10  # the photo and 9 methods per image
    table = (demo / "comparison" / "comparison.md").read_text()
    for method in ("neuromask", "saliency", "smoothgrad", "gradcam", "gradcam++", "scorecam",
                   "layercam", "rise"):
        assert f"| {method} |" in table
    assert (demo / "comparison" / "comparison.png").exists()
    assert (demo / "served_model" / "1" / "saved_model.pb").exists()
    response = json.loads((demo / "served_response.json").read_text())
    assert len(response["predictions"]) == 2 and "masks" in response["predictions"][0]
    difference = done.stdout.split("max |mask difference| vs in-process ")[1].split(";")[0]
    assert float(difference) <= 1e-4


def test_compare_writes_the_grid_and_the_metrics_table(workdir):
    done = neuromask("compare", "img0.png", "img1.png", "--model", "oracle.keras",
                     "--input-range", "0-1", "--steps", "30", "--methods",
                     "neuromask,saliency,gradcam", "--out", "cmp", cwd=workdir)
    assert done.returncode == 0, done.stderr[-2000:]
    table = (workdir / "cmp" / "comparison.md").read_text()
    assert all(f"| {name} |" in table for name in ("neuromask", "saliency", "gradcam"))
    grid = Image.open(workdir / "cmp" / "comparison.png")
    assert grid.size == (4 * 96, 2 * 96)
    rows = json.loads((workdir / "cmp" / "comparison.json").read_text())["rows"]
    assert all(0 <= row["insertion"] <= 1 for row in rows)
    assert "img0.png: class 0, p " in done.stdout
    page = (workdir / "cmp" / "index.html").read_text()
    assert page.count("<img ") == 2 * 4  # per image: the photo and 3 overlays, embedded
    assert page.count('src="data:image/jpeg;base64,') == 8
    assert "Methods (means over the images)" in page and "neuromask deletion" in page


def test_explain_dataset_passes_beam_options_on_and_other_commands_refuse_them(monkeypatch,
                                                                              capsys):
    from keras_neuromask.cli import dataset
    from keras_neuromask.cli.main import main

    seen = {}
    monkeypatch.setattr(dataset, "run_explain_dataset", lambda args: seen.update(vars(args)))
    base = ["explain-dataset", "a/*.png", "b.jpg", "--model-dir", "m/1", "--out", "o"]
    main([*base, "--project=p", "--", "--save_main_session", "--region", "r"])
    assert seen["patterns"] == ["a/*.png", "b.jpg"] and seen["runner"] == "DirectRunner"
    assert seen["beam_args"] == ["--project=p", "--save_main_session", "--region", "r"]
    with pytest.raises(SystemExit) as exit_code:  # 'p' would otherwise become a pattern
        main([*base, "--project", "p"])
    assert exit_code.value.code == 2
    assert "Expected Beam options as --name=value, or after '--'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", "--model", "m.keras", "--out", "o", "--project=p"])
    assert "unrecognized arguments: --project=p" in capsys.readouterr().err


def test_explain_dataset_without_the_beam_extra_says_how_to_install_it(monkeypatch, capsys):
    from keras_neuromask.cli.main import main

    monkeypatch.setitem(sys.modules, "apache_beam", None)  # import apache_beam fails
    for name in [n for n in sys.modules if n.startswith("keras_neuromask.serving.beam")]:
        monkeypatch.delitem(sys.modules, name)
    assert main(["explain-dataset", "a/*.png", "--model-dir", "m/1", "--out", "o"]) == 2
    assert 'pip install "keras-neuromask[beam]"' in capsys.readouterr().err


def _noise(stderr):
    from keras_neuromask.cli.quiet import is_start_up_noise

    return [line for line in stderr.splitlines() if is_start_up_noise(line)]


def test_the_terminal_shows_no_tensorflow_start_up_lines_unless_debug(workdir):
    quiet_env = {k: v for k, v in ENV.items() if not k.startswith("TF_CPP")}
    bare = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True,
                          text=True, env=quiet_env, timeout=600)
    args = ("explain", "img0.png", "--model", "oracle.keras", "--steps", "2", "--out", "quiet")
    run = [sys.executable, "-m", "keras_neuromask"]
    quiet = subprocess.run([*run, *args], capture_output=True, text=True, cwd=workdir,
                           env=quiet_env, timeout=600)
    assert quiet.returncode == 0, quiet.stderr
    assert _noise(quiet.stderr) == [] and "oneDNN" not in quiet.stderr
    debug = subprocess.run([*run, "--debug", *args], capture_output=True, text=True,
                           cwd=workdir, env=quiet_env, timeout=600)
    assert debug.returncode == 0, debug.stderr
    # --debug leaves TensorFlow's log alone: what a bare import prints, the command prints
    expected = {line.split("]", 1)[1] for line in _noise(bare.stderr) if "]" in line}
    assert expected <= {line.split("]", 1)[1] for line in _noise(debug.stderr) if "]" in line}


def test_start_up_noise_is_recognised_and_other_lines_are_kept():
    from keras_neuromask.cli.quiet import is_start_up_noise

    assert is_start_up_noise("I0000 00:00:1796398110.642729    2698 port.cc:153] oneDNN custom")
    assert is_start_up_noise("2025-09-17 14:44:05.157831: I external/local_xla/xla/tsl/cuda/"
                             "cudart_stub.cc:32] Could not find cuda drivers")
    assert is_start_up_noise("WARNING: All log messages before absl::InitializeLog() is called "
                             "are written to STDERR")
    assert not is_start_up_noise("neuromask: error: Expected a readable image file.")
    assert not is_start_up_noise("UserWarning: something the user should see")
