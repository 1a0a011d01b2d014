"""The package's import graph, read from its source with ``ast`` (lazy imports inside functions included).

No cycle anywhere; the core (layers, losses, network, optimizers, schedules,
trainer, gradcheck, metrics, plus ``validation``, the input checks the core
shares) imports only NumPy, the standard library and other core modules; and
imports point one way, down the floors of ``FLOORS``: the core, then the
recipes and the data coming in, then what is made of a trained network
(predictor, model files, plots, searches), then the front doors (command line,
estimators, playground), which nothing imports but ``python -m scratchnn``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "scratchnn"
CORE = {
    "_configurable",
    "files",  # atomic writes (standard library only), shared by every floor that writes a file
    "layers",
    "line_search",
    "losses",
    "network",
    "optimizers",
    "schedules",
    "trainer",
    "gradcheck",
    "validation",
    "metrics",
}

#: Each top-level module or package of scratchnn, by floor: a module imports only its own floor and below.
FLOORS = {
    **dict.fromkeys(CORE, 0),
    "recipe": 1,
    "data": 1,
    "predictor": 2,
    "language_model": 2,  # a trained character model with its vocabulary: generate, score, save
    "serialization": 2,
    "plots": 2,
    "tuning": 2,
    "hyperparameter_tuning": 2,
    "export": 3,  # ONNX and PyTorch: a network or a predictor taken elsewhere; the CLI's export command
    "cli": 3,
    "sklearn": 3,
    "playground": 3,
    "__main__": 4,  # python -m scratchnn: the command line's door
}
FRONT_DOORS = ("cli", "sklearn", "playground")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(current: str, is_package: bool, module: str | None, level: int, names) -> list[str]:
    if level == 0:
        return [module] if module else []
    base = current.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    if module:
        return [".".join([*base, module])]
    return [".".join([*base, name]) for name in names]


def import_graph() -> dict[str, set[str]]:
    """Module -> every module it imports (scratchnn modules by full name, others by top-level name)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [alias.name for alias in node.names]
                found = _resolve(name, path.name == "__init__.py", node.module, node.level, names)
            else:
                continue
            for target in found:
                if target.startswith("scratchnn"):
                    while target not in modules and "." in target:  # from .x import function
                        target = target.rpartition(".")[0]
                    targets.add(target)
                else:
                    targets.add(target.partition(".")[0])
        graph[name] = targets - {name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node], _ = 1, stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node], _ = 2, stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _is_core(module: str) -> bool:
    return module.split(".")[1:2] and module.split(".")[1] in CORE


def test_the_package_has_no_import_cycle():
    assert _cycle(import_graph()) is None, " -> ".join(_cycle(import_graph()))


def test_core_modules_import_only_numpy_the_standard_library_and_each_other():
    bad = {}
    for module, targets in import_graph().items():
        if not _is_core(module):
            continue
        wrong = sorted(
            t
            for t in targets
            if not (
                t == "numpy" or t in sys.stdlib_module_names or (t.startswith("scratchnn") and _is_core(t))
            )
        )
        if wrong:
            bad[module] = wrong
    assert bad == {}


def _top(module: str) -> str:
    return module.split(".")[1] if "." in module else ""  # "" is the package's face, scratchnn/__init__


def upward_imports(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """Module -> the scratchnn modules it imports from a higher floor than its own."""
    bad = {}
    for module, targets in graph.items():
        if not _top(module):
            continue
        floor = FLOORS[_top(module)]
        up = sorted(t for t in targets if t.startswith("scratchnn.") and FLOORS[_top(t)] > floor)
        if up:
            bad[module] = up
    return bad


def test_every_module_has_a_floor():
    assert sorted({_top(m) for m in import_graph()} - set(FLOORS) - {""}) == []


def test_imports_point_down_the_floors():
    assert upward_imports(import_graph()) == {}


#: Who may import a front door from outside it, and why.
FRONT_DOOR_CALLERS = {
    "scratchnn.__main__": "python -m scratchnn runs the command line",
    "scratchnn.cli.playground": "the `scratchnn playground` command starts the playground's server",
}


def test_nothing_imports_a_front_door_but_its_entry_point():
    found = {
        module: sorted(t for t in targets if _top(t) in FRONT_DOORS and _top(t) != _top(module))
        for module, targets in import_graph().items()
        if module not in FRONT_DOOR_CALLERS
    }
    assert {m: t for m, t in found.items() if t} == {}


def test_the_scan_finds_a_cycle_an_upward_and_a_foreign_import_when_there_is_one():
    """The checks are worth something only if they can fail."""
    graph = import_graph()
    assert "scratchnn.recipe.config" in graph["scratchnn.hyperparameter_tuning"]
    assert "sklearn" in graph["scratchnn.data.splits"]  # a lazy import inside a function
    graph["scratchnn.network"] = graph["scratchnn.network"] | {"scratchnn.recipe.train"}
    assert _cycle(graph) is not None
    assert upward_imports(graph) == {"scratchnn.network": ["scratchnn.recipe.train"]}
