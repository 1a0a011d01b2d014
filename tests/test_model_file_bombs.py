"""Decompression bombs: small model files whose arrays claim gigabytes are refused with little memory.

A zip member of deflated zeros shrinks about 1000 to 1: a 3.7 MB file can
hold a ``param_0.npy`` that inflates to 3.84 GB. A loader that decompresses an
array before comparing its shape with the architecture takes the machine
down. These tests build such files for every array member of a model, for
extra members and for the metadata, and check that the loader refuses each one
while its memory stays under 100 MB above where it started, measured by
``tracemalloc`` in this process and by the maximum resident size of a child
process. The bombs are real zip files, and one of them, at a smaller size, is
shown to inflate when loaded carelessly.

The zips are written by hand (``write_zip``) so that a bomb of gigabytes costs
milliseconds to build: deflate output made with a full flush does not refer to
earlier data, so the compressed form of a 16 MiB block of zeros can be
repeated, and the CRC-32 of the zeros is computed by matrix powers over GF(2)
(as zlib's ``crc32_combine``), without touching gigabytes.
"""

from __future__ import annotations

import functools
import io
import json
import re
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
from process_memory import PEAK_RSS

import scratchnn
import scratchnn.serialization as serialization
from scratchnn import build_mlp
from scratchnn.layers import Dense, Layer, Residual, Sequential
from scratchnn.serialization import ModelFileError, load_network

MB = 1 << 20
LIMIT = 100 * MB  # the acceptance bound: peak memory above the baseline while refusing
BOMB_SHAPE = (64, 15_000_000)  # float32: 3.84 GB of zeros, the shape from the bug report

# -- writing zips with deflated zeros, cheaply ------------------------------------------------

_CHUNK = 16 * MB
_M = 0xFFFFFFFF


def _gf2_apply(matrix: list[int], vector: int) -> int:
    out, i = 0, 0
    while vector:
        if vector & 1:
            out ^= matrix[i]
        vector >>= 1
        i += 1
    return out


@functools.cache
def _zeros_operator(n: int) -> tuple[int, ...]:
    """The linear map on the CRC register of appending ``n`` zero bytes, as 32 columns."""
    if n == 1:
        return tuple(zlib.crc32(b"\0", (1 << i) ^ _M) ^ _M for i in range(32))
    half = _zeros_operator(n // 2)
    square = tuple(_gf2_apply(half, col) for col in half)
    if n % 2:
        one = _zeros_operator(1)
        square = tuple(_gf2_apply(one, col) for col in square)
    return square


def crc32_zeros(n: int, start: int) -> int:
    """``zlib.crc32(bytes(n), start)`` without making the bytes."""
    if n == 0:
        return start
    return _gf2_apply(_zeros_operator(n), start ^ _M) ^ _M


@functools.lru_cache(maxsize=1)
def _zero_block() -> bytes:
    """Raw deflate of 16 MiB of zeros, ended by a full flush: repeatable anywhere in a stream."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(bytes(_CHUNK)) + c.flush(zlib.Z_FULL_FLUSH)


def deflated(prefix: bytes, zeros: int) -> tuple[bytes, int, int]:
    """``(raw deflate stream, crc32, size)`` of ``prefix`` followed by ``zeros`` zero bytes."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    blocks, rest = divmod(zeros, _CHUNK)
    stream = head + _zero_block() * blocks + c.compress(bytes(rest)) + c.flush()
    return stream, crc32_zeros(zeros, zlib.crc32(prefix)), len(prefix) + zeros


def write_zip(path, members: dict[str, tuple[bytes, int]]) -> None:
    """A zip archive of ``{name: (prefix, zeros)}``, each member deflated, without ZIP64."""
    out, central = io.BytesIO(), io.BytesIO()
    for name, (prefix, zeros) in members.items():
        data, crc, size = deflated(prefix, zeros)
        offset, encoded = out.tell(), name.encode()
        out.write(
            struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size, len(encoded), 0)
        )
        out.write(encoded + data)
        central.write(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                *(
                    0x02014B50,
                    20,
                    20,
                    0,
                    8,
                    0,
                    0x21,
                    crc,
                    len(data),
                    size,
                    len(encoded),
                    0,
                    0,
                    0,
                    0,
                    0,
                    offset,
                ),
            )
        )
        central.write(encoded)
    start, directory = out.tell(), central.getvalue()
    out.write(directory)
    out.write(
        struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), start, 0)
    )
    path.write_bytes(out.getvalue())


def npy_header(shape: tuple, dtype) -> bytes:
    """The bytes of a ``.npy`` file before its data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer,
        {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape},
    )
    return buffer.getvalue()


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def zero_member(shape: tuple, dtype=np.float32) -> tuple[bytes, int]:
    """A member whose header says ``shape`` and whose data is that many zero bytes."""
    return npy_header(shape, dtype), int(np.prod(shape)) * np.dtype(dtype).itemsize


def full_member(array: np.ndarray) -> tuple[bytes, int]:
    return npy(array), 0


# -- a real model, taken apart ------------------------------------------------------------


class RunningCount(Layer):
    """A test layer with a parameter and a buffer: ``y = x * scale``; training counts batches."""

    param_names = ("scale",)
    buffer_names = ("count",)

    def __init__(self, features: int) -> None:
        super().__init__()
        self.features = features
        self.scale = np.ones(features, dtype=np.float32)
        self.count = np.zeros(features, dtype=np.float32)
        self.params, self.grads, self.buffers = [self.scale], [np.zeros_like(self.scale)], [self.count]

    def forward(self, x, training=False):
        if training:
            self.count += 1
        return x * self.scale

    def get_config(self) -> dict:
        return {"features": self.features}

    @classmethod
    def array_shapes(cls, config: dict) -> list[tuple]:
        return [(config["features"],), (config["features"],)]


@pytest.fixture
def running_count(monkeypatch):
    monkeypatch.setitem(serialization.LAYERS, "RunningCount", RunningCount)


def model_with_a_buffer():
    net = build_mlp(4, 3, 2, seed=0)
    layers = [net.layers[0], RunningCount(3), *net.layers[1:]]
    layers[1].count[:] = [1.0, 2.0, 3.0]
    return type(net)(layers, net.loss)


def members_of(net, tmp_path) -> tuple[dict, dict]:
    """(meta dict, {member name: (prefix, zeros)}) of ``net`` saved to a file."""
    path = tmp_path / "real.npz"
    scratchnn.save(net, path)
    with zipfile.ZipFile(path) as z:
        parts = {info.filename: (z.read(info), 0) for info in z.infolist()}
    meta = json.loads(str(np.load(io.BytesIO(parts["__meta__.npy"][0]), allow_pickle=False)))
    return meta, parts


def with_meta(parts: dict, meta: dict) -> dict:
    return {**parts, "__meta__.npy": full_member(np.array(json.dumps(meta)))}


def refuse_measured(path) -> tuple[str, int]:
    """(message, peak bytes above the baseline) of loading ``path``, which must be refused."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        with pytest.raises(ModelFileError) as info:
            load_network(path)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value)
    return str(info.value), peak


# -- the bombs ---------------------------------------------------------------------------------

BOMB = zero_member(BOMB_SHAPE)


def test_the_bomb_files_are_small_and_valid_zips_that_inflate_when_loaded_carelessly(tmp_path):
    # The control: the construction makes real, valid archives. At 64 MB a careless
    # np.load inflates it all (with its CRC checked); at 3.84 GB the file is a few MB.
    assert crc32_zeros(1000, zlib.crc32(b"ab")) == zlib.crc32(b"ab" + bytes(1000))
    small = tmp_path / "small.npz"
    write_zip(small, {"param_0.npy": zero_member((16 * MB,))})
    tracemalloc.start()
    try:
        with np.load(small, allow_pickle=False) as z:
            assert z["param_0"].shape == (16 * MB,)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak > 64 * MB
    big = tmp_path / "big.npz"
    write_zip(big, {"param_0.npy": BOMB})
    assert big.stat().st_size < 4 * MB
    with zipfile.ZipFile(big) as z:
        assert z.getinfo("param_0.npy").file_size > 3.8e9


def bomb_cases():
    """(name, edit) pairs: ``edit(meta, parts)`` plants a 3.84 GB member in a real model."""

    def replace(name, keep_arch=True):
        def edit(meta, parts):
            if not keep_arch:  # the architecture made to agree with the bomb's header
                meta["architecture"]["layers"][0]["config"].update(in_features=64, out_features=15_000_000)
            return {**with_meta(parts, meta), f"{name}.npy": BOMB}

        return edit

    def extra(name):
        return lambda meta, parts: {**with_meta(parts, meta), f"{name}.npy": BOMB}

    def meta_bomb(meta, parts):
        return {**parts, "__meta__.npy": zero_member((), "<U500000000")}

    return {
        "0.W": replace("0.W"),
        "0.b": replace("0.b"),
        "1.scale": replace("1.scale"),
        "3.W": replace("3.W"),
        "1.count": replace("1.count"),
        "0.W-architecture-agrees": replace("0.W", keep_arch=False),
        "extra-9.W": extra("9.W"),
        "extra-0.running_mean": extra("0.running_mean"),
        "extra-other-name": extra("weights"),
        "extra-old-name-param_0": extra("param_0"),
        "__meta__": meta_bomb,
    }


@pytest.mark.parametrize("case", list(bomb_cases()))
def test_a_bomb_in_any_member_is_refused_with_little_memory(tmp_path, running_count, case):
    meta, parts = members_of(model_with_a_buffer(), tmp_path)
    path = tmp_path / "bomb.npz"
    write_zip(path, bomb_cases()[case](meta, parts))
    message, peak = refuse_measured(path)
    assert peak < LIMIT, f"{case}: {peak / MB:.1f} MB above the baseline ({message})"


def test_the_refusals_come_from_the_checks_named_in_their_messages(tmp_path, running_count):
    meta, parts = members_of(model_with_a_buffer(), tmp_path)
    path = tmp_path / "bomb.npz"
    write_zip(path, bomb_cases()["0.W"](meta, parts))
    assert "refused as a decompression bomb" in refuse_measured(path)[0]


# Bombs small enough to pass the check on the total size (16 MB of zeros fit in the
# allowance for small all-zero arrays), each stopped by a check of its own.
MODEST = 15 * MB


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda p: {**p, "0.W.npy": zero_member((64, MODEST // 256))}, r"declares weights of shape"),
        (
            lambda p: {**p, "0.W.npy": (npy_header((4, 3), np.float32), MODEST)},
            r"the archive says it holds",
        ),
        (lambda p: {**p, "0.W.npy": (npy_header((4, 3), np.float32), 8)}, r"the archive says it holds"),
        (lambda p: {**p, "5.W.npy": zero_member((MODEST // 4,))}, r"expected arrays"),
        (lambda p: {**p, "1.count.npy": zero_member((MODEST // 4,))}, r"declares buffers of shape"),
        (
            lambda p: {**p, "0.running_mean.npy": zero_member((MODEST // 4,))},
            r"not expected: \['0.running_mean'\]",
        ),
        (lambda p: {**p, "0.W.npy": zero_member((4, 3), np.int32)}, r"dtype int32; weights are float"),
        (lambda p: {**p, "0.W.npy": zero_member((4, 3), np.float64)}, r"dtype float64, expected"),
        (lambda p: {**p, "junk.txt": (b"x", MODEST)}, r"expected arrays"),
    ],
    ids=[
        "header-disagrees-with-architecture",
        "more-data-than-the-header-says",
        "less-data-than-the-header-says",
        "extra-param",
        "extra-buffer",
        "buffer-claimed-by-a-layer-without-buffers",
        "integer-weights",
        "float64-weights-in-a-float32-model",
        "extra-file",
    ],
)
def test_each_check_alone_refuses_its_bomb_before_reading_data(tmp_path, running_count, edit, words):
    _, parts = members_of(model_with_a_buffer(), tmp_path)
    path = tmp_path / "bomb.npz"
    write_zip(path, edit(parts))
    message, peak = refuse_measured(path)
    assert re.search(words, message), message
    assert peak < 2 * MB, f"{peak / MB:.1f} MB: data was read before the refusal"


def test_a_huge_npy_header_is_refused_after_reading_its_first_bytes_only(tmp_path):
    _, parts = members_of(build_mlp(4, 3, 2, seed=0), tmp_path)
    header = b"\x93NUMPY\x02\x00" + struct.pack("<I", MODEST)  # a version 2 header of 15 MB (spaces)
    path = tmp_path / "bomb.npz"
    write_zip(path, {**parts, "0.W.npy": (header + b" " * 1000, MODEST - 1000)})
    message, peak = refuse_measured(path)
    assert "array header" in message
    assert peak < 2 * MB


def test_metadata_beyond_its_limit_is_refused_before_it_is_read(tmp_path):
    # The archive is padded with 3 MB of incompressible data, so that the total-size
    # check lets a 36 MB __meta__ through to the check of its own length.
    _, parts = members_of(build_mlp(4, 3, 2, seed=0), tmp_path)
    noise = np.random.default_rng(0).random(3 * MB // 8)
    members = {**parts, "__meta__.npy": zero_member((), "<U9000000"), "0.W.npy": full_member(noise)}
    path = tmp_path / "meta.npz"
    write_zip(path, members)
    message, peak = refuse_measured(path)
    assert "more than 8,388,608" in message
    assert peak < 2 * MB


def test_a_child_process_refusing_every_bomb_stays_under_100_mb_above_its_baseline(tmp_path):
    # tracemalloc sees only Python's and NumPy's allocations; the resident size sees everything.
    meta, parts = members_of(build_mlp(4, 3, 2, seed=0), tmp_path)
    cases = bomb_cases()
    paths = []
    for name in ["0.W", "0.b", "0.W-architecture-agrees", "extra-9.W", "__meta__"]:
        path = tmp_path / f"{name}.npz"
        write_zip(path, cases[name](json.loads(json.dumps(meta)), parts))
        paths.append(str(path))
    good = tmp_path / "good.npz"
    scratchnn.save(build_mlp(4, 3, 2, seed=0), good)
    script = PEAK_RSS + textwrap.dedent(
        """
        import json, sys
        from scratchnn.serialization import ModelFileError, load_network
        load_network(sys.argv[1])  # warm up: imports, caches
        base = peak_rss()
        refused = 0
        for path in sys.argv[2:]:
            try:
                load_network(path)
            except ModelFileError:
                refused += 1
        peak = peak_rss()
        print(json.dumps({"refused": refused, "growth_kb": (peak - base) // 1024}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(good), *paths],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["refused"] == len(paths)
    assert result["growth_kb"] * 1024 < LIMIT, result


# -- what the checks must still let through -----------------------------------------------------


def test_a_model_with_buffers_round_trips_them(tmp_path, running_count):
    net = model_with_a_buffer()
    scratchnn.save(net, tmp_path / "m.npz")
    with zipfile.ZipFile(tmp_path / "m.npz") as z:
        names = sorted(z.namelist())
    assert names == ["0.W.npy", "0.b.npy", "1.count.npy", "1.scale.npy", "3.W.npy", "3.b.npy", "__meta__.npy"]
    loaded = scratchnn.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.layers[1].count, [1.0, 2.0, 3.0])
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.forward(x), net.forward(x))


def test_a_version_1_file_still_loads(tmp_path):
    net = build_mlp(4, 3, 2, seed=0)
    meta = {
        "format": "scratchnn-model",
        "format_version": 1,
        "architecture": net.get_config(),
        "metadata": {"a": 1},
    }
    arrays = {f"param_{i}": p for i, p in enumerate(net.parameters())}
    np.savez(tmp_path / "v1.npz", __meta__=np.array(json.dumps(meta)), **arrays)
    loaded, metadata = load_network(tmp_path / "v1.npz")
    assert metadata == {"a": 1}
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.forward(x), net.forward(x))


def test_a_version_1_file_cannot_hold_buffers(tmp_path, running_count):
    meta, parts = members_of(model_with_a_buffer(), tmp_path)
    meta["format_version"] = 1
    path = tmp_path / "v1.npz"
    write_zip(path, with_meta(parts, meta))
    with pytest.raises(ModelFileError, match="version 1 model file cannot hold buffers"):
        load_network(path)


def test_a_bias_stored_under_another_name_is_refused_before_its_data_is_read(tmp_path):
    _, parts = members_of(build_mlp(4, 3, 2, seed=0), tmp_path)
    parts["0.running_mean.npy"] = parts.pop("0.b.npy")
    path = tmp_path / "moved.npz"
    write_zip(path, parts)
    with pytest.raises(ModelFileError, match=r"layer 0 \(Dense\) declares weights of shape \(3,\) for 0.b"):
        load_network(path)


def version_2_members(net) -> dict:
    """The members of ``net`` saved as format version 2 wrote them: param_K in order, buffer_L_K by layer."""
    meta = {
        "format": "scratchnn-model",
        "format_version": 2,
        "architecture": net.get_config(),
        "metadata": {},
    }
    members = {f"param_{k}.npy": full_member(p) for k, p in enumerate(net.parameters())}
    for i, layer in enumerate(net.layers):
        members.update({f"buffer_{i}_{k}.npy": full_member(b) for k, b in enumerate(layer.buffers)})
    return with_meta(members, meta)


def test_a_version_2_file_with_buffers_still_loads_bit_for_bit(tmp_path, running_count):
    net = model_with_a_buffer()
    path = tmp_path / "v2.npz"
    write_zip(path, version_2_members(net))
    loaded = scratchnn.load(path)
    np.testing.assert_array_equal(loaded.layers[1].count, [1.0, 2.0, 3.0])
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.forward(x), net.forward(x))


def test_a_version_2_bias_stored_as_a_buffer_is_refused_before_its_data_is_read(tmp_path):
    parts = version_2_members(build_mlp(4, 3, 2, seed=0))
    parts["buffer_0_0.npy"] = parts.pop("param_1.npy")
    parts.update({"param_1.npy": parts.pop("param_2.npy"), "param_2.npy": parts.pop("param_3.npy")})
    path = tmp_path / "moved.npz"
    write_zip(path, parts)
    message, peak = refuse_measured(path)
    assert re.search(
        r"layer 0 \(Dense\) declares weights of shape \(3,\) for 0.b, the file holds \(3, 2\)", message
    )
    assert peak < 2 * MB


def test_a_compressed_model_of_real_weights_loads(tmp_path):
    # np.savez_compressed from another tool: real weights barely compress, so the
    # inflation limit never refuses them.
    net = build_mlp(64, (256, 128), 10, seed=0)
    meta, _ = members_of(net, tmp_path)
    arrays = dict(net.model.named_arrays())
    np.savez_compressed(tmp_path / "c.npz", __meta__=np.array(json.dumps(meta)), **arrays)
    x = np.random.default_rng(0).standard_normal((5, 64)).astype(np.float32)
    np.testing.assert_array_equal(scratchnn.load(tmp_path / "c.npz").forward(x), net.forward(x))


# -- nested containers: the same checks reach every array and every config ----------------------


def model_with_a_nested_buffer():
    """Dense, then a residual block holding a Dense and a RunningCount (a buffer two levels down)."""
    net = build_mlp(4, 3, 2, seed=0)
    count = RunningCount(3)
    count.count[:] = [4.0, 5.0, 6.0]
    block = Residual(Sequential([Dense(3, 3, seed=1), count]))
    return type(net)([net.layers[0], block, *net.layers[1:]], net.loss)


def test_a_nested_model_names_its_arrays_by_path_and_round_trips_them(tmp_path, running_count):
    net = model_with_a_nested_buffer()
    scratchnn.save(net, tmp_path / "m.npz")
    with zipfile.ZipFile(tmp_path / "m.npz") as z:
        names = sorted(z.namelist())
    assert names == [
        "0.W.npy", "0.b.npy", "1.block.0.W.npy", "1.block.0.b.npy", "1.block.1.count.npy",
        "1.block.1.scale.npy", "3.W.npy", "3.b.npy", "__meta__.npy",
    ]  # fmt: skip
    loaded = scratchnn.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.layers[1].block.layers[1].count, [4.0, 5.0, 6.0])
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.forward(x), net.forward(x))


def _nested_agrees(meta, parts):
    """A bomb in the nested Dense's weights, with the nested config edited to agree with its header."""
    block = meta["architecture"]["layers"][1]["config"]["block"]["config"]["layers"]
    block[0]["config"].update(in_features=64, out_features=15_000_000)
    return {**with_meta(parts, meta), "1.block.0.W.npy": BOMB}


NESTED_BOMBS = {
    "1.block.0.W": lambda meta, parts: {**with_meta(parts, meta), "1.block.0.W.npy": BOMB},
    "1.block.1.count": lambda meta, parts: {**with_meta(parts, meta), "1.block.1.count.npy": BOMB},
    "extra-1.block.2.W": lambda meta, parts: {**with_meta(parts, meta), "1.block.2.W.npy": BOMB},
    "1.block.0.W-architecture-agrees": _nested_agrees,
}


@pytest.mark.parametrize("case", list(NESTED_BOMBS))
def test_a_bomb_inside_a_container_is_refused_with_little_memory(tmp_path, running_count, case):
    meta, parts = members_of(model_with_a_nested_buffer(), tmp_path)
    path = tmp_path / "bomb.npz"
    write_zip(path, NESTED_BOMBS[case](meta, parts))
    message, peak = refuse_measured(path)
    assert peak < LIMIT, f"{case}: {peak / MB:.1f} MB above the baseline ({message})"


def _nest(depth: int) -> dict:
    spec = {"type": "ReLU", "config": {}}
    for _ in range(depth):
        spec = {"type": "Residual", "config": {"block": spec}}
    return spec


@pytest.mark.parametrize(
    ("layers", "words"),
    [
        ([_nest(40)], r"nest more than 32 deep"),
        (
            [{"type": "Sequential", "config": {"layers": [{"type": "ReLU", "config": {}}] * 20_000}}],
            r"more than 10,000 layers",
        ),
        (
            [{"type": "Residual", "config": {"block": {"type": "Conv9D", "config": {}}}}],
            r"layers\[0\]\.0: unknown layer type 'Conv9D'",
        ),
        (
            [
                {
                    "type": "Residual",
                    "config": {
                        "block": {"type": "MaxPool2D", "config": {"kernel_size": 2, "stride": 10**18}}
                    },
                }
            ],
            r"layers\[0\]\.0 \(MaxPool2D\) stride 1000000000000000000 is too large",
        ),
        (
            [{"type": "Sequential", "config": {"layers": "ReLU"}}],
            r"layers must be a list|Sequential's config",
        ),
    ],
    ids=["too-deep", "too-many-layers", "unknown-nested-type", "huge-nested-stride", "layers-not-a-list"],
)
def test_a_hostile_nested_architecture_is_refused_quickly_naming_the_layer(tmp_path, layers, words):
    meta, parts = members_of(build_mlp(4, 3, 2, seed=0), tmp_path)
    meta["architecture"]["layers"] = layers + meta["architecture"]["layers"]
    parts = {f"{int(k[0]) + 1}{k[1:]}" if k[0].isdigit() else k: v for k, v in parts.items()}
    path = tmp_path / "hostile.npz"
    write_zip(path, with_meta(parts, meta))
    message, peak = refuse_measured(path)
    assert re.search(words, message), message
    assert peak < 20 * MB


# -- sequence layers ---------------------------------------------------------------------------


def sequence_model():
    from scratchnn.recipe import build_network

    return build_network("embed11x8-pos6-res(ln-mha2c)-gru6-lstm6-last-dense", 6, 3, seed=0)


def _sequence_config(meta, path: str) -> dict:
    """The config at a dotted path of layer indices, e.g. "2.block.1" or "4"."""
    node = {"config": {"layers": meta["architecture"]["layers"]}}
    for part in path.split("."):
        node = node["config"]["block"] if part == "block" else node["config"]["layers"][int(part)]
    return node["config"]


@pytest.mark.parametrize(
    "member", ["0.weight", "1.weight", "2.block.1.in_proj_weight", "3.weight_hh", "4.weight_ih", "4.bias_hh"]
)
def test_a_bomb_in_a_sequence_layer_is_refused_with_little_memory(tmp_path, member):
    meta, parts = members_of(sequence_model(), tmp_path)
    path = tmp_path / "bomb.npz"
    write_zip(path, {**with_meta(parts, meta), f"{member}.npy": BOMB})
    message, peak = refuse_measured(path)
    assert peak < LIMIT, f"{member}: {peak / MB:.1f} MB above the baseline ({message})"


@pytest.mark.parametrize(
    ("where", "changes", "words"),
    [
        ("0", {"num_embeddings": 10**12, "embedding_dim": 10**6}, r"Embedding\) num_embeddings"),
        ("1", {"max_length": 10**15}, r"PositionalEmbedding\) max_length"),
        ("2.block.1", {"num_heads": 3}, r"MultiHeadAttention: embed_dim 8 is not divisible by num_heads 3"),
        ("2.block.1", {"embed_dim": 10**9}, r"MultiHeadAttention\) embed_dim"),
        ("2.block.0", {"normalized_shape": 10**10}, r"LayerNorm\) normalized_shape"),
        ("4", {"hidden_size": 10**12}, r"LSTM\) hidden_size"),
        ("3", {"input_size": -1}, r"input_size"),
    ],
)
def test_an_absurd_sequence_config_is_refused_before_allocation_naming_the_layer(
    tmp_path, where, changes, words
):
    meta, parts = members_of(sequence_model(), tmp_path)
    _sequence_config(meta, where).update(changes)
    path = tmp_path / "hostile.npz"
    write_zip(path, with_meta(parts, meta))
    message, peak = refuse_measured(path)
    assert re.search(words, message), message
    assert peak < 20 * MB


def test_fuzzed_sequence_config_numbers_are_refused_or_load_never_crash(tmp_path):
    """Each config number of every sequence layer set to a random value: a ModelFileError, or (when
    the value happens to keep every shape) a network that loads; never another exception."""
    rng = np.random.default_rng(0)
    meta, parts = members_of(sequence_model(), tmp_path)
    layers = ("0", "1", "2.block.0", "2.block.1", "3", "4")
    targets = [
        (w, k) for w in layers for k, v in _sequence_config(meta, w).items() if type(v) is int
    ]  # fmt: skip
    assert len(targets) >= 10
    values = [0, -1, 1, 2, 3, 5, 7, 2**31, 2**63, 10**30, 6, 8, 24]
    refused = 0
    for i in range(60):
        m = json.loads(json.dumps(meta))
        where, key = targets[i % len(targets)]
        _sequence_config(m, where)[key] = int(rng.choice(values))
        path = tmp_path / f"fuzz{i}.npz"
        write_zip(path, with_meta(parts, m))
        try:
            load_network(path)
        except ModelFileError as exc:
            refused += str(path) in str(exc)  # named: counted
    assert refused > 30  # most changes break a shape


@pytest.mark.parametrize("spec", ["lstm8-gru8-rnn8-last-dense", "dense8-res(ln-mha2c)-gelut-mean-dense"])
def test_a_saved_recurrent_or_attention_model_predicts_bit_for_bit(tmp_path, spec):
    from scratchnn.recipe import build_network

    net = build_network(spec, (7, 3), 4, seed=1)
    rng = np.random.default_rng(0)
    for p in net.parameters():  # weights of a trained model, biases too
        p[...] = rng.standard_normal(p.shape)
    x = rng.standard_normal((9, 7, 3)).astype(np.float32)
    lengths = rng.integers(1, 8, 9)
    scratchnn.save(net, tmp_path / "m.npz")
    loaded, _ = load_network(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.predict_proba(x, lengths), net.predict_proba(x, lengths))
    np.testing.assert_array_equal(loaded.predict(x, lengths), net.predict(x, lengths))
