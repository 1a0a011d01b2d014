"""Model files: ``save(network, path)`` and ``load(path)``, one ``.npz`` file, no pickles.

Layout of a model file (a NumPy ``.npz``, i.e. a zip of ``.npy`` arrays):

* ``param_0``, ``param_1``, ...: the arrays of ``network.parameters()``, in order;
* ``buffer_L_K``: buffer ``K`` of layer ``L`` (arrays a layer keeps without
  training them, such as BatchNorm's running statistics); named by layer, so
  the file itself says which layer owns each buffer;
* ``__meta__``: a 0-d unicode array holding JSON text: the format version, the
  architecture (``network.get_config()``) and whatever ``metadata`` the caller
  adds (the command-line tool stores the scaler, label names and settings).

Version 1 files (the same, without buffers) still load.

Loading treats the file as hostile. Nothing is unpickled and nothing runs. The
archive is checked before any array data is read: its members must be exactly
the ones the architecture calls for; each member's ``.npy`` header (read from
the first bytes of the member, never more) must give the shape each layer
declares through ``array_shapes(config)``, a float dtype and a size that agrees
with the zip directory; and the arrays together may not inflate to more than
``_MAX_INFLATION`` times the file's size. Only then are the layers built and
the data read, one array at a time. So a small file cannot make the loader
allocate much (a "decompression bomb": deflated zeros claiming gigabytes).

Saving writes a temporary file next to the target and renames it over the
target (``scratchnn.files.atomic_write``): a crash mid-write leaves the previous
model intact.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import zipfile
import zlib

import numpy as np

from .files import atomic_write
from .layers import LAYERS, layer_from_config
from .losses import loss_from_config
from .network import NeuralNetwork

__all__ = ["FORMAT_VERSION", "ModelFileError", "load", "load_network", "save"]

FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)
_MAGIC = "scratchnn-model"
_META = "__meta__"
# A .npy header is a short dict literal (NumPy refuses ones over 10,000
# characters); reading at most this many bytes of a member is enough to parse it.
_HEADER_BYTES = 1 << 16
# The JSON text may hold a scaler and names for very wide tables, but not more.
_MAX_META_CHARS = 8 << 20
# Trained weights barely compress (float noise); a member that inflates much
# more than this is a decompression bomb, not a model. The slack covers small
# all-zero arrays (fresh biases), which compress very well.
_MAX_INFLATION = 10
_INFLATION_SLACK = 16 << 20

_NAME = re.compile(r"param_(\d+)|buffer_(\d+)_(\d+)")


class ModelFileError(ValueError):
    """A file that is not a readable scratchnn model (truncated, corrupted, wrong version...)."""


def _buffers(layer) -> list[np.ndarray]:
    return layer.buffers  # the Layer protocol's non-trained arrays ([] for most layers)


def save(network: NeuralNetwork, path, metadata: dict | None = None) -> None:
    """Write ``network`` (weights, buffers and architecture) and ``metadata`` to ``path``.

    ``metadata`` must be JSON-ready (``TypeError`` otherwise). Refuses
    (``ValueError``) arrays holding NaN or infinity: such a file would not be a
    usable model, and ``load`` would refuse it. The write is atomic.
    """
    arrays = {f"param_{i}": p for i, p in enumerate(network.parameters())}
    for i, p in enumerate(network.parameters()):
        if not np.all(np.isfinite(p)):
            raise ValueError(f"network parameter {i} holds NaN or infinity; refusing to save it to {path}")
    for i, layer in enumerate(network.layers):
        for k, b in enumerate(_buffers(layer)):
            if not np.all(np.isfinite(b)):
                raise ValueError(
                    f"buffer {k} of layer {i} holds NaN or infinity; refusing to save it to {path}"
                )
            arrays[f"buffer_{i}_{k}"] = b
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
    arrays[_META] = np.array(text)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load(path) -> NeuralNetwork:
    """The network stored in ``path`` by ``save``; see ``load_network`` for the checks."""
    return load_network(path)[0]


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


def load_network(path) -> tuple[NeuralNetwork, dict]:
    """Read a model file; return ``(network, metadata)``.

    Raises ``ModelFileError`` (a ``ValueError``) with the reason for anything
    that is not a complete model file of a known version, and
    ``FileNotFoundError`` if there is no file. Nothing in the file is executed:
    arrays are read without pickles and the metadata is JSON. Every array's
    shape, dtype and size is checked against the architecture before any of
    its data is read or any layer is built.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        with open(path, "rb") as f:
            if f.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
                # anything else is not a zip archive (NumPy would take it for a .npy or a pickle)
                raise ModelFileError(f"{path} is not a scratchnn model file (not an .npz archive)")
            f.seek(0)
            with zipfile.ZipFile(f) as archive:
                return _Reader(path, archive, os.fstat(f.fileno()).st_size).read()
    except ModelFileError:
        raise
    except _READ_ERRORS as exc:
        hint = "" if isinstance(exc, OSError) else ": it is truncated or corrupted"
        raise ModelFileError(
            f"{path} is not a readable model file{hint} ({type(exc).__name__}: {exc})"
        ) from None


class _Reader:
    """One pass over an opened archive: directory, metadata, headers, layers, then data."""

    def __init__(self, path: str, archive: zipfile.ZipFile, file_size: int) -> None:
        self.path, self.archive, self.file_size = path, archive, file_size

    def fail(self, reason: str) -> ModelFileError:
        return ModelFileError(f"{self.path}{reason}")

    def read(self) -> tuple[NeuralNetwork, dict]:
        members = self._directory()
        meta = self._meta(members.pop(_META))
        specs, loss_spec = self._architecture(meta)
        headers = {name: self._header(name, info) for name, info in members.items()}
        plan = self._plan(specs, headers, meta["format_version"])
        network = self._build(specs, loss_spec)
        self._fill(network, plan, headers)
        metadata = meta.get("metadata", {})
        if not isinstance(metadata, dict):
            raise self.fail(f": metadata must be a JSON object, got {type(metadata).__name__}")
        return network, metadata

    # -- before any data ------------------------------------------------------------
    def _directory(self) -> dict[str, zipfile.ZipInfo]:
        """The members by name (without ``.npy``), each name allowed, none twice, sizes plausible."""
        infos = self.archive.infolist()
        names = [info.filename for info in infos]
        if _META + ".npy" not in names:
            raise self.fail(" is not a scratchnn model file (no __meta__ entry)")
        strange = [
            n for n in names if not n.endswith(".npy") or not (n[:-4] == _META or _NAME.fullmatch(n[:-4]))
        ]
        if strange or len(set(names)) != len(names):
            raise self.fail(
                f": expected arrays param_0..param_N, buffer_L_K and __meta__, found {sorted(names)}"
            )
        inflated = sum(info.file_size for info in infos)
        allowed = _MAX_INFLATION * self.file_size + _INFLATION_SLACK
        if inflated > allowed:
            raise self.fail(
                f": its arrays would take {inflated:,} bytes, more than the {allowed:,} allowed for a file "
                f"of {self.file_size:,} ({_MAX_INFLATION} times its size plus 16 MiB); refused as a "
                "decompression bomb"
            )
        return {info.filename[:-4]: info for info in infos}

    def _header(self, name: str, info: zipfile.ZipInfo) -> tuple[tuple, np.dtype, bool, int]:
        """``(shape, dtype, fortran_order, data_offset)`` of a member, from its first bytes only."""
        with self.archive.open(info) as member:
            head = io.BytesIO(member.read(_HEADER_BYTES))
        version = np.lib.format.read_magic(head)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(head)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(head)
        else:
            raise self.fail(f": {name} is a .npy file of version {version}, which is not read")
        if dtype.hasobject:
            raise self.fail(" holds pickled objects, which are refused for safety")
        offset = head.tell()
        nbytes = math.prod(shape) * dtype.itemsize
        if info.file_size != offset + nbytes:
            raise self.fail(
                f": {name} declares {shape} {dtype} ({nbytes:,} bytes of data), but the archive "
                f"says it holds {info.file_size - offset:,}"
            )
        return shape, dtype, fortran, offset

    def _meta(self, info: zipfile.ZipInfo) -> dict:
        """The ``__meta__`` entry as a dict, checked for the format name and version."""
        shape, dtype, _, offset = self._header(_META, info)
        if dtype.kind != "U" or shape != ():
            raise self.fail(f": __meta__ must be a JSON string, got dtype {dtype} shape {shape}")
        if dtype.itemsize // 4 > _MAX_META_CHARS:
            raise self.fail(
                f": __meta__ holds {dtype.itemsize // 4:,} characters, more than {_MAX_META_CHARS:,}"
            )
        with self.archive.open(info) as member:
            member.read(offset)
            text = str(np.frombuffer(member.read(), dtype=dtype)[0])
        try:
            meta = json.loads(text)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
            raise self.fail(f": __meta__ is not valid JSON ({type(exc).__name__}: {exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != _MAGIC:
            raise self.fail(" is not a scratchnn model file (its __meta__ does not say so)")
        version = meta.get("format_version")
        if type(version) is not int or version not in _READABLE_VERSIONS:
            raise self.fail(
                f" has model format version {version!r}; this scratchnn reads version {FORMAT_VERSION} "
                f"(and the older version {', '.join(map(str, _READABLE_VERSIONS[:-1]))})"
            )
        if "architecture" not in meta:
            raise self.fail(": __meta__ has no architecture")
        return meta

    def _architecture(self, meta: dict) -> tuple[list[tuple[str, dict]], tuple[str, dict]]:
        """``[(layer type, config), ...]`` and ``(loss type, config)``, as declared (not built)."""
        try:
            arch = meta["architecture"]
            specs = arch["layers"]
            if not isinstance(specs, list):
                raise TypeError(f"layers must be a list, got {type(specs).__name__}")
            out = []
            for spec in specs:
                kind, config = spec["type"], spec["config"]
                if not isinstance(kind, str) or kind not in LAYERS:
                    raise ValueError(f"unknown layer type {kind!r}; expected one of {sorted(LAYERS)}")
                if not isinstance(config, dict):
                    raise TypeError(f"a layer's config must be an object, got {config!r}")
                out.append((kind, config))
            loss = (arch["loss"]["type"], arch["loss"]["config"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise self.fail(f": invalid architecture ({type(exc).__name__}: {exc})") from None
        return out, loss

    def _plan(self, specs, headers, version: int) -> list[tuple[list[str], list[str]]]:
        """For each layer, the member names of its params and of its buffers, checked against its shapes.

        ``LAYERS[kind].array_shapes(config)`` gives the shapes of the layer's
        params then buffers without building it; the file's ``buffer_L_K``
        members say how many of them are buffers.
        """
        plan, k = [], 0
        for i, (kind, config) in enumerate(specs):
            try:
                want = [tuple(s) for s in LAYERS[kind].array_shapes(config)]
            except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
                raise self.fail(f": invalid architecture ({type(exc).__name__}: {exc})") from None
            n_buffers = sum(1 for name in headers if name.startswith(f"buffer_{i}_"))
            if version == 1 and n_buffers:
                raise self.fail(": a version 1 model file cannot hold buffers")
            n_params = len(want) - n_buffers
            if n_params < 0:
                raise self.fail(
                    f": layer {i} ({kind}) has {len(want)} arrays, the file {n_buffers} buffers for it"
                )
            params = [f"param_{k + j}" for j in range(n_params)]
            buffers = [f"buffer_{i}_{j}" for j in range(n_buffers)]
            for names, shapes, what in (
                (params, want[:n_params], "weights"),
                (buffers, want[n_params:], "buffers"),
            ):
                got = [headers[name][0] if name in headers else None for name in names]
                if got != shapes:
                    raise self.fail(
                        f": layer {i} ({kind}) declares {what} of shape {shapes}, the file holds {got}"
                    )
            plan.append((params, buffers))
            k += n_params
        expected = {name for params, buffers in plan for name in params + buffers}
        if set(headers) != expected:
            raise self.fail(
                f": expected arrays param_0..param_{k - 1}, buffer_L_K and __meta__, found {sorted(headers)}"
            )
        for name, (_, dtype, _, _) in headers.items():
            if dtype.kind != "f":
                raise self.fail(f": {name} has dtype {dtype}; weights are float arrays")
        return plan

    def _build(self, specs, loss_spec) -> NeuralNetwork:
        """The network the (checked) architecture describes, with freshly initialised arrays."""
        try:
            layers = [layer_from_config(kind, config) for kind, config in specs]
            kind, config = loss_spec
            if not isinstance(config, dict):
                raise TypeError(f"the loss's config must be an object, got {config!r}")
            return NeuralNetwork(layers, loss_from_config(kind, config))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
            raise self.fail(f": invalid architecture ({type(exc).__name__}: {exc})") from None

    # -- the data ------------------------------------------------------------------------
    def _fill(self, network: NeuralNetwork, plan, headers) -> None:
        """Read every array into the layer that owns it, after a last check of shape and dtype."""
        targets = []
        for i, (layer, (params, buffers)) in enumerate(zip(network.layers, plan)):
            if len(layer.params) != len(params) or len(_buffers(layer)) != len(buffers):
                raise self.fail(
                    f": layer {i} has {len(layer.params)} params and {len(_buffers(layer))} buffers, "
                    f"the file {len(params)} and {len(buffers)}"
                )
            targets += zip(params + buffers, layer.params + _buffers(layer))
        for name, array in targets:
            shape, dtype, fortran, offset = headers[name]
            if shape != array.shape or dtype != array.dtype:
                raise self.fail(
                    f": {name} has shape {shape} and dtype {dtype}, expected {array.shape} and {array.dtype}"
                )
        for name, array in targets:
            shape, dtype, fortran, offset = headers[name]
            with self.archive.open(name + ".npy") as member:
                member.read(offset)
                data = member.read(array.nbytes)
                if len(data) != array.nbytes or member.read(1):  # reading to the end checks the CRC
                    raise self.fail(f": {name} is truncated")
            stored = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
            if not np.all(np.isfinite(stored)):
                raise self.fail(f": {name} holds NaN or infinity")
            array[...] = stored
