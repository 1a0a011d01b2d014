"""The playground server in a subprocess: sessions, upload limits, 200+ fuzzed inputs, 20 sessions at once."""

from __future__ import annotations

import base64
import json
import threading
import time

import numpy as np
import psutil
import pytest
from playground_support import request, until_pong, ws_url
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


def test_a_session_steps_one_epoch_and_its_downloads_exist_only_while_it_is_open(server):
    with connect(ws_url(server)) as ws:
        hello = json.loads(ws.recv(timeout=10))
        sid = hello["session"]
        ws.send(json.dumps({"type": "configure", "settings": {"dataset": "moons"}}))
        ws.send(json.dumps({"type": "step"}))
        seen = until_pong(ws)
        updates = [m for m in seen if m["type"] == "update"]
        assert [u["epoch"] for u in updates] == [0, 1]
        assert len(updates[1]["records"]) == 1
        code, body = server.get(f"api/session/{sid}/script.py")
        assert code == 200
        assert b"EPOCHS = 1" in body
    deadline = time.time() + 10
    while server.status()["sessions"] and time.time() < deadline:
        time.sleep(0.05)
    assert server.get(f"api/session/{sid}/script.py")[0] == 404


def test_uploads_beyond_the_limits_are_refused_with_a_message(server):
    with connect(ws_url(server)) as ws:
        sid = json.loads(ws.recv(timeout=10))["session"]
        url = f"{server.url}api/session/{sid}/upload?name=big.csv"
        code, body = request(url, data=b"a,b,c\n" + b"1,2,3\n" * 800_000, method="POST")
        assert code == 413
        assert json.loads(body)["error"] == "big.csv is larger than 4 MB"
        code, body = request(url, data=b"a,b,c\n" + b"1,2,3\n" * 60_000, method="POST")
        assert code == 413
        assert "at most 50000" in json.loads(body)["error"]
        code, body = request(url, data=b"\xff\xfe\x00junk", method="POST")
        assert code == 400
        assert "not a UTF-8 text file" in json.loads(body)["error"]


# -- fuzzing: hostile messages and requests never give a 500 or a dead server ---------------------------


def fuzz_requests(rng: np.random.Generator) -> list[tuple[str, str, bytes | None]]:
    """(method, path, body) cases: unknown paths, wrong methods, malformed drawings and uploads."""
    cases = [
        ("GET", "/nothing", None),
        ("GET", "/static/../server.py", None),
        ("GET", "/static/%2e%2e/server.py", None),
        ("GET", "/static/" + "a" * 3000, None),
        ("DELETE", "/", None),
        ("PUT", "/api/meta", b"x"),
        ("GET", "/api/digits/predict", None),
        ("POST", "/api/status", b"{}"),
        ("GET", "/api/session/x/model.npz", None),
        ("GET", "/api/session/x/other", None),
        ("POST", "/api/session/nope/upload", b"a,b,c\n1,2,3\n"),
        ("POST", "/ws", b""),
        ("GET", "/%00", None),
        ("GET", "/static/", None),
    ]
    drawings = [
        b"",
        b"null",
        b"[]",
        b"{",
        b'{"width": 0, "height": 1, "bits": ""}',
        b'{"width": 1e9, "height": 2, "bits": ""}',
        b'{"width": true, "height": 2, "bits": ""}',
        b'{"width": 8, "height": 1, "bits": "!!"}',
        b'{"width": 8, "height": 1, "bits": "AAAA"}',
        b'{"width": 8, "height": 1, "bits": 5}',
        b"[" * 100000,
        b'{"width": 512, "height": 512, "bits": "' + b"A" * 70000 + b'"}',
        b"\xff\xfe",
    ]
    cases += [("POST", "/api/digits/predict", d) for d in drawings]
    for _ in range(120):
        n = int(rng.integers(0, 200))
        body = bytes(rng.integers(0, 256, n, dtype=np.uint8))
        kind = int(rng.integers(0, 3))
        if kind == 0:
            cases.append(("POST", "/api/digits/predict", body))
        elif kind == 1:
            w, h = (int(v) for v in rng.integers(-5, 600, 2))
            bits = bytes(rng.integers(0, 256, max(0, (w * h + 7) // 8) % 40000, dtype=np.uint8))
            text = base64.b64encode(bits).decode()
            cases.append(
                ("POST", "/api/digits/predict", json.dumps({"width": w, "height": h, "bits": text}).encode())
            )
        else:
            path = "/" + "".join(chr(int(c)) for c in rng.integers(33, 127, int(rng.integers(1, 30))))
            cases.append(("GET", path.replace("?", "").replace("#", ""), None))
    return cases


def fuzz_messages(rng: np.random.Generator) -> list:
    """WebSocket messages: not JSON, wrong shapes, out-of-range and hostile settings."""
    cases = [
        "",
        "nonsense",
        "[1, 2]",
        "null",
        "42",
        '"text"',
        "{}",
        '{"type": 5}',
        '{"type": "explode"}',
        "[" * 50000 + "]" * 50000,
        '{"type": "configure", "settings": []}',
        '{"type": "columns"}',
        '{"type": "configure", "settings": {"learning_rate": NaN}}',
        '{"type": "reset", "seed": -1}',
        '{"type": "configure", "settings": {"learning_rate": 1e999}}',
        "x" * 70000,
        b"\x00\x01binary",
        '{"type": "configure", "settings": {"dataset": "csv"}}',
        '{"type": "columns", "x1": 1, "x2": 2, "label": 3}',
    ]
    values = [
        -1,
        0,
        0.5,
        1,
        7,
        1e9,
        -1e9,
        2**63,
        "1",
        "",
        None,
        True,
        [],
        [1] * 7,
        [0],
        [9],
        ["x1"],
        ["x9"],
        {},
        [[1]],
        "circle",
        "relu",
        1e-300,
        3.5,
    ]
    names = [
        "dataset",
        "noise",
        "train_share",
        "batch_size",
        "features",
        "hidden",
        "activation",
        "optimizer",
        "learning_rate",
        "weight_decay",
        "dropout",
        "seed",
        "data_seed",
        "show_test",
        "__proto__",
    ]
    for _ in range(110):
        k = int(rng.integers(1, 4))
        settings = {
            names[int(rng.integers(len(names)))]: values[int(rng.integers(len(values)))] for _ in range(k)
        }
        cases.append(json.dumps({"type": "configure", "settings": settings}))
    return cases


def fuzz_uploads(rng: np.random.Generator) -> list[bytes]:
    """CSV uploads: random bytes, ragged rows, text and non-finite cells, odd quoting, odd headers."""
    cells = [
        "1",
        "-2.5",
        "1e308",
        "1e999",
        "nan",
        "inf",
        "",
        " ",
        "x",
        '"q"',
        '"a,b"',
        "0x10",
        "١",
        "\x00",
        "'",
    ]
    cases = [
        b"",
        b"\n\n",
        b"a,b,c",
        b"a,a,a\n1,2,3\n",
        b'"unclosed,b,c\n1,2,3\n',
        b"\xef\xbb\xbfa,b,c\n1,2,x\n3,4,y\n",
    ]
    for _ in range(70):
        if rng.random() < 0.2:
            cases.append(bytes(rng.integers(0, 256, int(rng.integers(1, 300)), dtype=np.uint8)))
            continue
        width = int(rng.integers(1, 6))
        header = ",".join(["a", "b", "label", "d", "e"][:width])
        rows = []
        for _ in range(int(rng.integers(0, 30))):
            n = width if rng.random() < 0.8 else int(rng.integers(0, 8))
            rows.append(",".join(cells[int(rng.integers(len(cells)))] if rng.random() < 0.3 else
                                 f"{rng.normal():.3f}" if j < 2 else str(int(rng.integers(0, 3)))
                                 for j in range(n)))  # fmt: skip
        cases.append(("\n".join([header, *rows]) + "\n").encode())
    return cases


def test_fuzzed_requests_and_messages_never_give_a_500_or_kill_the_server(server):
    rng = np.random.default_rng(0)
    requests = fuzz_requests(rng)
    statuses = []
    for method, path, body in requests:
        code, _ = request(server.url.rstrip("/") + path, data=body, method=method)
        statuses.append(code)
    assert all(code < 500 for code in statuses), [c for c in zip(statuses, requests) if c[0] >= 500][:3]
    assert statuses.count(200) < len(statuses) / 2  # most of them are refused, with a 4xx

    messages = fuzz_messages(rng)
    errors = 0
    with connect(ws_url(server), max_size=None) as ws:
        sid = json.loads(ws.recv(timeout=10))["session"]
        for message in messages:
            ws.send(message)
            for reply in until_pong(ws):
                assert "Traceback" not in json.dumps(reply)
                errors += reply["type"] == "error"
        assert server.status()["sessions"] >= 1

        uploads, accepted = fuzz_uploads(rng), 0
        for body in uploads:
            code, answer = request(
                f"{server.url}api/session/{sid}/upload?name=f.csv", data=body, method="POST"
            )
            assert code in (200, 400, 413), code
            if code == 200:  # the header was fine: the cells are read when the columns are chosen
                accepted += 1
                columns = json.loads(answer)["columns"]
                ws.send(
                    json.dumps({"type": "columns", "x1": columns[0], "x2": columns[1], "label": columns[-1]})
                )
                for reply in until_pong(ws):
                    assert reply["type"] in ("error", "state", "data", "update"), reply
        assert 10 < accepted < len(uploads)
    assert errors > len(messages) / 2
    assert len(requests) + len(messages) + len(uploads) >= 200
    with connect(ws_url(server), max_size=None) as ws:  # a message over the socket's 1 MB limit ends only it
        json.loads(ws.recv(timeout=10))
        ws.send("x" * (2 << 20))
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    assert server.get("api/meta")[0] == 200


# -- load: 20 tabs training at once ---------------------------------------------------------------------


def test_twenty_training_sessions_keep_the_server_responsive_and_leave_nothing_behind(server):
    proc = psutil.Process(server.proc.pid)

    def tab(settings, seconds, results):
        with connect(ws_url(server)) as ws:
            json.loads(ws.recv(timeout=30))
            ws.send(json.dumps({"type": "configure", "settings": settings}))
            ws.send(json.dumps({"type": "play"}))
            end, last = time.time() + seconds, 0
            while time.time() < end:
                try:
                    m = json.loads(ws.recv(timeout=5))
                except TimeoutError:
                    continue
                if m["type"] == "update":
                    last = m["epoch"]
            results.append(last)

    # Two sessions first, at once: they import and allocate what every later one reuses, and start both
    # of the server's training threads (its pool starts them on demand and keeps them).
    warm: list[int] = []
    warming = [threading.Thread(target=tab, args=({"seed": i}, 1.5, warm)) for i in range(2)]
    for t in warming:
        t.start()
    for t in warming:
        t.join()
    time.sleep(0.5)
    rss_before, threads_before = proc.memory_info().rss, proc.num_threads()
    results: list[int] = []
    threads = [
        threading.Thread(target=tab, args=({"hidden": [8] * (1 + i % 6), "seed": i}, 6.0, results))
        for i in range(20)
    ]
    for t in threads:
        t.start()
    time.sleep(1.5)
    status = server.status()
    assert status["sessions"] == 20
    assert status["playing"] == 20
    slowest = 0.0
    while any(t.is_alive() for t in threads):
        started = time.perf_counter()
        assert server.get("api/meta", timeout=5)[0] == 200
        slowest = max(slowest, time.perf_counter() - started)
        time.sleep(0.2)
    for t in threads:
        t.join()
    assert len(results) == 20
    assert min(results) > 0  # every session trained
    assert slowest < 1.0
    deadline = time.time() + 10
    while (status := server.status())["sessions"] and time.time() < deadline:
        time.sleep(0.1)
    assert status == {"sessions": 0, "playing": 0, "jobs_running": 0, "max_sessions": 24}
    assert proc.num_threads() <= threads_before
    assert proc.memory_info().rss - rss_before < 50 * 2**20
