"""The text page's server side over real sockets: a tiny GPT trained by messages, uploads and their limits."""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import psutil
from playground_support import request, until_pong, ws_url
from websockets.sync.client import connect

from scratchnn.playground import text
from scratchnn.playground.server import MAX_TEXT_UPLOAD_BYTES


def hello(ws) -> str:
    return json.loads(ws.recv(timeout=10))["session"]


def upload(server, sid: str, body: bytes, name: str = "mine.txt"):
    code, answer = request(f"{server.url}api/session/{sid}/text?name={name}", data=body, method="POST")
    return code, json.loads(answer)


def test_the_page_is_served_and_the_server_listens_on_loopback_only(server):
    code, body = server.get("text")
    assert code == 200
    assert b'<script src="/static/text.js">' in body
    assert server.get("static/text.js")[0] == 200
    assert server.url.startswith("http://127.0.0.1:")
    listening = [c for c in psutil.Process(server.proc.pid).net_connections("inet") if c.status == "LISTEN"]
    assert listening
    assert {c.laddr.ip for c in listening} == {"127.0.0.1"}


def test_a_built_in_text_trains_and_sends_samples_and_attention_every_few_steps(server):
    with connect(ws_url(server)) as ws:
        hello(ws)
        ws.send(json.dumps({"type": "text_configure", "corpus": "rhymes", "seed": 3}))
        for _ in range(text.SAMPLE_EVERY):
            ws.send(json.dumps({"type": "step"}))
        seen = until_pong(ws)
    data = next(m for m in seen if m["type"] == "text_data")
    assert data["corpus"] == "rhymes"
    assert data["seed"] == 3
    assert data["model"] == text.TINY_GPT
    assert data["max_upload_bytes"] == MAX_TEXT_UPLOAD_BYTES
    updates = [m for m in seen if m["type"] == "text_update"]
    assert [u["step"] for u in updates] == list(range(text.SAMPLE_EVERY + 1))
    assert [len(u["records"]) for u in updates] == [0] + [1] * text.SAMPLE_EVERY
    samples = [s for u in updates for s in u["samples"]]
    assert [s["step"] for s in samples] == [0, text.SAMPLE_EVERY]  # one at the start, one every few steps
    assert all(len(s["text"]) == text.SAMPLE_CHARS for s in samples)
    uniform = math.log(data["vocab_size"])
    assert abs(samples[0]["val_loss"] - uniform) < 0.1  # an untrained model guesses about uniformly
    assert samples[1]["val_loss"] < uniform - 0.5  # 25 steps have taught it the common characters
    attention = updates[-1]["attention"]
    T, H = text.TINY_GPT["block_size"], text.TINY_GPT["n_head"]
    assert attention["size"] == T
    assert len(attention["window"]) == T
    assert len(attention["maps"]) == text.TINY_GPT["n_layer"]
    assert all(len(b) == H for b in attention["maps"])
    for block in attention["maps"]:
        for head in block:
            p = np.frombuffer(base64.b64decode(head), dtype=np.uint8).reshape(T, T) / 255
            assert np.all(np.triu(p, 1) == 0)  # causal: nothing from later characters
            assert np.allclose(p.sum(axis=1), 1, atol=T / 255)  # each row a distribution (rounded to bytes)


def test_the_same_seed_gives_the_same_run_and_play_streams_updates(server):
    runs = []
    for _ in range(2):
        with connect(ws_url(server)) as ws:
            hello(ws)
            ws.send(json.dumps({"type": "text_configure", "corpus": "python", "seed": 1}))
            for _ in range(3):
                ws.send(json.dumps({"type": "step"}))
            runs.append([m for m in until_pong(ws) if m["type"] == "text_update"])
    assert runs[0] == runs[1]
    with connect(ws_url(server)) as ws:
        hello(ws)
        ws.send(json.dumps({"type": "text_configure", "corpus": "rhymes"}))
        ws.send(json.dumps({"type": "play"}))
        steps = 0
        while steps < 3 * text.SAMPLE_EVERY:
            m = json.loads(ws.recv(timeout=30))
            assert m["type"] != "error", m
            if m["type"] == "text_update":
                steps = m["step"]
        ws.send(json.dumps({"type": "pause"}))
        ws.send(json.dumps({"type": "reset", "seed": 5}))
        seen = until_pong(ws)
    reset = [m for m in seen if m["type"] == "text_update"][-1]
    assert reset["step"] == 0
    assert [s["step"] for s in reset["samples"]] == [0]


def test_an_uploaded_text_is_learnt_and_bad_uploads_are_refused_with_a_message(server):
    with connect(ws_url(server)) as ws:
        sid = hello(ws)
        ws.send(json.dumps({"type": "text_configure", "corpus": "upload"}))
        [error] = until_pong(ws)
        assert error == {"type": "error", "message": "upload a text file before choosing corpus 'upload'"}
        code, answer = upload(server, sid, b"x" * (MAX_TEXT_UPLOAD_BYTES + 1), "big.txt")
        assert code == 413
        assert answer["error"] == f"big.txt is larger than {MAX_TEXT_UPLOAD_BYTES >> 10} KB"
        code, answer = upload(server, sid, bytes(range(256)) * 8, "image.png")
        assert code == 400
        assert answer["error"].startswith("image.png is not UTF-8 text (byte 0x80 at offset 128)")
        code, answer = upload(server, sid, b"abc\x00def" * 100, "nul.txt")
        assert code == 400
        assert answer["error"] == "nul.txt holds NUL bytes (offset 3): it is binary, not text"
        code, answer = upload(server, sid, "".join(map(chr, range(0x4E00, 0x4E00 + 600))).encode(), "cjk.txt")
        assert code == 400
        assert answer["error"] == (
            f"cjk.txt holds 600 distinct characters; the page's model takes at most {text.MAX_TEXT_VOCAB}"
        )
        code, answer = upload(server, sid, b"short text", "short.txt")
        assert code == 400
        assert "block_size 32 is longer than the training text of short.txt" in answer["error"]
        body = ("the owl and the pussy-cat went to sea in a beautiful pea-green boat. " * 20).encode()
        code, answer = upload(server, sid, body, "owl.txt")
        assert code == 200
        assert answer == {
            "name": "owl.txt",
            "characters": len(body),
            "description": f"owl.txt ({len(body)} characters)",
        }
        ws.send(json.dumps({"type": "text_configure", "corpus": "upload"}))
        ws.send(json.dumps({"type": "step"}))
        seen = until_pong(ws)
    data = next(m for m in seen if m["type"] == "text_data")
    assert data["corpus"] == "upload"
    assert data["vocab_size"] == len(set(body.decode()))
    assert [m["step"] for m in seen if m["type"] == "text_update"] == [0, 1]
    assert all(
        c in set(body.decode())
        for m in seen
        if m["type"] == "text_update"
        for s in m["samples"]
        for c in s["text"]
    )


def test_bad_text_messages_and_foreign_origins_are_refused(server):
    with connect(ws_url(server)) as ws:
        sid = hello(ws)
        for msg, expected in [
            ({"type": "text_configure", "corpus": "../etc/passwd"}, "corpus must be one of"),
            ({"type": "text_configure", "corpus": ["rhymes"]}, "corpus must be one of"),
            ({"type": "text_configure", "corpus": "rhymes", "seed": "x"}, "seed"),
        ]:
            ws.send(json.dumps(msg))
            [error] = until_pong(ws)
            assert error["type"] == "error", error
            assert expected in error["message"], error
        url = f"{server.url}api/session/{sid}/text?name=a.txt"
        code, body = request(
            url, data=b"hello " * 100, method="POST", headers={"Origin": "http://evil.example"}
        )
        assert code == 403
        code, body = request(url, data=b"hello " * 100, method="POST", headers={"Host": "evil.example"})
        assert code == 403
        assert json.loads(body)["error"] == "Host 'evil.example' is not this server's address"
    assert upload(server, "nope", b"hello " * 100)[0] == 404
