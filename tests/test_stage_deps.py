"""DVC's code deps are exact: each stage lists in dvc.yaml every file under src/llmops that its
command runs (the transitive import closure, package __init__ files included) and nothing else, so
editing a module reruns exactly the stages that run it. Read from the source with `ast`, nothing
imported. A failure names the stage and the file, and prints the stage's whole list to paste."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def module_file(name: str) -> Path | None:
    """The file that `import name` runs last (a module, or a package's __init__), if it is ours."""
    base = SRC.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def with_packages(name: str) -> list[Path]:
    """`import a.b.c` runs a/__init__, a/b/__init__ and then a/b/c: every one of them."""
    parts = name.split(".")
    found = [module_file(".".join(parts[: i + 1])) for i in range(len(parts))]
    return [p for p in found if p is not None]


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def direct_imports(path: Path) -> set[Path]:
    """Our files that `path` runs: every import anywhere in it (function-level ones too, since a
    stage may take any branch), `from a import b` where b is a submodule, and sibling files it
    hands to MLflow by name (`Path(__file__).with_name("x.py")`)."""
    tree = ast.parse(path.read_text())
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: `from . import x` is the package itself, `..` its parent
                anchor = package.rsplit(".", node.level - 1)[0]
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "with_name":
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and str(arg.value).endswith(".py"):
                names.add(f"{package}.{str(arg.value)[:-3]}")
    out: set[Path] = set()
    for name in names:
        if name == "llmops" or name.startswith("llmops."):
            out.update(with_packages(name))
    return out


def closure(module: str) -> set[Path]:
    todo = with_packages(module)
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(direct_imports(path) - seen)
    return seen


def _stages() -> dict[str, dict]:
    """Each stage's body (a foreach stage's `do`)."""
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: stage.get("do", stage) for name, stage in spec.items()}


def declared_code(deps: list) -> set[Path]:
    """The stage's deps under src/llmops, folders expanded to their Python files."""
    out: set[Path] = set()
    for dep in deps:
        dep = next(iter(dep)) if isinstance(dep, dict) else str(dep)
        path = ROOT / dep
        if not dep.startswith("src/"):
            continue
        if path.is_dir():
            out.update(path.rglob("*.py"))
        else:
            out.add(path)
    return out


def stage_module(cmd: str) -> str:
    match = re.match(r"python -m ([\w.]+)", cmd)
    assert match, f"not a `python -m` command: {cmd}"
    return match.group(1)


STAGES = _stages()


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_code_deps_are_exactly_what_it_runs(stage):
    body = STAGES[stage]
    runs = closure(stage_module(body["cmd"]))
    listed = declared_code(body.get("deps", []))
    rel = lambda paths: sorted(str(p.relative_to(ROOT)) for p in paths)  # noqa: E731
    missing, extra = rel(runs - listed), rel(listed - runs)
    assert not missing and not extra, (
        f"dvc.yaml stage '{stage}': missing {missing}, not run {extra}; its code deps should be:\n"
        + "\n".join(f"      - {p}" for p in rel(runs))
    )


def test_closure_follows_function_level_and_package_imports(tmp_path):
    """The rule itself: a stage reaches training/finetune.py's function-level import of
    data/budget.py, and every package __init__ on the way."""
    runs = {str(p.relative_to(SRC)) for p in closure("llmops.stages.finetune")}
    assert {"llmops/data/budget.py", "llmops/__init__.py", "llmops/data/__init__.py"} <= runs
    assert "llmops/cli.py" not in runs
    evaluate = {str(p.relative_to(SRC)) for p in closure("llmops.stages.evaluate")}
    assert "llmops/tracking/pyfunc_model.py" in evaluate  # handed to MLflow by file name


def rewrite(text: str) -> str:
    """dvc.yaml with each stage's src/ deps replaced by its closure (comments and order kept):
    `python tests/test_stage_deps.py --write` after adding an import, or a stage (a stage that lists
    no src/ file yet gets its closure right under `deps:`)."""
    stages = {name: body.get("do", body) for name, body in yaml.safe_load(text)["stages"].items()}
    out, stage, written = [], None, set()

    def closure_lines(indent: str) -> list[str]:
        written.add(stage)
        return [f"{indent}- {p.relative_to(ROOT)}\n" for p in sorted(closure(stage_module(stages[stage]["cmd"])))]

    seed_at = None  # the indent of a new stage's deps list, while inside it
    for line in text.splitlines(keepends=True):
        if seed_at is not None and not line.startswith(seed_at + "- "):
            out += closure_lines(seed_at)  # after the stage's other deps
            seed_at = None
        top = re.match(r"^  (\w+):", line)
        if top:
            stage = top.group(1)
        deps = re.match(r"^(\s+)deps:\s*$", line)
        dep = re.match(r"^(\s+)- src/", line)
        if dep and stage in stages:
            if stage not in written:
                out += closure_lines(dep.group(1))
            continue
        out.append(line)
        if deps and stage in stages and not any(str(d).startswith("src/") for d in stages[stage].get("deps", [])):
            seed_at = deps.group(1) + "  "
    if seed_at is not None:
        out += closure_lines(seed_at)
    return "".join(out)


def test_write_seeds_the_code_deps_of_a_new_stage():
    text = (
        "stages:\n  pack:\n    cmd: python -m llmops.stages.pack\n    deps:\n      - data/corpus\n    "
        "outs:\n      - out\n"
    )
    written = yaml.safe_load(rewrite(text))["stages"]["pack"]["deps"]
    assert written[0] == "data/corpus" and "src/llmops/stages/pack.py" in written
    assert set(written[1:]) == {str(p.relative_to(ROOT)) for p in closure("llmops.stages.pack")}
    assert rewrite(rewrite(text)) == rewrite(text)  # idempotent once seeded


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write"]:
        (ROOT / "dvc.yaml").write_text(rewrite((ROOT / "dvc.yaml").read_text()))
