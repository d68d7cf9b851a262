"""The ``neuromask`` command line: its commands, image and model loading, and the demo."""

from keras_neuromask.cli.main import main

__all__ = ["main"]
