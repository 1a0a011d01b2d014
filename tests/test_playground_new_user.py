"""What a new user broke in the playground: each case against the real server, over real sockets."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import psutil
import pytest
from playground_support import Server, env, request, until_pong, ws_url
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect


def _address(server: Server) -> tuple[str, int]:
    host, port = server.url.split("//")[1].rstrip("/").rsplit(":", 1)
    return host, int(port)


def _send_slowly(sock: socket.socket, head: bytes, body_bytes: int, sent: list[int]) -> None:
    """Send ``head`` then zeros, 64 KB at a time, counting what went out, until the server stops reading."""
    try:
        sock.sendall(head)
        chunk = b"0" * (64 << 10)
        if b"chunked" in head:  # each chunk framed by its length in hex, as HTTP/1.1 wants
            chunk = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
        while sent[0] < body_bytes:
            sock.sendall(chunk)
            sent[0] += len(chunk)
    except OSError:
        pass  # the server answered and closed: it stopped reading, as it should


def _post_raw(server: Server, path: str, head_lines: list[str], body_bytes: int) -> tuple[bytes, int, float]:
    """``(status line, body bytes sent, seconds)`` of a POST whose body the client keeps sending."""
    sock = socket.create_connection(_address(server), timeout=15)
    head = "\r\n".join([f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *head_lines, "", ""]).encode()
    sent = [0]
    started = time.perf_counter()
    sender = threading.Thread(target=_send_slowly, args=(sock, head, body_bytes, sent), daemon=True)
    sender.start()
    try:
        answer = sock.recv(4096)
    except TimeoutError:
        answer = b""
    seconds = time.perf_counter() - started
    sock.close()
    sender.join(timeout=10)
    return answer.split(b"\r\n", 1)[0], sent[0], seconds


# -- 4: the drawing route streams its body and stops at its limit -----------------------------------


def test_a_huge_drawing_body_is_refused_before_it_is_read_whole(server):
    from scratchnn.playground.server import DRAIN_FACTOR, MAX_DRAWING_BYTES

    proc = psutil.Process(server.proc.pid)
    before = proc.memory_info().rss
    # declared as 2 GB: answered at once, without reading it
    status, sent, seconds = _post_raw(server, "/api/digits/predict", ["Content-Length: 2000000000"], 64 << 20)
    assert status == b"HTTP/1.1 413 Request Entity Too Large"
    assert seconds < 5
    # sent without a length (chunked): the server stops reading past DRAIN_FACTOR times the limit
    status, sent, seconds = _post_raw(server, "/api/digits/predict", ["Transfer-Encoding: chunked"], 64 << 20)
    assert status == b"HTTP/1.1 413 Request Entity Too Large"
    assert seconds < 5
    assert sent < 64 << 20
    grown = proc.memory_info().rss - before
    assert grown < 8 * DRAIN_FACTOR * MAX_DRAWING_BYTES, f"the server grew by {grown >> 20} MB"
    code, body = request(
        server.url + "api/digits/predict", data=b"x" * (MAX_DRAWING_BYTES + 1), method="POST"
    )
    assert code == 413
    assert json.loads(body)["error"] == f"a drawing may take at most {MAX_DRAWING_BYTES} bytes"


# -- 14: a client that goes away mid-body leaves no traceback ---------------------------------------


def test_a_client_disconnecting_mid_body_leaves_no_traceback_in_the_log():
    own = Server("--port", "0")
    try:
        with connect(ws_url(own)) as ws:
            sid = json.loads(ws.recv(timeout=10))["session"]
            for path in (f"/api/session/{sid}/upload?name=a.csv", "/api/digits/predict"):
                sock = socket.create_connection(_address(own), timeout=10)
                head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50000\r\n\r\n"
                sock.sendall(head.encode() + b"a,b,c\n1,2,3\n")
                time.sleep(0.3)  # the server is waiting for the rest of the body
                sock.close()
            time.sleep(0.5)
            assert own.status()["sessions"] == 1  # and it goes on serving
    finally:
        code, _, err = own.stop()
    assert code == 0
    assert "Traceback" not in err
    assert "ClientDisconnect" not in err


# -- 5: only the server's own pages may use it; idle sessions end -----------------------------------


def test_a_websocket_from_another_origin_is_refused_and_the_servers_own_page_is_not(server):
    host = server.url.split("//")[1].rstrip("/")
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(server), additional_headers={"Origin": "http://evil.example"}, open_timeout=10)
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):  # another port of this machine is another origin too
        connect(ws_url(server), additional_headers={"Origin": "http://127.0.0.1:1"}, open_timeout=10)
    with connect(ws_url(server), additional_headers={"Origin": f"http://{host}"}, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"


def test_a_request_for_another_host_name_is_refused_so_dns_rebinding_reads_nothing(server):
    with connect(ws_url(server)) as ws:
        sid = json.loads(ws.recv(timeout=10))["session"]
        url = f"{server.url}api/session/{sid}/model.npz"
        code, body = request(url, headers={"Host": "evil.example"})
        assert code == 403
        assert json.loads(body)["error"] == "Host 'evil.example' is not this server's address"
        code, _ = request(server.url, headers={"Host": "evil.example:80"})
        assert code == 403
        code, body = request(
            server.url + "api/digits/predict",
            data=b"{}",
            method="POST",
            headers={"Origin": "http://evil.example"},
        )
        assert code == 403
        assert "Origin 'http://evil.example'" in json.loads(body)["error"]
        port = server.url.rstrip("/").rsplit(":", 1)[1]
        assert request(url, headers={"Host": f"localhost:{port}"})[0] == 200


def test_an_idle_session_is_closed_after_the_idle_timeout_and_frees_its_slot():
    own = Server("--port", "0", "--max-sessions", "1", "--idle-timeout", "1")
    try:
        with connect(ws_url(own)) as ws:
            json.loads(ws.recv(timeout=10))
            message = json.loads(ws.recv(timeout=10))
            assert message == {"type": "error", "message": "closed after 1 s idle; reload the page"}
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=10)
        with connect(ws_url(own)) as ws:  # the one slot is free again
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
    finally:
        code, _, err = own.stop()
    assert code == 0, err


# -- 10: --model must be a digit classifier ---------------------------------------------------------


def _playground(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scratchnn", "playground", "--port", "0", *args],
        capture_output=True,
        text=True,
        env=env(),
        cwd=cwd,
        timeout=120,
    )


def test_a_model_that_is_not_a_10_class_digit_classifier_is_refused_in_one_line(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 17, (60, 64))
    rows = "\n".join(",".join(map(str, r)) + f",{sum(r) / 100!r}" for r in x.tolist())
    (tmp_path / "pixels.csv").write_text(",".join(f"p{i}" for i in range(64)) + ",y\n" + rows + "\n")
    train = [sys.executable, "-m", "scratchnn", "train", "--epochs", "1", "--quiet"]
    for data, out, extra in (("pixels.csv", "reg", ["--target", "y"]), ("iris", "iris", [])):
        made = subprocess.run(
            [*train, "--data", data, *extra, "--out", out],
            capture_output=True,
            text=True,
            env=env(),
            cwd=tmp_path,
        )
        assert made.returncode == 0, made.stderr
    for model, what in (("reg", "is a regression model"), ("iris", "takes 4 inputs")):
        proc = _playground("--model", f"{model}/model.npz", cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines() == [
            f"error: --model {model}/model.npz {what}; the digit classifier must be a 10-class classifier "
            "on 64 inputs (8x8 pixels), e.g. from 'scratchnn train --data digits'"
        ]


# -- 20: a duplicated header and a repeated feature are refused, as the command line refuses them ----


def test_an_upload_with_a_duplicated_header_or_a_repeated_feature_is_refused(server):
    with connect(ws_url(server)) as ws:
        sid = json.loads(ws.recv(timeout=10))["session"]
        url = f"{server.url}api/session/{sid}/upload?name=twice.csv"
        code, body = request(url, data=b"a,a,label\n1,2,x\n3,4,y\n", method="POST")
        assert code == 400
        assert json.loads(body)["error"] == "twice.csv: the header names column 'a' twice"
        code, body = request(url, data=b"a,,label\n1,2,x\n", method="POST")
        assert code == 400
        assert json.loads(body)["error"] == "twice.csv: header column 2 has no name"
        ws.send(json.dumps({"type": "configure", "settings": {"features": ["x1"] * 1000}}))
        errors = [m for m in until_pong(ws) if m["type"] == "error"]
        assert errors == [
            {"type": "error", "message": "features must name each feature once, but 'x1' is listed twice"}
        ]


def test_an_uploaded_underscore_number_is_not_a_number(server):
    with connect(ws_url(server)) as ws:
        sid = json.loads(ws.recv(timeout=10))["session"]
        url = f"{server.url}api/session/{sid}/upload?name=sep.csv"
        code, _ = request(url, data=b"a,b,label\n1,8_243,x\n3,4,y\n5,6,x\n", method="POST")
        assert code == 200
        ws.send(json.dumps({"type": "columns", "x1": "a", "x2": "b", "label": "label"}))
        errors = [m["message"] for m in until_pong(ws) if m["type"] == "error"]
        assert errors == [
            "sep.csv: column 'b' on line 2 holds '8_243', which is not a number "
            "(the model reads this column as numbers)"
        ]
