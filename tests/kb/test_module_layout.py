"""The project's shape, checked like behaviour: no import cycles, imports at the top, small modules.

Read from the source with `ast`, so an import hidden inside a function counts as much as one at the
top: that is how cycles were hidden before (issue 9).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kb", "snapshots", "lossdemos")
MAX_MODULE_LINES = 800

# The only places a project import may sit inside a function:
# - an AppConfig's ready(), where Django wants signal wiring and app start-up;
# - the one seam that keeps torch out of processes that never compute a loss.
TORCH_SEAM = "lossdemos.engine"


@dataclass(frozen=True)
class ProjectImport:
    source: str  # the importing module
    target: str  # the imported project module
    line: int
    function: str | None  # the enclosing function's name, None at module level
    in_app_config: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _project_files() -> dict[str, Path]:
    files = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            files[_module_name(path)] = path
    return files


MODULES = _project_files()


def _resolve(source: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = source.split(".") if path.name == "__init__.py" else source.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _targets(source: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The project modules an import statement loads (`from pkg import mod` names the module)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        module = _resolve(source, path, node)
        names = [
            f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module
            for alias in node.names
        ]
    found = []
    for name in names:
        # `import a.b.c` loads a.b.c; keep the longest prefix that is one of our modules.
        parts = name.split(".")
        while parts and ".".join(parts) not in MODULES:
            parts.pop()
        if parts:
            found.append(".".join(parts))
    return found


def _imports_of(source: str, path: Path) -> list[ProjectImport]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[ProjectImport] = []

    def visit(node: ast.AST, function: str | None, in_app_config: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                for target in _targets(source, path, child):
                    if target != source:
                        found.append(
                            ProjectImport(source, target, child.lineno, function, in_app_config)
                        )
            elif isinstance(child, ast.ClassDef):
                is_app_config = any(
                    isinstance(base, ast.Name | ast.Attribute)
                    and ast.unparse(base).endswith("AppConfig")
                    for base in child.bases
                )
                visit(child, function, in_app_config or is_app_config)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, function or child.name, in_app_config)
            else:
                visit(child, function, in_app_config)

    visit(tree, None, False)
    return found


IMPORTS = [found for source, path in MODULES.items() for found in _imports_of(source, path)]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(edges.get(node, ())):
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return components


def test_project_modules_import_each_other_without_cycles():
    edges: dict[str, set[str]] = {}
    for found in IMPORTS:
        edges.setdefault(found.source, set()).add(found.target)
    assert _cycles(edges) == []


def test_project_imports_sit_at_the_top_of_modules():
    hidden = [
        f"{found.source}:{found.line} imports {found.target} inside {found.function}()"
        for found in IMPORTS
        if found.function is not None
        and not (found.in_app_config and found.function == "ready")
        and found.source != TORCH_SEAM
    ]
    assert hidden == []


def test_the_torch_seam_is_the_one_place_that_defers_the_engine():
    deferred = {found.source for found in IMPORTS if found.function and not found.in_app_config}
    assert deferred <= {TORCH_SEAM}
    assert TORCH_SEAM in MODULES


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_stays_readable_in_size(module):
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_MODULE_LINES, f"{module} has {lines} lines"


def test_a_cycle_hidden_inside_a_function_is_found():
    # The checker itself: a function-level import closing a loop must count as an edge.
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


LOSS_MODULES = [name for name in MODULES if name.startswith("lossdemos.losses.")]


def _public_functions(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            yield node


@pytest.mark.parametrize("module", LOSS_MODULES)
def test_each_loss_reads_like_a_reference_function(module):
    """The formula stays in view: a loss's body (after its docstring) is at most ~60 lines."""
    too_long = {}
    for function in _public_functions(MODULES[module]):
        body = function.body
        if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:] or body
        lines = function.end_lineno - body[0].lineno + 1
        if lines > 60:
            too_long[function.name] = lines
    assert too_long == {}
