"""The network core needs NumPy and nothing else.

Two proofs: a fresh interpreter in which scikit-learn, SciPy and PyTorch cannot
be imported still imports scratchnn and trains a network; and the source of
every core module, read with ``ast``, imports only NumPy, the standard library
and scratchnn itself (followed through scratchnn's own imports, lazy ones
inside functions included).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "scratchnn"
CORE = ["layers", "losses", "network", "optimizers", "schedules", "trainer"]
BLOCKED = ["sklearn", "scipy", "torch"]

SCRIPT = r"""
import importlib.abc
import json
import sys

BLOCKED = set(sys.argv[1].split(","))


class Blocker(importlib.abc.MetaPathFinder):
    # as if the packages were not installed
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked for this test")
        return None


sys.meta_path.insert(0, Blocker())
for name in BLOCKED:
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"the blocker let {name} through")

import numpy as np

import scratchnn
from scratchnn.layers import Dense, ReLU, Sigmoid
from scratchnn.losses import SoftmaxCrossEntropy
from scratchnn.network import NeuralNetwork
from scratchnn.optimizers import Adam
from scratchnn.trainer import Trainer

rng = np.random.default_rng(0)
x = rng.standard_normal((200, 5))
y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1)
layers = [Dense(5, 16, seed=rng), ReLU(), Dense(16, 8, seed=rng), Sigmoid(), Dense(8, 3, seed=rng)]
net = NeuralNetwork(layers, SoftmaxCrossEntropy())
history = Trainer(net, Adam(0.01), batch_size=32, seed=rng).fit(x, y, epochs=15, verbose=False)
print(json.dumps({
    "version": scratchnn.__version__,
    "losses": history.column("loss"),
    "accuracy": net.accuracy(x, y),
    "loaded": sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED),
}))
"""


def test_core_imports_and_trains_with_sklearn_scipy_and_torch_blocked():
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", SCRIPT, ",".join(BLOCKED)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["loaded"] == []
    losses = report["losses"]
    assert len(losses) == 15
    assert losses[-1] < 0.5 * losses[0]  # it really trained
    assert report["accuracy"] > 0.8


def imported_modules(path: Path) -> list[tuple[str, int]]:
    """``(name, level)`` for every import in a module, at any depth (lazy imports included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.module is None:  # from . import x
                found += [(alias.name, node.level) for alias in node.names]
            else:
                found.append((node.module, node.level))
    return found


def module_file(parts: list[str]) -> Path | None:
    """The file of the scratchnn module ``scratchnn.<parts>`` (a module or a package), if any."""
    base = PACKAGE.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if parts and candidate.exists():
            return candidate
    return None


def core_closure() -> dict[str, list[str]]:
    """Each scratchnn module reachable from the core -> the third-party modules it imports."""
    todo, seen, foreign = [[m] for m in CORE], set(), {}
    while todo:
        parts = todo.pop()
        path = module_file(parts)
        if path is None or path in seen:
            continue
        seen.add(path)
        module = ".".join(parts)
        foreign[module] = []
        # the package a relative import starts from: the module's own package
        package = parts if path.name == "__init__.py" else parts[:-1]
        for name, level in imported_modules(path):
            top = name.partition(".")[0]
            if level > 0:
                base = package[: len(package) - (level - 1)]
                todo.append(base + name.split("."))
            elif top == "scratchnn":
                todo.append(name.split(".")[1:])
            elif top != "numpy" and top not in sys.stdlib_module_names:
                foreign[module].append(name)
    return foreign


def test_core_modules_import_only_numpy_the_standard_library_and_scratchnn():
    foreign = core_closure()
    assert set(CORE) <= set(foreign)
    assert "validation" in foreign  # the closure follows scratchnn's own imports
    assert {m: names for m, names in foreign.items() if names} == {}


def test_the_import_scan_sees_a_lazy_third_party_import():
    """The scan is worth something only if it finds one: data/splits.py imports scikit-learn lazily."""
    names = [name for name, level in imported_modules(PACKAGE / "data" / "splits.py") if level == 0]
    assert any(name.startswith("sklearn") for name in names)
