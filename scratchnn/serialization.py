"""Model files: ``save(network, path)`` and ``load(path)``, one ``.npz`` file, no pickles.

Layout of a model file, format version 3 (a NumPy ``.npz``, i.e. a zip of ``.npy`` arrays):

* one member per array of the network, parameters and buffers alike, named by its
  dotted path (``network.model.named_arrays()``, as tinygrad's ``get_state_dict``):
  the layer's position in the network, then inside containers the child's position
  or ``block``, then the array's name in its layer: ``0.W``, ``0.b``,
  ``3.block.1.running_mean``;
* ``__meta__``: a 0-d unicode array holding JSON text: ``{"format": "scratchnn-model",
  "format_version": 3, "architecture": network.get_config(), "metadata": {...}}``.
  The architecture is ``{"layers": [{"type", "config"}, ...], "loss": {"type",
  "config"}}``; a container's config nests its children's ``{"type", "config"}``
  (``Sequential``: ``{"layers": [...]}``, ``Residual``: ``{"block": {...}}``).
  ``metadata`` is whatever the caller adds (the command-line tool stores the
  scaler, label names and settings).

Older versions still load, bit for bit: version 2 named the arrays ``param_0``,
``param_1``... (``network.parameters()`` in order) and ``buffer_L_K`` (buffer ``K``
of top-level layer ``L``); version 1 was the same without buffers.

Loading treats the file as hostile. Nothing is unpickled and nothing runs. The
archive is checked before any array data is read: its members must be exactly
the ones the architecture calls for; each member's ``.npy`` header (read from
the first bytes of the member, never more) must give the shape each layer
declares through ``array_layout(config)`` (containers: their children's, at
most ``_MAX_DEPTH`` deep and ``_MAX_LAYERS`` layers in all), a float dtype and a
size that agrees with the zip directory; and the arrays together may not
inflate to more than ``_MAX_INFLATION`` times the file's size. No number in a
layer's configuration may be larger than a size can be, and the network, built,
must fit ``NETWORK_BYTES_LIMIT`` for one row (a Conv2D padding of 3000 would
make gigabytes of activations). Only then is the data read, one array at a
time, and the arrays must hold what ``save`` writes: finite numbers, and
nothing a layer refuses in ``check_state`` (a negative running variance). So a
small file cannot make the loader, or the predictions after it, allocate much
(a "decompression bomb": deflated zeros claiming gigabytes).

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
from .network import NeuralNetwork, check_network_size, check_size_value

__all__ = ["FORMAT_VERSION", "ModelFileError", "load", "load_network", "save"]

FORMAT_VERSION = 3
_READABLE_VERSIONS = (1, 2, 3)
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

# Member names: dotted paths (version 3), or param_K / buffer_L_K (versions 1 and 2).
_NAME = re.compile(r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*")
# Containers may nest this deep and hold this many layers in all: far beyond any real
# network, and small enough that a hostile architecture builds quickly.
_MAX_DEPTH = 32
_MAX_LAYERS = 10_000


class ModelFileError(ValueError):
    """A file that is not a readable scratchnn model (truncated, corrupted, wrong version...)."""


def save(network: NeuralNetwork, path, metadata: dict | None = None) -> None:
    """Write ``network`` (weights, buffers and architecture) and ``metadata`` to ``path``.

    ``metadata`` must be JSON-ready (``TypeError`` otherwise). Refuses
    (``ValueError``) arrays holding NaN or infinity: such a file would not be a
    usable model, and ``load`` would refuse it. The write is atomic.
    """
    arrays = {}
    for name, array in network.model.named_arrays():
        if not np.all(np.isfinite(array)):
            raise ValueError(f"network array {name} holds NaN or infinity; refusing to save it to {path}")
        arrays[name] = array
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
        try:
            network.model.check_state()
        except ValueError as exc:
            raise self.fail(f": {exc}; save never writes that") from None
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
            raise self.fail(f": expected arrays named by their paths and __meta__, found {_few(names)}")
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
        """``[(layer type, config), ...]`` and ``(loss type, config)``, as declared (not built).

        Every layer, containers' children included, must be a known type with a dict
        config, no number in it larger than a size can be, at most ``_MAX_DEPTH`` deep
        and ``_MAX_LAYERS`` in all.
        """
        try:
            arch = meta["architecture"]
            specs = arch["layers"]
            if not isinstance(specs, list):
                raise TypeError(f"layers must be a list, got {type(specs).__name__}")
            out = []
            count = [0]
            for i, spec in enumerate(specs):
                kind, config = _check_layer_spec(spec, f"layers[{i}]", 0, count)
                out.append((kind, config))
            loss = (arch["loss"]["type"], arch["loss"]["config"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise self.fail(f": invalid architecture ({type(exc).__name__}: {exc})") from None
        return out, loss

    def _plan(self, specs, headers, version: int) -> dict[str, str]:
        """``{member name: array path}``, every member checked against the shape its layer declares.

        ``LAYERS[kind].array_layout(config)`` gives each array's path, shape and
        whether it is a buffer, without building anything. Version 3 names members
        by path; versions 1 and 2 by ``param_K`` (all parameters in order) and
        ``buffer_L_K`` (buffer ``K`` of top-level layer ``L``).
        """
        layouts = []
        for kind, config in specs:
            try:
                layouts.append(LAYERS[kind].array_layout(config))
            except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
                raise self.fail(f": invalid architecture ({type(exc).__name__}: {exc})") from None
        if version == 1 and any(is_buffer for layout in layouts for _, _, is_buffer in layout):
            raise self.fail(": a version 1 model file cannot hold buffers")
        plan, k = {}, 0
        for i, ((kind, _), layout) in enumerate(zip(specs, layouts)):
            n_buffers = 0
            for name, shape, is_buffer in layout:
                path = f"{i}.{name}"
                if version >= 3:
                    member = path
                elif is_buffer:
                    member, n_buffers = f"buffer_{i}_{n_buffers}", n_buffers + 1
                else:
                    member, k = f"param_{k}", k + 1
                plan[member] = path
                got = headers[member][0] if member in headers else None
                if got != tuple(shape):
                    what = "buffers" if is_buffer else "weights"
                    raise self.fail(
                        f": layer {i} ({kind}) declares {what} of shape {tuple(shape)} for {path}, "
                        f"the file holds {got} as {member}"
                    )
        if set(headers) != set(plan):
            raise self.fail(
                f": expected arrays {_few(plan)} and __meta__, found {_few(headers)}"
                f" (not expected: {_few(set(headers) - set(plan))})"
            )
        for name, (_, dtype, _, _) in headers.items():
            if dtype.kind != "f":
                raise self.fail(f": {name} has dtype {dtype}; weights are float arrays")
        return plan

    def _build(self, specs, loss_spec) -> NeuralNetwork:
        """The network the (checked) architecture describes, with freshly initialised arrays.

        Its arrays are as large as the file's (checked); its activations for one row
        must fit ``NETWORK_BYTES_LIMIT`` before any is made.
        """
        try:
            layers = [layer_from_config(kind, config) for kind, config in specs]
            kind, config = loss_spec
            if not isinstance(config, dict):
                raise TypeError(f"the loss's config must be an object, got {config!r}")
            network = NeuralNetwork(layers, loss_from_config(kind, config))
            check_network_size(_size_steps(network), itemsize=network.dtype.itemsize)
            return network
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
            raise self.fail(f": invalid architecture ({type(exc).__name__}: {exc})") from None

    # -- the data ------------------------------------------------------------------------
    def _fill(self, network: NeuralNetwork, plan: dict[str, str], headers) -> None:
        """Read every array into the layer that owns it, after a last check of shape and dtype."""
        arrays = dict(network.model.named_arrays())
        if set(arrays) != set(plan.values()):
            raise self.fail(f": the network has arrays {_few(arrays)}, the file {_few(plan.values())}")
        targets = [(name, arrays[path]) for name, path in plan.items()]
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


def _few(names, n: int = 12) -> str:
    """Up to ``n`` of ``names``, sorted, for a message (a hostile file may hold thousands)."""
    names = sorted(names)
    more = f" and {len(names) - n:,} more" if len(names) > n else ""
    return f"{names[:n]}{more}"


def _check_layer_spec(spec, label: str, depth: int, count: list[int]) -> tuple[str, dict]:
    """``(type, config)`` of a declared layer, checked with its children before anything is built."""
    if not isinstance(spec, dict):
        raise TypeError(f"{label} must be an object {{'type', 'config'}}, got {type(spec).__name__}")
    kind, config = spec["type"], spec["config"]
    if not isinstance(kind, str) or kind not in LAYERS:
        raise ValueError(f"{label}: unknown layer type {kind!r:.100}; expected one of {sorted(LAYERS)}")
    if not isinstance(config, dict):
        raise TypeError(f"{label} ({kind}): a layer's config must be an object, got {config!r:.100}")
    count[0] += 1
    if depth > _MAX_DEPTH or count[0] > _MAX_LAYERS:
        raise ValueError(
            f"containers nest more than {_MAX_DEPTH} deep or hold more than {_MAX_LAYERS:,} layers"
        )
    children = LAYERS[kind].child_specs(config)  # a container's children, unbuilt; [] for others
    for j, child in enumerate(children):
        _check_layer_spec(child, f"{label}.{j}", depth + 1, count)
    if not children:
        check_size_value(config, f"{label} ({kind})")
    return kind, config


def _size_steps(network: NeuralNetwork):
    """``(label, n_values, activation sizes)`` per top-level layer of a built network, for one row
    (for a sequence network whose shapes need a step, one step: ``NeuralNetwork.step_shape``)."""
    try:
        network.model.output_shape(None)
        shape = None
    except ValueError:
        shape = network.step_shape()
    for i, layer in enumerate(network.layers):
        sizes = layer.activation_sizes(shape)
        shape = layer.output_shape(shape)
        n_values = sum(a.size for a in layer.params + layer.buffers)
        yield f"layers[{i}] ({type(layer).__name__} {layer.get_config()})", n_values, sizes
