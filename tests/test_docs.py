"""The documentation site: it builds strictly, documents every public name, and reads offline.

The site is built once per test session, in a real ``mkdocs build --strict``
subprocess (warnings are errors: a broken link, a missing reference or a code
example that raises fails the build). The built pages are then opened in
headless Chromium (Debian's ``chromium``, driven by Playwright) with every
request outside the local test server aborted, to prove the formulas render
from the KaTeX shipped with the site.
"""

from __future__ import annotations

import functools
import html
import http.server
import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
import threading
import types
import zlib
from pathlib import Path

import numpy as np
import pytest

import scratchnn

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOT_CHAPTER = "learn/softmax-cross-entropy.html"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    mkdocs = Path(sys.executable).with_name("mkdocs")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


# -- the build --------------------------------------------------------------------


def test_strict_build_writes_every_page_of_the_nav(site):
    for page in ["index.html", "learn/dense.html", "guides/cli.html", "reference/index.html", "results.html"]:
        assert (site / page).is_file(), page


def test_chapters_show_the_installed_source_not_a_copy(site):
    from scratchnn.layers import Dense
    from scratchnn.losses import SoftmaxCrossEntropy

    for page, method in [
        ("learn/dense.html", Dense.backward),
        ("learn/softmax-cross-entropy.html", SoftmaxCrossEntropy.backward),
    ]:
        text = html.unescape(re.sub(r"<[^>]+>", "", (site / page).read_text()))
        lines = [line.strip() for line in inspect.getsource(method).splitlines() if line.strip()]
        assert len(lines) > 3
        for line in lines:
            assert line in text, f"{page}: line of {method.__qualname__} missing: {line}"


def _page_text(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def test_every_layer_loss_optimizer_and_schedule_is_shown_from_its_source_in_a_chapter(site):
    """Each name table's classes: the methods they define themselves appear, line for line, in a chapter."""
    from scratchnn.layers import LAYERS
    from scratchnn.losses import LOSSES
    from scratchnn.optimizers import OPTIMIZERS
    from scratchnn.schedules import SCHEDULES

    chapters = "\n".join(_page_text(p) for p in sorted((site / "learn").glob("*.html")))
    tables = [LAYERS, LOSSES, OPTIMIZERS, SCHEDULES]
    classes = [cls for table in tables for cls in table.values() if cls is not None]  # "constant": None
    assert len(classes) > 20
    missing = []
    for cls in classes:
        own = [
            getattr(cls, name)
            for name in ("_pointwise", "forward", "backward", "step", "__call__")
            if name in cls.__dict__
        ]
        for obj in own or [cls]:
            lines = [line.strip() for line in inspect.getsource(obj).splitlines() if line.strip()]
            if not all(line in chapters for line in lines):
                missing.append(getattr(obj, "__qualname__", cls.__name__))
    assert not missing, f"not shown from the source in any chapter: {missing}"


# -- the reference ----------------------------------------------------------------


def _read_inventory(path: Path) -> dict[str, str]:
    """``{name: role}`` of the entries of a Sphinx ``objects.inv`` that are documented where they stand.

    Version 2 format: four header lines, then zlib-compressed lines ``name role
    priority uri display``. mkdocstrings also lists every import of a documented
    object (``scratchnn.cli.TrainingConfig``) with priority 2, pointing at the one
    real entry; those are left out.
    """
    raw = path.read_bytes()
    header_end = 0
    for _ in range(4):
        header_end = raw.index(b"\n", header_end) + 1
    entries = {}
    for line in zlib.decompress(raw[header_end:]).decode().splitlines():
        name, role, priority = line.split(" ", 3)[:3]
        if priority == "1":
            entries[name] = role
    return entries


def _public_modules() -> list[str]:
    names = ["scratchnn"]
    for info in pkgutil.walk_packages(scratchnn.__path__, "scratchnn."):
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            names.append(info.name)
    return names


def _public_names(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and isinstance(obj, (type, types.FunctionType))
        and obj.__module__ == module_name
    ]


def test_reference_has_an_entry_for_every_public_name_and_no_other(site):
    inventory = _read_inventory(site / "objects.inv")
    modules = _public_modules()
    assert len(modules) > 10
    expected = set()
    for module in modules:
        if module == "scratchnn":
            continue  # its names are re-exports, checked below
        expected.update(f"{module}.{name}" for name in _public_names(module))
    documented = {name for name in inventory if name.rpartition(".")[0] in modules and name not in modules}
    documented -= {f"scratchnn.{name}" for name in scratchnn.__all__}
    missing, extra = sorted(expected - documented), sorted(documented - expected)
    assert not missing, f"public names without a reference entry: {missing}"
    assert not extra, f"reference entries that are not public names: {extra}"
    for module in modules:
        page = site / "reference" / f"{module}.html"
        assert module == "scratchnn" or page.is_file(), f"module {module} has no reference page"


def test_every_name_of_scratchnn_all_has_a_reference_entry(site):
    inventory = _read_inventory(site / "objects.inv")
    assert "scratchnn.__version__" in inventory
    for name in scratchnn.__all__:
        obj = getattr(scratchnn, name)
        home = getattr(obj, "__module__", None)
        candidates = {f"scratchnn.{name}"} | ({f"{home}.{name}"} if home else set())
        assert candidates & set(inventory), f"scratchnn.{name} has no reference entry"


# -- the results page ---------------------------------------------------------------


def test_results_page_shows_the_figures_of_results_md(site):
    sys.path.insert(0, str(ROOT / "docs" / "_tools"))
    try:
        import book
    finally:
        sys.path.remove(str(ROOT / "docs" / "_tools"))
    accuracy = book.accuracy_table()
    assert len(accuracy) >= 3
    page = re.sub(r"<[^>]+>", "", (site / "results.html").read_text())
    for row in accuracy:
        assert f"{row['mean']:.4f}" in page, row["method"]
        assert len(row["seeds"]) == 5
        # the mean in the table is the mean of its five seeds (the parser read the right columns)
        assert abs(np.mean(row["seeds"]) - row["mean"]) < 6e-5
    assert page.count("<svg") + (site / "results.html").read_text().count("<svg") >= 2


# -- in a browser, offline ------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # the test reports failures itself
        pass


@pytest.fixture(scope="module")
def served(site):
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def browser():
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: apt-get install -y chromium"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _offline_page(browser, base: str):
    """A page whose requests outside ``base`` are aborted and recorded."""
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.blocked, page.errors = [], []

    def block(r):
        page.blocked.append(r.request.url)
        r.abort()

    # A pattern the browser's driver matches itself: only requests outside base reach Python.
    page.route(re.compile("^(?!" + re.escape(base) + ")"), block)
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


# Text that survives only where a formula was not rendered (code is left out: it may hold `$`).
_RAW_TEXT_JS = """() => {
  const body = document.querySelector('article') || document.body;
  const copy = body.cloneNode(true);
  copy.querySelectorAll('.katex-mathml, pre, code, script, style').forEach(e => e.remove());
  const unrendered = [...document.querySelectorAll('.arithmatex')].filter(e => !e.querySelector('.katex'));
  return {text: copy.innerText, formulas: document.querySelectorAll('.arithmatex').length,
          unrendered: unrendered.map(e => e.textContent.slice(0, 80)),
          rendered: document.querySelectorAll('.arithmatex .katex').length};
}"""


def test_every_page_renders_its_math_with_the_network_blocked(site, served, browser):
    pages = sorted(
        str(p.relative_to(site))
        for p in site.rglob("*.html")
        if p.name != "404.html" and "assets" not in p.parts
    )
    assert len(pages) > 15
    page = _offline_page(browser, served)
    with_math = 0
    for name in pages:
        page.goto(served + name, wait_until="load")
        report = page.evaluate(_RAW_TEXT_JS)
        assert not report["unrendered"], f"{name}: formulas left as raw text: {report['unrendered']}"
        for raw in ("\\frac", "\\(", "\\[", "$$", "\\mathbb"):
            assert raw not in report["text"], f"{name}: raw TeX {raw!r} on the page"
        assert "$" not in report["text"], f"{name}: a raw '$' on the page"
        with_math += report["formulas"] > 0
    assert with_math >= 8, f"only {with_math} pages hold formulas"
    assert not page.errors, f"browser errors: {page.errors}"
    assert not page.blocked, f"the site tried to fetch from the network: {sorted(set(page.blocked))}"
    page.close()


def test_screenshot_of_a_chapter_shows_rendered_formulas(site, served, browser, tmp_path):
    out_dir = Path(os.environ.get("SCRATCHNN_SCREENSHOT_DIR", tmp_path))
    out_dir.mkdir(parents=True, exist_ok=True)
    shot = out_dir / "chapter-softmax-cross-entropy.png"
    page = _offline_page(browser, served)
    page.goto(served + SCREENSHOT_CHAPTER, wait_until="load")
    rendered = page.evaluate(_RAW_TEXT_JS)["rendered"]
    assert rendered >= 5
    # the KaTeX fonts shipped with the site were loaded (not a fallback font)
    assert page.evaluate("() => document.fonts.check('16px KaTeX_Main')")
    page.screenshot(path=str(shot), full_page=False)
    page.close()
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (1600, 1280)
    assert pixels[..., :3].std() > 0.05  # not a blank page


# -- the README, the front door -------------------------------------------------------

README = ROOT / "README.md"


def _readme_section(name: str) -> str:
    text = README.read_text()
    start, end = f"<!-- --8<-- [start:{name}] -->", f"<!-- --8<-- [end:{name}] -->"
    assert start in text, f"README.md has no section {name!r}"
    assert end in text, f"README.md's section {name!r} has no end"
    return text[text.index(start) + len(start) : text.index(end)]


def _fenced(text: str) -> list[tuple[str, str]]:
    """The fenced code blocks of Markdown ``text`` as ``(language, body)`` pairs, in order."""
    return [(m[1], m[2]) for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, flags=re.M | re.S)]


def _shows(expected: str, actual: str) -> bool:
    """Whether ``actual`` prints the lines of ``expected`` in order, ``...`` standing for any lines."""
    want = expected.rstrip("\n").splitlines()
    got = actual.rstrip("\n").splitlines()
    i, skipping = 0, False
    for line in want:
        if line == "...":
            skipping = True
            continue
        if skipping:
            while i < len(got) and got[i] != line:
                i += 1
        if i >= len(got) or got[i] != line:
            return False
        i, skipping = i + 1, False
    return skipping or i == len(got)


def test_readme_is_at_most_200_lines_and_links_into_the_site():
    lines = README.read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines"
    links = re.findall(r"\]\((docs/[^)#]+)", README.read_text())
    assert {"docs/learn/index.md", "docs/guides/index.md", "docs/results.md"} <= set(links)
    for link in links:
        assert (ROOT / link).is_file(), f"README links to a missing page: {link}"


def test_readme_headline_figures_are_the_figures_of_results_md():
    sys.path.insert(0, str(ROOT / "docs" / "_tools"))
    try:
        import book
    finally:
        sys.path.remove(str(ROOT / "docs" / "_tools"))
    section = _readme_section("results")
    rows = [
        [c.strip() for c in line.strip()[1:-1].split("|")]
        for line in section.splitlines()
        if line.startswith("|") and not set(line) <= set("|-: ")
    ]
    accuracy = {row["method"]: row for row in book.accuracy_table()}
    speed = {
        (r["workload"], r["implementation"]): r["ratio"]
        for r in book.speed_table()
        if r["dtype"] == "float32"
    }
    regression = book.regression_table()
    (rnn, *_), (gpt, *_) = book.tables("rnn"), book.tables("gpt")
    step_ratios = {
        "W7": next(
            float(r["scratchnn / this"])
            for r in rnn
            if r["threads"] == "1" and r["implementation"] == "torch"
        ),
        "W8": next(float(r["ratio"]) for r in gpt if r["threads"] == "1"),
    }
    checked = 0
    for cells in rows:
        if cells[0] in regression:
            by_set = regression[cells[0]]
            expected = [f"{by_set[name][key]:.{digits}f}" for name in ("diabetes", "friedman1")
                        for key, digits in (("r2", 3), ("time", 2))]  # fmt: skip
            assert cells[1:] == expected, cells
            checked += 1
        elif cells[0] in accuracy:
            assert cells[1:] == [f"{accuracy[cells[0]]['mean']:.4f}", f"{accuracy[cells[0]]['std']:.4f}"], (
                cells
            )
            checked += 1
        elif re.match(r"W[78],", cells[0]):  # the LSTM and GPT steps: each in its own section, 1 thread
            assert float(cells[1]) == round(step_ratios[cells[0].split(",")[0]], 2), cells
            assert cells[2] == "", cells
            checked += 1
        elif re.match(r"W\d,", cells[0]):
            workload = cells[0].split(",")[0]
            assert float(cells[1]) == round(speed[(workload, "torch")], 2), cells
            assert float(cells[2]) == round(speed[(workload, "sklearn")], 2), cells
            checked += 1
        else:
            assert cells[0] in {"method", "workload"}, f"README row not found in RESULTS.md: {cells}"
    assert checked >= 9
    # every figure of the section was checked above: no other number is quoted there
    prose = "\n".join(line for line in section.splitlines() if not line.startswith("|"))
    assert not re.findall(r"\b0\.\d{2,}", prose), "figures outside the tables are not checked"
    # but the language models' validation losses, each from the lm section's table
    (lm, *_) = book.tables("lm")
    losses = {r["run"]: float(r["whole validation text"]) for r in lm}
    quoted = re.findall(r"\b1\.\d{3}\b", prose)
    assert quoted == [f"{losses['GPT, mean of the three']:.3f}", f"{losses['LSTM 2 x 128, seed 0']:.3f}"], (
        quoted
    )


def test_the_site_home_page_includes_the_readme_sections(site):
    page = html.unescape(re.sub(r"<[^>]+>", "", (site / "index.html").read_text()))
    page = " ".join(page.split())
    for name in ("intro", "commands", "main", "api", "cli", "results"):
        prose = re.sub(r"```.*?```|^#+ |^\|[^\n]*$", "", _readme_section(name), flags=re.S | re.M)
        sentence = max(prose.split("\n\n"), key=len)
        words = " ".join(re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", sentence).replace("`", "").split())
        assert words[:120] in page, f"README section {name!r} is not on the site's home page"


def _python(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_readme_commands_print_what_the_readme_shows(tmp_path):
    main_text = _fenced(_readme_section("main"))
    cli_blocks = _fenced(_readme_section("cli"))
    ((_, api_code),) = [b for b in _fenced(_readme_section("api")) if b[0] == "python"]
    main_out = _python(str(ROOT / "main.py"), cwd=tmp_path)
    assert main_out.returncode == 0, main_out.stderr
    expected_main = next(body for lang, body in main_text if lang == "text")
    assert _shows(expected_main, main_out.stdout), main_out.stdout
    (command,) = [body.strip() for lang, body in cli_blocks if lang == "bash"]
    assert command.startswith("scratchnn ")
    train = _python("-m", "scratchnn", *command.split()[1:], cwd=tmp_path)
    assert train.returncode == 0, train.stderr
    expected_train = next(body for lang, body in cli_blocks if lang == "text")
    assert _shows(expected_train, train.stdout), train.stdout
    api = _python("-c", api_code, cwd=tmp_path)
    assert api.returncode == 0, api.stderr
    accuracy, _ = api.stdout.splitlines()[-1].split(" ", 1)  # the example's own print
    assert 0.9 < float(accuracy) <= 1.0


def test_shows_matches_lines_in_order_with_gaps():
    assert _shows("a\n...\nd", "a\nb\nc\nd")
    assert _shows("a\nb", "a\nb")
    assert not _shows("a\nb", "a\nb\nc")
    assert not _shows("a\n...\nd", "a\nb\nc")
    assert not _shows("b\n...", "a\nb")
