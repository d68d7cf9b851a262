"""Packaging for keras-neuromask."""

from setuptools import find_packages, setup

BEAM = ["apache-beam>=2.77,<3"]
BENCHMARK = ["scikit-image", "scikit-learn"]

setup(
    name="keras-neuromask",
    version="0.1.0",
    description="NeuroMask explanations for Keras image classifiers: learned masks, "
    "TF Serving export, tf-keras-vis comparisons.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["keras_neuromask", "keras_neuromask.*"]),
    # The demo's trained CNN (keras_neuromask.evaluation.datasets.shipped_shapes_cnn) and the
    # ImageNet class names with their licence (keras_neuromask.class_names).
    package_data={"keras_neuromask.evaluation": ["data/*.keras"],
                  "keras_neuromask": ["data/imagenet_classes.txt",
                                      "data/imagenet_classes.LICENSE"]},
    include_package_data=True,
    python_requires=">=3.10,<3.13",
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3",
        "numpy",
        "pillow",
        "tf-keras-vis",
        "matplotlib",
    ],
    extras_require={
        # the sample photos of the real-photo benchmarks (evaluation.photo_composites)
        "benchmark": BENCHMARK,
        # keras_neuromask.serving.beam and `neuromask explain-dataset` (tested with 2.77;
        # Beam 2.77 caps pillow < 13 and protobuf < 7, both within TensorFlow's range).
        "beam": BEAM,
        # CI runs the benchmark's tests on a tiny instance and the Beam pipeline's tests, so
        # it installs both
        "dev": ["pytest", "ruff", "hypothesis", "tensorboard", *BENCHMARK, *BEAM],
    },
    entry_points={"console_scripts": ["neuromask=keras_neuromask.cli.main:main"]},
    license="Apache-2.0",
    classifiers=[
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
    ],
)
