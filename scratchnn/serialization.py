"""Saving and loading networks: one ``.npz`` file, no pickles.

Layout of a model file (a NumPy ``.npz``, i.e. a zip of ``.npy`` arrays):

* ``param_0``, ``param_1``, ...: the arrays of ``network.parameters()``, in order;
* ``__meta__``: a 0-d unicode array holding JSON text: the format version, the
  architecture (``network.get_config()``) and whatever ``metadata`` the caller
  adds (the command-line tool stores the scaler, label names and settings).

Loading uses ``np.load(..., allow_pickle=False)``, so a file carrying pickled
objects is refused and loading never runs code. Saving writes a temporary file
next to the target and renames it over the target with ``os.replace``, which is
atomic: a crash mid-write leaves the previous model intact.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

from .layers import layer_from_config
from .losses import loss_from_config

__all__ = ["FORMAT_VERSION", "ModelFileError", "atomic_write", "load_network", "save_network"]

FORMAT_VERSION = 1
_MAGIC = "scratchnn-model"


class ModelFileError(ValueError):
    """A file that is not a readable scratchnn model (truncated, corrupted, wrong version...)."""


def atomic_write(path, write) -> None:
    """Call ``write(file_object)`` on a temporary file, then rename it to ``path``.

    The rename is atomic on POSIX and Windows, so readers see either the old
    file or the complete new one, never half of it.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def save_network(network, path, metadata: dict | None = None) -> None:
    """Write ``network`` (weights and architecture) and ``metadata`` to ``path``."""
    meta = {
        "format": _MAGIC,
        "format_version": FORMAT_VERSION,
        "architecture": network.get_config(),
        "metadata": metadata or {},
    }
    try:
        text = json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metadata must be JSON-serialisable: {exc}") from None
    arrays = {f"param_{i}": p for i, p in enumerate(network.parameters())}
    arrays["__meta__"] = np.array(text)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_network(path):
    """Read a model file; return ``(network, metadata)``.

    Raises ``ModelFileError`` (a ``ValueError``) with the reason for anything
    that is not a complete model file of a known version, and
    ``FileNotFoundError`` if there is no file.
    """
    from .network import NeuralNetwork

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ModelFileError(f"{path} is not a scratchnn model file (not an .npz archive)")
            if "__meta__" not in data.files:
                raise ModelFileError(f"{path} is not a scratchnn model file (no __meta__ entry)")
            arrays = {name: data[name] for name in data.files}
    except ModelFileError:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickle" in str(exc).lower():
            raise ModelFileError(f"{path} holds pickled objects, which are refused for safety") from None
        raise ModelFileError(f"{path} is not a readable model file: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError, NotImplementedError) as exc:
        raise ModelFileError(f"{path} is not a readable model file ({type(exc).__name__}: {exc})") from None

    meta_arr = arrays.pop("__meta__")
    if meta_arr.dtype.kind != "U" or meta_arr.shape != ():
        raise ModelFileError(f"{path}: __meta__ must be a JSON string")
    try:
        meta = json.loads(str(meta_arr))
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path}: __meta__ is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != _MAGIC:
        raise ModelFileError(f"{path} is not a scratchnn model file")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format version {version!r}; this scratchnn reads version {FORMAT_VERSION}"
        )
    try:
        arch = meta["architecture"]
        layers = [layer_from_config(spec["type"], spec["config"]) for spec in arch["layers"]]
        loss = loss_from_config(arch["loss"]["type"], arch["loss"]["config"])
        network = NeuralNetwork(layers, loss)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(f"{path}: invalid architecture ({type(exc).__name__}: {exc})") from None
    params = network.parameters()
    if len(arrays) != len(params) or any(f"param_{i}" not in arrays for i in range(len(params))):
        raise ModelFileError(f"{path}: expected {len(params)} weight arrays, found {sorted(arrays)}")
    for i, p in enumerate(params):
        stored = arrays[f"param_{i}"]
        if stored.shape != p.shape or stored.dtype != p.dtype:
            raise ModelFileError(
                f"{path}: param_{i} has shape {stored.shape} and dtype {stored.dtype}, "
                f"expected {p.shape} and {p.dtype}"
            )
        if not np.all(np.isfinite(stored)):
            raise ModelFileError(f"{path}: param_{i} holds NaN or infinity")
        p[...] = stored
    metadata = meta.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: metadata must be a JSON object")
    return network, metadata
