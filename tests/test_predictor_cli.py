"""`neuromask train-predictor` and `neuromask export-predictor`: files in, files out."""

import os

import keras
import numpy as np
from conftest import oracle_classifier, oracle_images
from PIL import Image

from keras_neuromask import MaskPredictor
from keras_neuromask.cli.main import main


def test_train_then_export_a_predictor_from_the_command_line(tmp_path, capsys):
    model_path = str(tmp_path / "oracle.keras")
    oracle_classifier().save(model_path)
    folder = tmp_path / "train"
    folder.mkdir()
    for index, image in enumerate(np.rint(oracle_images(6, seed=2) * 255).astype(np.uint8)):
        Image.fromarray(image).save(folder / f"image{index}.png")
    out = str(tmp_path / "predictor.keras")
    assert main(["train-predictor", str(folder / "*.png"), "--model", model_path, "--out", out,
                 "--epochs", "2", "--encoder", "conv", "--batch-size", "3"]) == 0
    assert "trained on 6 image(s)" in capsys.readouterr().out
    predictor = keras.saving.load_model(out)
    assert isinstance(predictor, MaskPredictor) and predictor.encoder == "conv"
    assert main(["export-predictor", out, "--out", str(tmp_path / "models"),
                 "--refine-steps", "2"]) == 0
    assert "2 refinement steps" in capsys.readouterr().out
    assert os.path.isfile(tmp_path / "models" / "1" / "saved_model.pb")


def test_user_mistakes_end_with_one_line(tmp_path, capsys):
    assert main(["train-predictor", "x.png", "--model", "m.keras", "--out", "p.h5"]) == 2
    assert "Expected --out to end with .keras" in capsys.readouterr().err
    model_path = str(tmp_path / "oracle.keras")
    oracle_classifier().save(model_path)
    assert main(["export-predictor", model_path, "--out", str(tmp_path / "m")]) == 2
    assert "Expected a MaskPredictor .keras file" in capsys.readouterr().err


def test_help_of_both_commands_shows_an_example():
    from keras_neuromask.cli.main import build_parser

    choices = build_parser()._subparsers._group_actions[0].choices
    for command in ("train-predictor", "export-predictor"):
        assert "example:\n  neuromask " + command in choices[command].format_help()
