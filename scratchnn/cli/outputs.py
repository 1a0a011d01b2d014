"""Where the commands may write: the one place that decides, for every command.

Two rules, checked on resolved paths (so ``./m/../m/model.npz`` is
``m/model.npz``, and a symbolic link is its target):

* a command never writes over a file it reads (the model, the data, the
  rows to predict), not even with ``--force``;
* a command never writes over a file scratchnn did not write, unless
  ``--force``.

What scratchnn wrote in a folder is listed in that folder's manifest,
``.scratchnn-files.json``. A *run folder* (``--out`` of ``train`` and
``tune``) holds exactly one run: a folder that already holds files is refused
unless ``--resume`` (``tune``, continuing its own search) or ``--force``; with
``--force`` the previous run's files that the new run does not write again are
removed when the new run has finished, so a run that fails (diverges, is
refused) leaves the previous one whole. While a run writes, it holds an
exclusive lock on the folder (``flock``, released by the kernel when the
process ends, ``kill -9`` included), so a second run into the same folder is
refused instead of mixing files; temporary files (``.tmp-*``) that a killed
run left behind are removed by the next run.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
import time

from ..files import atomic_write
from .errors import Interrupted, UserError, one_line

MANIFEST = ".scratchnn-files.json"

# Every file the commands write into a run folder, each name written once here.
MODEL_FILE = "model.npz"
HISTORY_FILE = "history.json"
LEARNING_CURVES = "learning_curves.png"
FIRST_LAYER_WEIGHTS = "first_layer_weights.png"
MISCLASSIFIED = "misclassified.png"
RESULTS_FILE = "results.csv"
RESULTS_RECORD = "results.json"  # tuning_files.record_path of RESULTS_FILE
TUNING_HEATMAP = "tuning_heatmap.png"
CONV_FILTERS = "conv_filters.png"
FEATURE_MAPS = "feature_maps.png"
REGRESSION_PLOTS = ("predicted_vs_actual.png", "residuals.png")
CONFUSION_MATRIX = "confusion_matrix.png"
MISCLASSIFIED_EVALUATE = "misclassified_evaluate.png"
#: evaluate's own names for a regression model's plots, so train's plots of the same model stay
REGRESSION_PLOTS_EVALUATE = tuple(name.replace(".png", "_evaluate.png") for name in REGRESSION_PLOTS)

#: Files a run of train, tune or evaluate writes; also cleared by ``--force`` in
#: folders written before manifests existed.
RUN_FILES = (
    MODEL_FILE,
    HISTORY_FILE,
    LEARNING_CURVES,
    FIRST_LAYER_WEIGHTS,
    MISCLASSIFIED,
    RESULTS_FILE,
    RESULTS_RECORD,
    TUNING_HEATMAP,
    CONV_FILTERS,
    FEATURE_MAPS,
    *REGRESSION_PLOTS,
    CONFUSION_MATRIX,
    MISCLASSIFIED_EVALUATE,
    *REGRESSION_PLOTS_EVALUATE,
)


def _resolve(path) -> str:
    return os.path.realpath(os.path.abspath(os.fspath(path)))


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)  # hard links, bind mounts
    except OSError:
        return False


def read_manifest(folder: str) -> dict | None:
    """The manifest of ``folder``, or None if it has none (or an unreadable one)."""
    try:
        with open(os.path.join(folder, MANIFEST), encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return None
    return manifest


def _write_manifest(folder: str, manifest: dict) -> None:
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    atomic_write(os.path.join(folder, MANIFEST), lambda f: f.write(text.encode()))


def check_output(path: str, option: str, inputs: dict[str, str | None], force: bool = False) -> str:
    """Refuse ``path`` (given as ``option``) if it is one of ``inputs`` or a file scratchnn did not write.

    ``inputs`` maps a description ("the model", "--input") to a path the
    command reads. Returns the resolved path.
    """
    real = _resolve(path)
    for what, source in inputs.items():
        if source and _same(real, _resolve(source)):
            raise UserError(f"{option} {path!r} is {what} this command reads; write the output elsewhere")
    if os.path.isdir(real):
        raise UserError(f"{option} {path!r} is a directory, not a file")
    if os.path.exists(real) and not force:
        manifest = read_manifest(os.path.dirname(real)) or {"files": {}}
        if os.path.basename(real) not in manifest["files"]:
            raise UserError(
                f"{option} {path!r} already exists and was not written by scratchnn; "
                "use --force to replace it"
            )
    return real


def record(folder: str, names: list[str], command: str) -> None:
    """Add ``names`` (files ``command`` writes in ``folder``) to the folder's manifest."""
    manifest = read_manifest(folder) or {"files": {}, "complete": True}
    manifest["files"].update({name: command for name in names})
    _write_manifest(folder, manifest)


def _lock(folder: str, option: str) -> int | None:
    try:
        import fcntl
    except ImportError:  # Windows: no flock on a folder; runs are then not kept apart
        return None
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise UserError(
                f"{option} {folder!r} is being written by another scratchnn run; "
                "wait for it to finish or use another directory"
            ) from None
        raise
    return fd


def _remove_stale_temporaries(folder: str) -> None:
    """``.tmp-*`` left by a killed run (we hold the folder's lock, so no live run owns them)."""
    for name in os.listdir(folder):
        if name.startswith(".tmp-"):
            path = os.path.join(folder, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass


class RunFolder:
    """The ``--out`` folder of one run, used as ``with RunFolder(...) as run: ... run.finish()``.

    ``run.path(name)`` is where the run writes ``name`` (recorded in the
    manifest before it is written). Leaving the block by Ctrl-C says what was
    saved; leaving it by a failed write names the file and what the folder
    now holds.
    """

    def __init__(
        self,
        out: str,
        command: str,
        *,
        inputs: dict[str, str | None],
        force: bool = False,
        resume: bool = False,
        option: str = "--out",
    ) -> None:
        self.out, self.command, self.option = out, command, option
        self.inputs = {what: _resolve(p) for what, p in inputs.items() if p}
        self.force, self.resume = force, resume
        self.fd: int | None = None
        self.started_ns = time.time_ns()
        self.finished = False

    def __enter__(self) -> RunFolder:
        out, option = self.out, self.option
        self.created = not os.path.exists(out)
        try:
            os.makedirs(out, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise UserError(f"{option} {out!r} must be a directory, but a file is in the way") from None
        if not os.access(out, os.W_OK | os.X_OK):
            raise UserError(f"{option} {out!r} is not a writable directory")
        self.fd = _lock(out, option)
        try:
            self._open()
        except BaseException:
            self._unlock()
            raise
        return self

    def _open(self) -> None:
        out, option = self.out, self.option
        _remove_stale_temporaries(out)
        previous = read_manifest(out)
        present = sorted(n for n in os.listdir(out) if n != MANIFEST and not n.startswith(".tmp-"))
        if present and not (self.resume or self.force):
            ours = previous is not None and all(n in previous["files"] for n in present)
            if ours:
                state = "" if previous.get("complete") else "unfinished "
                what = f"the files of an {state}earlier run"
            else:
                what = "files"
            shown = ", ".join(present[:4]) + (f" and {len(present) - 4} more" if len(present) > 4 else "")
            resume = "; --resume continues its search" if RESULTS_FILE in present else ""
            raise UserError(
                f"{option} {out!r} already holds {what} ({shown}): use a new directory, or --force to "
                f"replace them{resume}"
            )
        files = dict(previous["files"]) if previous and self.resume else {}
        # --force: the previous run's files go when this run has finished (not before: a run that
        # fails must leave the previous one whole); files scratchnn did not write stay.
        self.replaced = set()
        if self.force and not self.resume:
            self.replaced = {n for n in present if (previous and n in previous["files"]) or n in RUN_FILES}
        self.manifest = {"command": self.command, "complete": False, "files": files}

    def path(self, name: str) -> str:
        """``out/name``, claimed for this run (refused if it is one of the command's inputs)."""
        full = os.path.join(self.out, name)
        for what, source in self.inputs.items():
            if _same(_resolve(full), source):
                raise UserError(
                    f"{self.option} {self.out!r}: this run would write {name}, which is {what} it reads; "
                    "use another directory"
                )
        if name not in self.manifest["files"]:
            self.manifest["files"][name] = self.command
            _write_manifest(self.out, self.manifest)
        return full

    def written(self) -> list[str]:
        """The files this run has written so far (claimed and modified since it started)."""
        names = []
        for name in self.manifest["files"]:
            try:
                if os.stat(os.path.join(self.out, name)).st_mtime_ns >= self.started_ns:
                    names.append(name)
            except FileNotFoundError:
                pass
        return names

    def finish(self, complete: bool = True) -> None:
        """The run is over: remove what is left of the run it replaces, mark the manifest ``complete``."""
        for name in sorted(self.replaced - set(self.manifest["files"])):
            path = os.path.join(self.out, name)
            if any(_same(_resolve(path), source) for source in self.inputs.values()):
                continue
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        self.manifest["complete"] = complete
        _write_manifest(self.out, self.manifest)
        self.finished = True

    def _unlock(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the flock
            self.fd = None

    def __exit__(self, kind, exc, tb) -> bool:
        try:
            if kind is None or isinstance(exc, (UserError, Interrupted)):
                return False
            written = self.written()
            where = os.path.join(self.out, "")
            if isinstance(exc, KeyboardInterrupt):
                saved = f"saved so far in {where}: {', '.join(written)}" if written else "nothing was saved"
                if written and not self.finished:
                    self.finish(complete=False)  # what was saved replaces the previous run
                print(f"interrupted; {saved}", file=sys.stderr)
                raise Interrupted from None
            if isinstance(exc, OSError):
                held = (
                    f"; {where} holds an unfinished run (written: {', '.join(written)})"
                    if written and not self.finished
                    else ""
                )
                raise UserError(f"could not write: {one_line(exc)}{held}") from None
            return False
        finally:
            self._unlock()
            if kind is not None and self.created:
                try:
                    os.rmdir(self.out)  # a failed run leaves no empty folder behind
                except OSError:
                    pass  # not empty: it holds what the run saved
