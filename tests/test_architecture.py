"""The layout keeps its promises (docs/architecture.md): no import cycle even through
function-local imports, one module builds run-directory paths, each swept name is defined
once, no string flag is compared in more than one module, the runner's loop fits on one screen
and no function is longer than 60 lines (after its docstring)."""

import ast
import inspect
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rnn_jax"


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _trees(*folders):
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield path, ast.parse(path.read_text())


def _imports(path: pathlib.Path) -> set[str]:
    """rnn_jax modules ``path`` imports anywhere (top level or inside functions). Importing
    ``a.b.c`` also runs the packages ``a`` and ``a.b``: those count, except the packages that
    contain ``path`` itself (Python is already importing them when ``path`` runs)."""
    own = _module_name(path).split(".")
    ancestors = {".".join(own[:i]) for i in range(1, len(own) + (path.name == "__init__.py"))}
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            found |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & MODULES.keys()
    return found - ancestors - {_module_name(path)}


def _names_from_root(path: pathlib.Path) -> list[str]:
    """Names (not submodules) imported from the package root ``rnn_jax``."""
    return [alias.name for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom) and node.module == "rnn_jax"
            for alias in node.names if f"rnn_jax.{alias.name}" not in MODULES]


def test_no_import_cycle_even_through_function_local_imports():
    graph = {name: _imports(path) for name, path in MODULES.items()}
    # the package root re-exports the API; a module that takes a name from it (rather than
    # from the defining module) would close a cycle through it
    assert {name: _names_from_root(path) for name, path in MODULES.items() if _names_from_root(path)} == {}
    state = {}

    def visit(name, stack):
        state[name] = "open"
        for other in sorted(graph.get(name, ())):
            if state.get(other) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(other):] + [other]))
            if other not in state:
                visit(other, stack + [other])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("literal", ["config.json", "status.json", "experiment.json", "checkpoints", "metrics",
                                     "diagnostics", "figures"])
def test_every_run_directory_path_is_built_in_rundir(literal):
    places = [f"{path.relative_to(ROOT)}:{node.lineno}" for path, tree in _trees("rnn_jax", "experiments")
              for node in ast.walk(tree) if isinstance(node, ast.Constant) and node.value == literal]
    assert places and all(p.startswith("rnn_jax/io/rundir.py:") for p in places), places


def test_the_swept_names_are_defined_once():
    """The optimizer's swept names come from its Optax tree (no list of them anywhere); the
    one other swept name is spelt only where it is defined: as a sweep key in hparams.py, and
    as the cell option of that name in the initialisers."""
    from rnn_jax.training.hparams import RECURRENT_SCALE

    places = {str(path.relative_to(ROOT)) for path, tree in _trees("rnn_jax")
              for node in ast.walk(tree) if isinstance(node, ast.Constant) and node.value == RECURRENT_SCALE}
    assert places == {"rnn_jax/training/hparams.py", "rnn_jax/cells/initializers.py"}, places


def test_no_string_flag_is_compared_in_more_than_one_module():
    seen = {}
    for path, tree in _trees("rnn_jax", "experiments"):
        for node in ast.walk(tree):
            values = []
            if isinstance(node, ast.Compare) and not any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
                values = [s.value for s in [node.left, *node.comparators] if isinstance(s, ast.Constant)]
            elif isinstance(node, ast.MatchValue) and isinstance(node.value, ast.Constant):
                values = [node.value.value]
            for value in values:
                if isinstance(value, str) and value != "__main__":
                    seen.setdefault(value, set()).add(str(path.relative_to(ROOT)))
    assert {value: places for value, places in seen.items() if len(places) > 1} == {}


def _code_lines(node: ast.FunctionDef) -> int:
    """Lines of a function after its docstring."""
    body = node.body
    has_doc = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and len(body) > 1
    return node.end_lineno - (body[1] if has_doc else body[0]).lineno + 1


def test_the_runner_loop_fits_on_one_screen():
    """The loop that trains chunk after chunk, not a wrapper around it."""
    from rnn_jax.runner import loop

    (node,) = [n for n in ast.walk(ast.parse(inspect.getsource(loop))) if isinstance(n, ast.FunctionDef)
               and n.name == "_loop"]
    assert "programs.train_chunk(batches, train, state" in ast.unparse(node)
    assert _code_lines(node) <= 40, _code_lines(node)


def test_no_function_exceeds_sixty_lines():
    long = [f"{path.relative_to(ROOT)}:{node.name} ({_code_lines(node)})" for path, tree in _trees("rnn_jax")
            for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and _code_lines(node) > 60]
    assert long == []
