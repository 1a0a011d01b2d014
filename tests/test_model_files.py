"""Model files: saving is atomic, loading refuses anything that is not a complete model and never runs code.

The loader meets files from disks that filled up, copies cut short, old
versions, other programs and attackers. Whatever the bytes, ``load_network``
either returns a working network or raises ``ModelFileError`` (a ValueError)
with the reason, or ``FileNotFoundError`` for a missing path: never another
exception, never a hang, never code from the file. The property-based tests
below throw random bytes, cut and flipped copies of a real model file, and
plausible-but-wrong ``.npz`` files at it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchnn
import scratchnn.serialization as serialization
from scratchnn import build_mlp
from scratchnn.layers import BatchNorm1d, Dense, ReLU, Residual, Sequential
from scratchnn.losses import SoftmaxCrossEntropy
from scratchnn.network import NeuralNetwork
from scratchnn.serialization import FORMAT_VERSION, ModelFileError, load_network

FUZZ = settings(
    max_examples=150,
    deadline=None,  # one example may be slow on a loaded machine; the alarm below catches hangs
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@contextlib.contextmanager
def no_hang(seconds: float = 20.0):
    """Fail, rather than hang, if the block runs longer than ``seconds`` (POSIX)."""
    if sys.platform == "win32":  # pragma: no cover
        yield
        return

    def on_alarm(signum, frame):
        raise TimeoutError(f"loading took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _event(text: str) -> None:
    if currently_in_test_context():  # the helper also serves plain tests
        event(text)


def load_or_refuse(path):
    """Load ``path``; return the network, or None if it was refused with ModelFileError.

    Any other exception (or a hang) fails the test.
    """
    with no_hang():
        try:
            network, metadata = load_network(path)
        except ModelFileError as exc:
            message = str(exc)
        else:
            message = None
    if message is not None:
        assert str(path) in message  # the message says which file
        # the reason, for --hypothesis-show-statistics: which checks the fuzzers reach
        _event(re.sub(r"\(.*|'[^']*'|\d+|\[.*", "", message.replace(str(path), "FILE")).strip())
        return None
    _event("loaded")
    assert isinstance(metadata, dict)
    assert all(np.isfinite(p).all() for p in network.parameters())
    return network


# -- a real model file and its parts -------------------------------------------------


def _network():
    return build_mlp(4, 3, 2, seed=0)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def model_bytes(model_dir) -> bytes:
    path = model_dir / "good.npz"
    scratchnn.save(_network(), path, {"label_names": ["a", "b"]})
    return path.read_bytes()


def _parts(data: bytes) -> tuple[dict, dict]:
    """(meta dict, {name: array}) of a model file's bytes."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        arrays = {name: z[name] for name in z.files}
    meta = json.loads(str(arrays.pop("__meta__")))
    return meta, arrays


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _zip(members: dict, raw: set) -> bytes:
    """An .npz archive; the members named in ``raw`` are stored as plain bytes, not .npy."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, arr in members.items():
            if name in raw:
                z.writestr(name, str(arr).encode())
            else:
                member = io.BytesIO()
                np.save(member, arr, allow_pickle=False)
                z.writestr(name + ".npy", member.getvalue())
    return buffer.getvalue()


def _meta_array(meta) -> np.ndarray:
    return np.array(json.dumps(meta))


X = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)


# -- round trip and atomic saving --------------------------------------------------------


def test_a_saved_model_loads_back_to_identical_predictions(tmp_path):
    net = _network()
    scratchnn.save(net, tmp_path / "m.npz", {"note": "hi"})
    loaded, meta = load_network(tmp_path / "m.npz")
    assert meta == {"note": "hi"}
    np.testing.assert_array_equal(loaded.forward(X), net.forward(X))
    np.testing.assert_array_equal(scratchnn.load(tmp_path / "m.npz").predict(X), net.predict(X))


class Boom(Exception):
    pass


def _half_then_boom(file, **arrays):
    file.write(b"PK\x03\x04 half of a model file")
    raise Boom("disk full")


@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt])
def test_a_crash_mid_write_leaves_the_previous_model_intact_and_no_temp_file(tmp_path, monkeypatch, error):
    path = tmp_path / "model.npz"
    scratchnn.save(_network(), path)
    before = path.read_bytes()

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 the first bytes of a new model")
        raise error("mid-write")

    monkeypatch.setattr(serialization.np, "savez", crash)
    other = build_mlp(4, 3, 2, seed=1)
    with pytest.raises(error):
        scratchnn.save(other, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
    monkeypatch.undo()
    np.testing.assert_array_equal(scratchnn.load(path).forward(X), _network().forward(X))


def test_a_crash_mid_write_of_a_new_file_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(serialization.np, "savez", _half_then_boom)
    with pytest.raises(Boom):
        scratchnn.save(_network(), tmp_path / "sub" / "model.npz")
    assert list((tmp_path / "sub").iterdir()) == []


def test_a_failed_rename_leaves_the_previous_model_intact_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    scratchnn.save(_network(), path)
    before = path.read_bytes()

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", str(dst))

    monkeypatch.setattr(serialization.os, "replace", refuse)
    with pytest.raises(PermissionError):
        scratchnn.save(build_mlp(4, 3, 2, seed=1), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_the_temporary_file_is_complete_before_it_replaces_the_model(tmp_path, monkeypatch):
    # At the moment of the rename the temporary file must already be a loadable model.
    path = tmp_path / "model.npz"
    seen = []
    real_replace = os.replace

    def check_then_replace(src, dst):
        seen.append(load_network(src)[0].forward(X))
        real_replace(src, dst)

    monkeypatch.setattr(serialization.os, "replace", check_then_replace)
    scratchnn.save(_network(), path)
    np.testing.assert_array_equal(seen[0], _network().forward(X))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_saved_model_has_ordinary_permissions_not_the_temp_files_0600(tmp_path):
    old = os.umask(0o022)
    try:
        scratchnn.save(_network(), tmp_path / "model.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "model.npz").stat().st_mode & 0o777 == 0o644


def test_saving_refuses_nan_weights_and_keeps_the_previous_model(tmp_path):
    path = tmp_path / "model.npz"
    scratchnn.save(_network(), path)
    before = path.read_bytes()
    broken = _network()
    broken.parameters()[2][1, 0] = np.nan
    with pytest.raises(ValueError, match=r"network array 2\.W holds NaN or infinity"):
        scratchnn.save(broken, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_saving_refuses_metadata_that_is_not_json(tmp_path):
    with pytest.raises(TypeError, match="metadata must be JSON-serialisable"):
        scratchnn.save(_network(), tmp_path / "m.npz", {"scaler": np.zeros(3)})
    with pytest.raises(TypeError, match="metadata must be JSON-serialisable"):
        scratchnn.save(_network(), tmp_path / "m.npz", {"score": float("nan")})
    assert list(tmp_path.iterdir()) == []


# -- refused files, one by one -------------------------------------------------------------


def test_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="model file not found"):
        load_network(tmp_path / "nope.npz")


@pytest.mark.parametrize("cut", [0, 1, 3, 4, 30, 100, 0.25, 0.5, 0.75, -22, -1])
def test_a_truncated_model_file_is_refused(tmp_path, model_bytes, cut):
    n = int(cut * len(model_bytes)) if isinstance(cut, float) else cut
    path = tmp_path / "cut.npz"
    path.write_bytes(model_bytes[:n])
    expected = r"not an \.npz archive" if len(model_bytes[:n]) < 4 else r"truncated or corrupted"
    with pytest.raises(ModelFileError, match=rf"cut\.npz .*{expected}"):
        load_network(path)


def test_every_prefix_of_a_model_file_is_refused(tmp_path, model_bytes):
    path = tmp_path / "cut.npz"
    for n in range(0, len(model_bytes), 17):
        path.write_bytes(model_bytes[:n])
        assert load_or_refuse(path) is None, f"a file cut to {n} bytes loaded"


def test_a_corrupted_weight_is_caught_by_the_archive_checksum(tmp_path, model_bytes):
    data = bytearray(model_bytes)
    start = data.index(b"0.W.npy") + 200  # inside the first weight array's data
    data[start] ^= 0xFF
    path = tmp_path / "flipped.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="CRC"):
        load_network(path)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "not an .npz archive"),
        (b"hello, I am a text file\n", "not an .npz archive"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "not an .npz archive"),
        (b"\x93NUMPY" + bytes(100), "not an .npz archive"),
        (b"PK\x05\x06" + bytes(18), "no __meta__"),  # an empty zip archive
    ],
    ids=["empty", "text", "png", "npy-magic", "empty-zip"],
)
def test_files_that_are_not_models_are_refused(tmp_path, content, words):
    path = tmp_path / "thing.npz"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=words):
        load_network(path)


def test_a_npy_file_is_refused(tmp_path):
    path = tmp_path / "weights.npy"
    np.save(path, np.zeros((4, 3)))
    with pytest.raises(ModelFileError, match=r"not an \.npz archive"):
        load_network(path)


def test_a_data_npz_is_not_a_model(tmp_path):
    path = tmp_path / "data.npz"
    path.write_bytes(_npz(X=np.zeros((3, 4)), y=np.arange(3)))
    with pytest.raises(ModelFileError, match="no __meta__"):
        load_network(path)


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(ModelFileError, match="readable"):
        load_network(tmp_path)


@pytest.mark.parametrize(
    ("version", "shown"),
    [(FORMAT_VERSION + 1, str(FORMAT_VERSION + 1)), (0, "0"), ("1", "'1'"), (1.0, "1.0"), (None, "None")],
)
def test_another_format_version_is_refused_naming_both_versions(tmp_path, model_bytes, version, shown):
    meta, arrays = _parts(model_bytes)
    meta["format_version"] = version
    path = tmp_path / "other.npz"
    path.write_bytes(_npz(__meta__=_meta_array(meta), **arrays))
    with pytest.raises(
        ModelFileError, match=rf"version {shown}; this scratchnn reads version {FORMAT_VERSION}"
    ):
        load_network(path)


def test_an_npz_from_another_program_is_refused(tmp_path, model_bytes):
    meta, arrays = _parts(model_bytes)
    meta["format"] = "keras-model"
    path = tmp_path / "other.npz"
    path.write_bytes(_npz(__meta__=_meta_array(meta), **arrays))
    with pytest.raises(ModelFileError, match="not a scratchnn model file"):
        load_network(path)


def test_a_file_claiming_huge_layers_is_refused_without_allocating_them(tmp_path, model_bytes):
    meta, arrays = _parts(model_bytes)
    meta["architecture"]["layers"][0]["config"].update(in_features=200_000, out_features=200_000)
    path = tmp_path / "huge.npz"
    path.write_bytes(_npz(__meta__=_meta_array(meta), **arrays))
    with no_hang(10), pytest.raises(ModelFileError, match=r"layer 0 \(Dense\) declares weights of shape"):
        load_network(path)


def test_deeply_nested_json_is_refused(tmp_path):
    path = tmp_path / "deep.npz"
    path.write_bytes(_npz(__meta__=np.array("[" * 100_000 + "]" * 100_000)))
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_network(path)


def test_a_compressed_archive_with_a_damaged_stream_is_refused(tmp_path, model_bytes):
    meta, arrays = _parts(model_bytes)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, __meta__=_meta_array(meta), **arrays)
    good = tmp_path / "compressed.npz"
    good.write_bytes(buffer.getvalue())
    np.testing.assert_array_equal(load_network(good)[0].forward(X), _network().forward(X))
    data = bytearray(buffer.getvalue())
    damaged = 0
    path = tmp_path / "damaged.npz"
    for offset in range(40, len(data) - 200, 29):
        copy = bytearray(data)
        copy[offset] ^= 0x5A
        path.write_bytes(bytes(copy))
        if load_or_refuse(path) is None:
            damaged += 1
    assert damaged > 0


# -- pickles: refused, and never executed -------------------------------------------------------


class _MakesMarker:
    """Unpickling this calls ``os.mkdir(marker)``: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _object_array(marker: Path) -> np.ndarray:
    arr = np.empty(1, dtype=object)
    arr[0] = _MakesMarker(marker)
    return arr


def _npz_with_pickles(**arrays) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, arr in arrays.items():
            member = io.BytesIO()
            np.save(member, arr, allow_pickle=True)
            z.writestr(name + ".npy", member.getvalue())
    return buffer.getvalue()


def test_the_pickle_payload_is_live_when_loaded_carelessly(tmp_path):
    # The control: with allow_pickle=True, NumPy runs the payload. So its absence below means something.
    marker = tmp_path / "ran"
    path = tmp_path / "evil.npz"
    path.write_bytes(_npz_with_pickles(param_0=_object_array(marker)))
    with np.load(path, allow_pickle=True) as z:
        z["param_0"]
    assert marker.exists()


@pytest.mark.parametrize("where", ["param_0", "__meta__", "extra"])
def test_an_npz_carrying_pickled_objects_is_refused_and_its_code_never_runs(tmp_path, model_bytes, where):
    meta, arrays = _parts(model_bytes)
    marker = tmp_path / "ran"
    members = {"__meta__": _meta_array(meta), **arrays}
    members[where] = _object_array(marker)
    path = tmp_path / "evil.npz"
    path.write_bytes(_npz_with_pickles(**members))
    with pytest.raises(ModelFileError, match=r"pickled objects, which are refused|expected arrays"):
        load_network(path)
    assert not marker.exists()


def test_a_raw_pickle_file_is_refused_and_its_code_never_runs(tmp_path):
    import pickle

    marker = tmp_path / "ran"
    path = tmp_path / "model.npz"
    path.write_bytes(pickle.dumps(_MakesMarker(marker)))
    with pytest.raises(ModelFileError, match=r"not an \.npz archive"):
        load_network(path)
    assert not marker.exists()


# -- property-based: random bytes, cuts, flips, plausible fakes --------------------------------


@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes_are_refused(model_dir, data):
    path = model_dir / "random.npz"
    path.write_bytes(data)
    assert load_or_refuse(path) is None


@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes_behind_a_zip_signature_are_refused(model_dir, data):
    path = model_dir / "random.npz"
    path.write_bytes(b"PK\x03\x04" + data)
    assert load_or_refuse(path) is None


@FUZZ
@given(
    cut=st.integers(min_value=0),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)), min_size=1, max_size=4),
)
def test_cut_or_flipped_model_files_are_refused_or_load_unchanged(model_dir, model_bytes, cut, flips):
    data = bytearray(model_bytes)
    for position, xor in flips:
        data[position % len(data)] ^= xor
    data = bytes(data[: len(data) - cut % 64])  # cut 0..63 bytes off the end
    path = model_dir / "damaged.npz"
    path.write_bytes(data)
    network = load_or_refuse(path)
    if network is not None:  # a flip in a harmless byte (a timestamp, say): the model must be intact
        np.testing.assert_array_equal(network.forward(X), _network().forward(X))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)

# Places in a real model's metadata to delete or overwrite.
META_PATHS = [
    ("format",),
    ("format_version",),
    ("architecture",),
    ("architecture", "layers"),
    ("architecture", "layers", 0),
    ("architecture", "layers", 0, "type"),
    ("architecture", "layers", 0, "config"),
    ("architecture", "layers", 0, "config", "in_features"),
    ("architecture", "layers", 0, "config", "out_features"),
    ("architecture", "layers", 0, "config", "dtype"),
    ("architecture", "layers", 0, "config", "init"),
    ("architecture", "layers", 1, "type"),
    ("architecture", "layers", 2),
    ("architecture", "loss"),
    ("architecture", "loss", "type"),
    ("architecture", "loss", "config"),
    ("metadata",),
]

PLAUSIBLE = st.sampled_from(
    [0, 1, 2, 3, 4, -1, 10**9, 2.5, "Dense", "ReLU", "Sigmoid", "Dropout", "float16", "float64", "object",
     "he", "SoftmaxCrossEntropy", "MeanSquaredError", [], {}, [3, 2], {"rate": 2.0}, "NaN", None]
)  # fmt: skip


def _set(meta, path, value, delete):
    target = meta
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value


ARRAYS = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.int64, np.bool_, np.dtype("<U3"), np.complex64]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=5),
)


def _nested_network():
    """A residual block around Dense, BatchNorm1d (buffers) and ReLU, between two Dense layers."""
    rng = np.random.default_rng(0)
    block = Sequential([Dense(3, 3, seed=rng), BatchNorm1d(3), ReLU()])
    return NeuralNetwork(
        [Dense(4, 3, seed=rng), Residual(block), Dense(3, 2, seed=rng)], SoftmaxCrossEntropy()
    )


@pytest.fixture(scope="module")
def nested_model_bytes(model_dir) -> bytes:
    path = model_dir / "nested.npz"
    scratchnn.save(_nested_network(), path, {"label_names": ["a", "b"]})
    return path.read_bytes()


_BLOCK = ("architecture", "layers", 1, "config", "block", "config", "layers")
NESTED_META_PATHS = [
    *META_PATHS,
    ("architecture", "layers", 1, "config"),
    ("architecture", "layers", 1, "config", "block"),
    ("architecture", "layers", 1, "config", "block", "type"),
    _BLOCK,
    (*_BLOCK, 0),
    (*_BLOCK, 0, "config", "out_features"),
    (*_BLOCK, 1, "type"),
    (*_BLOCK, 1, "config", "num_features"),
    (*_BLOCK, 2),
]
NESTED_MEMBERS = ["0.W", "1.block.0.W", "1.block.1.gamma", "1.block.1.running_var", "2.b", "param_0", "X"]


def _fuzz_one(model_dir, model_bytes, meta_edits, meta_text, meta_kind, array_edits, raw):
    meta, arrays = _parts(model_bytes)
    for path, value, delete in meta_edits:
        with contextlib.suppress(KeyError, IndexError, TypeError):
            _set(meta, path, value, delete)
    members = dict(arrays)
    for name, edit in array_edits.items():
        if isinstance(edit, np.ndarray):
            members[name] = edit
        elif edit == "drop":
            members.pop(name, None)
        elif name in members:
            arr = members[name].copy()
            if edit in ("nan", "inf", "negative"):
                arr.flat[0] = {"nan": np.nan, "inf": np.inf, "negative": -1.0}[edit]
            elif edit == "transpose":
                arr = arr.T.copy()
            else:
                arr = arr.astype(edit)
            members[name] = arr
    text = json.dumps(meta) if meta_text is None else meta_text
    if meta_kind == "json":
        members["__meta__"] = np.array(text)
    elif meta_kind == "bytes":
        members["__meta__"] = np.array(text.encode("utf-8", "replace"))
    elif meta_kind == "2-D":
        members["__meta__"] = np.array([[text]])
    elif meta_kind == "number":
        members["__meta__"] = np.array(1.0)
    path = model_dir / "plausible.npz"
    path.write_bytes(_zip(members, raw))
    network = load_or_refuse(path)
    if network is not None:
        width = network.n_features or 4
        assert network.predict(np.zeros((2, width))).shape == (2,)


def _fuzz_strategies(paths, members):
    return {
        "meta_edits": st.lists(
            st.tuples(st.sampled_from(paths), PLAUSIBLE | JSON, st.booleans()), max_size=3
        ),
        # mostly the real (edited) metadata, sometimes other text in its place
        "meta_text": st.one_of(
            st.none(),
            st.none(),
            st.none(),
            st.sampled_from(["", "{", "not json", "[1, 2]", "null", '"text"', "NaN", "{}"]),
            st.text(),
        ),
        "meta_kind": st.sampled_from(["json"] * 6 + ["missing", "bytes", "2-D", "number"]),
        "array_edits": st.dictionaries(
            st.sampled_from(members),
            st.sampled_from(["drop", "nan", "inf", "negative", "transpose", "float64"]) | ARRAYS,
            max_size=3,
        ),
        "raw": st.sampled_from([set()] * 5 + [{"__meta__"}, {members[0]}, {members[-3]}]),
    }


@FUZZ
@given(**_fuzz_strategies(META_PATHS, ["0.W", "0.b", "2.W", "2.b", "param_0", "extra", "X"]))
def test_plausible_but_malformed_model_files_are_refused_or_load_as_working_networks(
    model_dir, model_bytes, meta_edits, meta_text, meta_kind, array_edits, raw
):
    _fuzz_one(model_dir, model_bytes, meta_edits, meta_text, meta_kind, array_edits, raw)


@FUZZ
@given(**_fuzz_strategies(NESTED_META_PATHS, NESTED_MEMBERS))
def test_plausible_but_malformed_nested_model_files_are_refused_or_load_as_working_networks(
    model_dir, nested_model_bytes, meta_edits, meta_text, meta_kind, array_edits, raw
):
    _fuzz_one(model_dir, nested_model_bytes, meta_edits, meta_text, meta_kind, array_edits, raw)


def test_an_untouched_file_passes_the_same_checks(model_dir, model_bytes):
    # The fuzzers' baseline: the real file loads, so their refusals are about the damage.
    path = model_dir / "baseline.npz"
    path.write_bytes(model_bytes)
    network = load_or_refuse(path)
    assert network is not None
    np.testing.assert_array_equal(network.forward(X), _network().forward(X))
