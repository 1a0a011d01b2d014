"""Helpers for the code that runs while the book is built (markdown-exec blocks and the hooks).

``source(obj)`` gives the implementation of a scratchnn function or method as
a Markdown code block, read from the installed package with ``inspect``, so a
chapter shows the code that actually runs and cannot drift from it.
``public_modules()`` and ``reference_page()`` make the reference section.
"""

from __future__ import annotations

import atexit
import base64
import importlib
import inspect
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import types

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# -- the implementation, shown from the source --------------------------------------


def _where(obj) -> tuple[str, int, int, str]:
    lines, start = inspect.getsourcelines(obj)
    path = inspect.getsourcefile(obj)
    try:
        path = os.path.relpath(path, ROOT)
    except ValueError:  # another drive (Windows): keep it absolute
        pass
    return path.replace(os.sep, "/"), start, start + len(lines) - 1, textwrap.dedent("".join(lines))


def source(*objs, title: str | None = None) -> str:
    """The source of each of ``objs`` (functions, methods, classes) as one Markdown code block.

    A page prints it: ``print(book.source(Dense.backward))`` (markdown-exec
    captures the ``print`` of the block itself, not that of imported modules).

    The block's title names the file and the lines, so a reader can open them;
    the text is whatever the installed package holds at build time.
    """
    parts, places = [], []
    for obj in objs:
        path, first, last, text = _where(obj)
        parts.append(text.rstrip("\n"))
        places.append(f"{path}, lines {first}-{last}")
    label = title or "; ".join(places)
    body = "\n\n".join(parts)
    return f'```python title="{label}"\n{body}\n```'


def docstring(obj) -> str:
    """The docstring of ``obj``, cleaned (for quoting a convention stated in the code)."""
    return inspect.getdoc(obj) or ""


# -- printing small arrays for the worked examples ---------------------------------


def show(name: str, value) -> str:
    """``name = value`` with arrays in a compact, fixed format (4 decimals), for ``print``."""
    if isinstance(value, np.ndarray):
        text = np.array2string(value, precision=4, suppress_small=True, floatmode="maxprec_equal")
        if "\n" in text:
            text = "\n" + textwrap.indent(text, "    ")
        return f"{name} = {text}"
    return f"{name} = {value}"


# -- commands run at build time (the guides) ----------------------------------------

_WORKDIR: str | None = None


def workdir() -> str:
    """The scratch folder every command of this build runs in (made on first use, removed at exit).

    Pages share it in the order they are built, so a guide that trains a model
    in one block can evaluate it in the next; a page must not rely on another
    page's files.
    """
    global _WORKDIR
    if _WORKDIR is None:
        _WORKDIR = tempfile.mkdtemp(prefix="scratchnn-book-")
        atexit.register(shutil.rmtree, _WORKDIR, True)
    return _WORKDIR


def _trim(lines: list[str], head: int | None, tail: int) -> list[str]:
    if head is None or len(lines) <= head + tail + 1:
        return lines
    return [*lines[:head], "...", *(lines[len(lines) - tail :] if tail else [])]


def shell(script: str, *, status: int = 0, head: int | None = None, tail: int = 0, show: bool = True) -> str:
    """Run ``script`` in bash in :func:`workdir` and return it and its real output as Markdown.

    ``scratchnn`` and ``python`` are the build's own (the virtualenv running
    MkDocs, with this checkout first on ``PYTHONPATH``). The exit status must be
    ``status`` (2 for the error examples), or the build fails with the output.
    ``head``/``tail`` keep that many first and last lines of a long output,
    with ``...`` between. ``show=False`` runs a set-up step without printing it.
    """
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["COLUMNS"] = "100"  # argparse's help wraps at this width
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=workdir(),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    if proc.returncode != status:
        raise RuntimeError(f"exit status {proc.returncode}, expected {status}, for:\n{script}\n{proc.stdout}")
    if not show:
        return ""
    out = "\n".join(_trim(proc.stdout.rstrip("\n").splitlines(), head, tail))
    parts = [f"```bash\n{script.strip()}\n```"]
    if out:
        parts.append(f"```text\n{out}\n```")
    return "\n\n".join(parts)


def image(path: str, alt: str, width: int | None = None) -> str:
    """An image the build made (a path in :func:`workdir`), inlined as a data URI."""
    with open(os.path.join(workdir(), path), "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    size = f' width="{width}"' if width else ""
    return f'<img alt="{alt}" src="data:image/png;base64,{data}"{size}>'


# -- the reference ---------------------------------------------------------------


def public_modules() -> list[str]:
    """``scratchnn`` and every module or subpackage below it whose name has no leading underscore."""
    import scratchnn

    names = ["scratchnn"]
    for info in pkgutil.walk_packages(scratchnn.__path__, "scratchnn."):
        parts = info.name.split(".")[1:]
        if any(part.startswith("_") for part in parts):
            continue
        names.append(info.name)
    return sorted(names)


def public_names(module_name: str) -> list[str]:
    """The module's ``__all__``; without one, the public functions and classes it defines."""
    module = importlib.import_module(module_name)
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return sorted(
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and isinstance(obj, (type, types.FunctionType))
        and obj.__module__ == module_name
    )


def reference_page(module_name: str) -> str:
    """Markdown for one module's reference page: mkdocstrings renders every public name."""
    members = public_names(module_name)
    lines = [
        f"# `{module_name}`",
        "",
        f"::: {module_name}",
        "    options:",
        "      show_root_heading: false",
        "      show_root_toc_entry: false",
        "      show_source: false",
    ]
    if members:
        lines.append("      members:")
        lines.extend(f"        - {name}" for name in members)
    else:
        lines.append("      members: false")
    return "\n".join(lines) + "\n"


# -- the results page: parsed from benchmarks/RESULTS.md, never retyped ---------------

RESULTS = os.path.join(ROOT, "benchmarks", "RESULTS.md")


def _section(name: str, path: str = RESULTS) -> str:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        raise ValueError(f"{path} has no section {name!r} (markers {start} ... {end})")
    return text[text.index(start) + len(start) : text.index(end)]


def results_section(name: str, path: str = RESULTS) -> str:
    """One marked section of RESULTS.md as Markdown, its headings one level down (it sits under a page's)."""
    return re.sub(r"^(#+) ", r"#\1 ", _section(name, path).strip(), flags=re.M)


def tables(section: str, path: str = RESULTS) -> list[list[dict]]:
    """Every Markdown table of one marked section of RESULTS.md, as lists of ``{header: cell}`` rows."""
    found, current, header = [], None, None
    for line in [*_section(section, path).splitlines(), ""]:
        line = line.strip()
        if line.startswith("|") and line.endswith("|"):
            cells = [c.strip() for c in line[1:-1].split("|")]
            if header is None:
                header, current = cells, []
            elif all(set(c) <= set("-: ") for c in cells):
                continue  # the |---|---| line
            else:
                current.append(dict(zip(header, cells)))
        elif header is not None:
            found.append(current)
            header, current = None, None
    return found


def _table_with(section: str, column: str) -> list[dict]:
    for table in tables(section):
        if table and column in table[0]:
            return table
    raise ValueError(f"benchmarks/RESULTS.md: no table with a {column!r} column in section {section!r}")


def accuracy_table() -> list[dict]:
    """The accuracy rows: ``method``, ``mean``, ``std``, ``seeds`` (five floats), ``time``."""
    rows = []
    for row in _table_with("accuracy", "mean"):
        seeds = [float(row[k]) for k in row if k.startswith("seed ")]
        rows.append(
            {
                "method": row["method"],
                "mean": float(row["mean"]),
                "std": float(row["std"]),
                "seeds": seeds,
                "time": float(row["time per run (s)"]),
            }
        )
    return rows


def speed_table() -> list[dict]:
    """The training-time rows: ``workload``, ``dtype``, ``implementation``, ``median``, ``ratio``.

    ``ratio`` is scratchnn's median time divided by this row's (below 1: scratchnn is faster).
    """
    return [
        {
            "workload": row["workload"],
            "dtype": row["dtype"],
            "implementation": row["implementation"],
            "median": float(row["median s"]),
            "ratio": float(row["scratchnn / this"]),
        }
        for row in _table_with("speed", "scratchnn / this")
    ]


def regression_table() -> dict[str, dict[str, dict]]:
    """The regression rows: ``{method: {data set: {"r2": mean R², "time": fit seconds}}}``.

    Each table of the section follows a bold line naming its data set (``**diabetes**``).
    """
    names = re.findall(r"^\*\*(\w+)\*\*$", _section("regression"), flags=re.M)
    found: dict[str, dict[str, dict]] = {}
    for name, table in zip(names, tables("regression"), strict=True):
        for row in table:
            found.setdefault(row["method"], {})[name] = {
                "r2": float(row["mean R²"]),
                "time": float(row["fit time (s)"]),
            }
    return found


def _svg(fig) -> str:
    import io

    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog: the SVG goes inline into the page


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "scratchnn"  # the same ids in every build
    return plt


PEERS = {"torch": "PyTorch", "sklearn": "scikit-learn"}


def speed_plot() -> str:
    """Bars of scratchnn's time / the peer's, per workload and dtype, as inline SVG."""
    plt = _plt()
    rows = [r for r in speed_table() if r["implementation"] in PEERS]
    groups = list(dict.fromkeys((r["workload"], r["dtype"]) for r in rows))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    width = 0.8 / len(PEERS)
    for k, (key, label) in enumerate(PEERS.items()):
        values = [
            next(
                (r["ratio"] for r in rows if (r["workload"], r["dtype"]) == g and r["implementation"] == key),
                0,
            )
            for g in groups
        ]
        xs = [i + (k - (len(PEERS) - 1) / 2) * width for i in range(len(groups))]
        bars = ax.bar(xs, values, width, label=f"scratchnn / {label}")
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(groups)), [f"{w}\n{d}" for w, d in groups])
    ax.set_ylabel("time ratio (below 1: scratchnn faster)")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_ylim(0, max(1.2, ax.get_ylim()[1]))
    return _svg(fig)


def accuracy_plot() -> str:
    """Mean test accuracy over the five splits, one standard deviation as error bars, inline SVG.

    Points, not bars: the axis starts near the lowest split, and bars from an
    arbitrary baseline would make the differences look larger than they are.
    Each split is a small dot below its method's mean; equal values are
    stacked, so all five dots are always visible.
    """
    plt = _plt()
    rows = accuracy_table()
    fig, ax = plt.subplots(figsize=(7, 0.55 * len(rows) + 1))
    ys = list(range(len(rows)))[::-1]
    for y, r in zip(ys, rows):
        ax.errorbar(r["mean"], y, xerr=r["std"], fmt="D", color="#3949ab", capsize=5, markersize=6)
        seen: dict[float, int] = {}
        for s in r["seeds"]:
            k = seen[s] = seen.get(s, -1) + 1
            ax.plot(s, y - 0.22 - 0.09 * k, "o", color="#ef6c00", markersize=3)
        right = max(r["mean"] + r["std"], *r["seeds"])
        ax.text(right + 0.0015, y, f"{r['mean']:.4f} ± {r['std']:.4f}", va="center", fontsize=8)
    labels = [re.sub(r"`", "", r["method"]) for r in rows]
    ax.set_yticks(ys, labels, fontsize=8)
    ax.set_ylim(-0.9, len(rows) - 0.4)
    low = min(min(r["seeds"]) for r in rows)
    ax.set_xlim(low - 0.005, 1.0)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_xlabel("test accuracy on Digits (diamond: mean, line: one std, dots below: the five splits)")
    return _svg(fig)


# -- gradient checks of one layer (the image-layer chapters) --------------------------


def check_layer(layer, x: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Relative errors of ``layer``'s backward pass against central differences, per array.

    The loss is a random linear function of the layer's output,
    ``L = sum(w * layer.forward(x, training=True))``, so ``dL/dy = w`` exactly and
    every entry of the input and of each parameter is checked, not only what a
    particular loss happens to reach. Returns ``{"x": ..., "params[0]": ..., ...}``.
    """
    from scratchnn.gradcheck import numerical_gradient, relative_error

    rng = np.random.default_rng(seed)
    w = rng.standard_normal(layer.forward(x, training=True).shape)

    def loss() -> float:
        return float(np.sum(w * layer.forward(x, training=True)))

    loss()
    errors = {"x": relative_error(layer.backward(w), numerical_gradient(loss, x))}
    for i, (param, grad) in enumerate(zip(layer.params, layer.grads)):
        loss()
        layer.backward(w)
        analytic = grad.copy()
        errors[f"params[{i}]"] = relative_error(analytic, numerical_gradient(loss, param))
    return errors
