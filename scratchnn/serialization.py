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
import zipfile
import zlib

import numpy as np

from .files import atomic_write
from .layers import layer_from_config
from .losses import loss_from_config

__all__ = ["FORMAT_VERSION", "ModelFileError", "load_network", "save_network"]

FORMAT_VERSION = 1
_MAGIC = "scratchnn-model"


class ModelFileError(ValueError):
    """A file that is not a readable scratchnn model (truncated, corrupted, wrong version...)."""


def save_network(network, path, metadata: dict | None = None) -> None:
    """Write ``network`` (weights and architecture) and ``metadata`` to ``path``.

    Refuses (``ValueError``) weights holding NaN or infinity: such a file would
    not be a usable model, and ``load_network`` would refuse it.
    """
    for i, p in enumerate(network.parameters()):
        if not np.all(np.isfinite(p)):
            raise ValueError(f"network parameter {i} holds NaN or infinity; refusing to save it to {path}")
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


# What reading a damaged archive can raise, from zipfile, zlib and NumPy's .npy parser.
_READ_ERRORS = (
    OSError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
    KeyError,
    ValueError,
    RuntimeError,
    NotImplementedError,
    SyntaxError,
    OverflowError,
    MemoryError,
)


def load_network(path):
    """Read a model file; return ``(network, metadata)``.

    Raises ``ModelFileError`` (a ``ValueError``) with the reason for anything
    that is not a complete model file of a known version, and
    ``FileNotFoundError`` if there is no file. Nothing in the file is executed:
    arrays are read with ``allow_pickle=False`` and the metadata is JSON.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        # Opened here, not by np.load: np.load leaks its file handle when the
        # archive turns out to be damaged.
        with open(path, "rb") as f:
            if f.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
                # np.load would take anything else for a .npy or a pickle
                raise ModelFileError(f"{path} is not a scratchnn model file (not an .npz archive)")
            f.seek(0)
            with np.load(f, allow_pickle=False) as data:
                if "__meta__" not in data.files:
                    raise ModelFileError(f"{path} is not a scratchnn model file (no __meta__ entry)")
                meta = _read_meta(path, data["__meta__"])
                names = [name for name in data.files if name != "__meta__"]
                expected = [f"param_{i}" for i in range(len(names))]
                if set(names) != set(expected):
                    raise ModelFileError(
                        f"{path}: expected arrays param_0..param_N and __meta__, found {names}"
                    )
                arrays = [data[name] for name in expected]
                # an archive member that is not a .npy file comes back as raw bytes
                if not all(isinstance(a, np.ndarray) for a in arrays):
                    raise ModelFileError(f"{path}: a weight entry is not a NumPy array")
    except ModelFileError:
        raise
    except _READ_ERRORS as exc:
        if isinstance(exc, ValueError) and "pickle" in str(exc).lower():
            raise ModelFileError(f"{path} holds pickled objects, which are refused for safety") from None
        hint = "" if isinstance(exc, OSError) else ": it is truncated or corrupted"
        raise ModelFileError(
            f"{path} is not a readable model file{hint} ({type(exc).__name__}: {exc})"
        ) from None
    network = _build_network(path, meta["architecture"], arrays)
    metadata = meta.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: metadata must be a JSON object, got {type(metadata).__name__}")
    return network, metadata


def _read_meta(path: str, meta_arr: np.ndarray) -> dict:
    """The ``__meta__`` entry as a dict, checked for the format name and version."""
    if not isinstance(meta_arr, np.ndarray):
        raise ModelFileError(f"{path}: __meta__ is not a NumPy array")
    if meta_arr.dtype.kind != "U" or meta_arr.shape != ():
        raise ModelFileError(
            f"{path}: __meta__ must be a JSON string, got dtype {meta_arr.dtype} shape {meta_arr.shape}"
        )
    try:
        meta = json.loads(str(meta_arr))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ModelFileError(f"{path}: __meta__ is not valid JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != _MAGIC:
        raise ModelFileError(f"{path} is not a scratchnn model file (its __meta__ does not say so)")
    version = meta.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format version {version!r}; this scratchnn reads version {FORMAT_VERSION}"
        )
    if "architecture" not in meta:
        raise ModelFileError(f"{path}: __meta__ has no architecture")
    return meta


def _build_network(path: str, arch, arrays: list[np.ndarray]):
    """The network described by ``arch``, with its parameters set from ``arrays``."""
    from .network import NeuralNetwork

    try:
        specs = arch["layers"]
        if not isinstance(specs, list):
            raise TypeError(f"layers must be a list, got {type(specs).__name__}")
        # Check the declared Dense shapes against the stored arrays before building
        # anything, so a file claiming huge layers cannot make us allocate them.
        k = 0
        for i, spec in enumerate(specs):
            if spec["type"] == "Dense":
                cfg = spec["config"]
                want = [(cfg["in_features"], cfg["out_features"]), (cfg["out_features"],)]
                got = [a.shape for a in arrays[k : k + 2]]
                if got != want:
                    raise ModelFileError(
                        f"{path}: layer {i} (Dense) declares weights of shape {want}, the file holds {got}"
                    )
                k += 2
        layers = [layer_from_config(spec["type"], spec["config"]) for spec in specs]
        loss = loss_from_config(arch["loss"]["type"], arch["loss"]["config"])
        network = NeuralNetwork(layers, loss)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        raise ModelFileError(f"{path}: invalid architecture ({type(exc).__name__}: {exc})") from None
    params = network.parameters()
    if len(arrays) != len(params):
        raise ModelFileError(
            f"{path}: the architecture has {len(params)} weight arrays, the file {len(arrays)}"
        )
    for i, (p, stored) in enumerate(zip(params, arrays)):
        if stored.shape != p.shape or stored.dtype != p.dtype:
            raise ModelFileError(
                f"{path}: param_{i} has shape {stored.shape} and dtype {stored.dtype}, "
                f"expected {p.shape} and {p.dtype}"
            )
        if not np.all(np.isfinite(stored)):
            raise ModelFileError(f"{path}: param_{i} holds NaN or infinity")
        p[...] = stored
    return network
