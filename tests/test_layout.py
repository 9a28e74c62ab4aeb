"""The code's shape: imports point down from stages and the CLI into the areas, functions stay
short, calls with many arguments name them. Read from the source with `ast`, nothing imported."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "llmops"

# area -> what it must never import. Stages and the CLI sit on top and may import any area.
FORBIDDEN = {
    "data": ("torch", "lightning", "llmops.models", "llmops.training", "llmops.evaluation", "llmops.tracking"),
    "corpus": ("torch", "lightning", "llmops.models", "llmops.training", "llmops.evaluation", "llmops.tracking"),
    "validation": ("torch", "lightning", "llmops.models", "llmops.training", "llmops.evaluation", "llmops.tracking"),
    "models": ("llmops.training", "llmops.evaluation", "llmops.tracking"),
    "evaluation": ("lightning", "llmops.training", "llmops.tracking"),
    "tracking": ("lightning", "llmops.training"),
    "training": ("llmops.evaluation",),
    "label_efficiency": ("llmops.tracking",),
    "monitoring": ("lightning", "llmops.training", "llmops.tracking"),
}
NOTHING_IMPORTS = ("llmops.stages", "llmops.cli")  # the top: no area imports it
# label_efficiency sits on training and evaluation: only stages (and benchmarks) import it
ABOVE_AREAS = {"label_efficiency": ("llmops.label_efficiency",)}
# declarative tables: one expectation per line reads better than helpers built to pass a line count
LONG_ALLOWED = {("validation/suites.py", "raw_labeled")}
MAX_LINES = 60
MAX_POSITIONAL = 3


def modules() -> list[tuple[str, Path, ast.Module]]:
    return [(str(p.relative_to(SRC)), p, ast.parse(p.read_text())) for p in sorted(SRC.rglob("*.py"))]


def imported(tree: ast.Module) -> list[tuple[int, str]]:
    """Every module name imported anywhere in the file (function-level imports too), with its line;
    `if TYPE_CHECKING:` imports are types only and do not count."""
    type_only = {
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for n in ast.walk(block)
    }
    out = []
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.lineno, node.module))
    return out


def _hits(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("area", sorted(FORBIDDEN))
def test_imports_point_down(area):
    bad = [
        f"{rel}:{line} imports {name}"
        for rel, _, tree in modules()
        if rel.startswith(area + "/")
        for line, name in imported(tree)
        if _hits(
            name, FORBIDDEN[area] + NOTHING_IMPORTS + (() if area in ABOVE_AREAS else ABOVE_AREAS["label_efficiency"])
        )
    ]
    assert not bad, "\n".join(bad)


def test_inference_does_not_import_training_or_lightning():
    """predict and the pyfunc load in a serving process: no Lightning (13 s to import), no trainer code."""
    for rel in ("evaluation/predict.py", "tracking/pyfunc.py", "tracking/pyfunc_model.py", "models/inputs.py"):
        names = [name for _, name in imported(ast.parse((SRC / rel).read_text()))]
        assert not [n for n in names if _hits(n, ("lightning", "llmops.training"))], rel


def test_the_import_rule_catches_an_upward_import(tmp_path):
    tree = ast.parse("def f():\n    from llmops.training.optim import adamw\n")
    assert [name for _, name in imported(tree) if _hits(name, FORBIDDEN["models"])] == ["llmops.training.optim"]


def test_no_function_is_longer_than_60_lines():
    long = [
        f"{rel}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for rel, _, tree in modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_LINES
        and (rel, node.name) not in LONG_ALLOWED
    ]
    assert not long, "\n".join(long)


def test_calls_with_more_than_three_arguments_name_them():
    """`f(a, b, c, d)` reads as a puzzle; `f(a, b, c=..., d=...)` does not. Functions that take
    *args (a command line's words) are exempt."""
    varargs = set()  # functions, and classes whose __init__, take *args
    for _, _, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                init = next((f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"), None)
                if init is not None and init.args.vararg:
                    varargs.add(node.name)
            elif isinstance(node, ast.FunctionDef) and node.args.vararg:
                varargs.add(node.name)
    bad = []
    for rel, _, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and len(node.args) > MAX_POSITIONAL:
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name not in varargs and not any(isinstance(a, ast.Starred) for a in node.args):
                    bad.append(f"{rel}:{node.lineno} {ast.unparse(node.func)}({len(node.args)} positional)")
    assert not bad, "\n".join(bad)
