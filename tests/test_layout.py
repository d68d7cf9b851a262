"""The package's layout shows its architecture: data flows one way, from the command line on
top down to the explainer and its maths at the bottom, and no module borrows another's
private names."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_neuromask"
# Bottom to top; a module may import from its own level or below.
LEVELS = {"": 0, "results": 1, "callbacks": 1, "amortised": 1, "evaluation": 2, "metrics": 2,
          "serving": 3, "bench": 4, "cli": 5, "__main__": 5}
# serving.beam: the optional Apache Beam pipeline, at serving's level (the only importer of Beam)
SUBPACKAGES = ("amortised", "results", "evaluation", "serving", "serving.beam", "bench", "cli")


def level_of(dotted: str) -> int:
    """The level of a module ``keras_neuromask.a.b`` (top-level modules: 0 unless named)."""
    parts = dotted.split(".")[1:]
    return LEVELS.get(parts[0], 0) if parts else 0


def package_imports(path: pathlib.Path):
    """``(imported module, names)`` of every ``keras_neuromask`` import in a file."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                "keras_neuromask"):
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                is_module = (PACKAGE.parent / (submodule.replace(".", "/") + ".py")).exists() \
                    or (PACKAGE.parent / submodule.replace(".", "/")).is_dir()
                yield (submodule if is_module else node.module), alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("keras_neuromask"):
                    yield alias.name, None


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        yield path, ".".join(relative.parts).removesuffix(".__init__")


@pytest.mark.parametrize("path, name", list(modules()), ids=lambda v: str(v)[-40:])
def test_no_module_imports_from_a_layer_above_it_or_a_private_name(path, name):
    for imported, alias in package_imports(path):
        assert level_of(imported) <= level_of(name), f"{name} imports {imported}"
        assert alias is None or not alias.startswith("_") or alias.startswith("__"), \
            f"{name} imports the private {alias} of {imported}"


@pytest.mark.parametrize("subpackage", SUBPACKAGES)
def test_each_subpackage_says_what_lives_there(subpackage):
    init = PACKAGE.joinpath(*subpackage.split("."), "__init__.py")
    doc = ast.get_docstring(ast.parse(init.read_text()))  # read, not imported (Beam optional)
    assert doc and len(doc.strip()) > 20


@pytest.mark.parametrize("path, name", list(modules()), ids=lambda v: str(v)[-40:])
def test_only_serving_beam_imports_apache_beam(path, name):
    """Beam is an optional extra: the core package never imports it."""
    tree = ast.parse(path.read_text())
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names]
    imported += [node.module for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module]
    if name.split(".")[:3] != ["keras_neuromask", "serving", "beam"]:
        assert not [m for m in imported if m.split(".")[0] == "apache_beam"], name


def test_level_of_reads_the_first_part():
    assert level_of("keras_neuromask.cli.main") == 5 and level_of("keras_neuromask.masking") == 0
    assert level_of("keras_neuromask.evaluation.rise") == 2


def test_public_names_keep_working_from_the_top_and_from_metrics():
    import keras_neuromask
    from keras_neuromask import metrics

    for name in keras_neuromask.__all__:
        assert getattr(keras_neuromask, name) is not None, name
    for name in metrics.__all__:
        assert callable(getattr(metrics, name)), name
    from keras_neuromask.evaluation.fidelity import deletion_auc
    assert metrics.deletion_auc is deletion_auc
