"""The ``scratchnn playground`` command in a subprocess: loopback, Ctrl-C, --host, --model, session cap."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import numpy as np
import psutil
from playground_support import ROOT, Server, env, request, ws_url
from websockets.sync.client import connect

import scratchnn


def test_the_command_serves_on_loopback_prints_the_address_and_stops_cleanly_on_ctrl_c():
    s = Server()
    try:
        assert s.url.startswith("http://127.0.0.1:")
        port = int(s.url.rsplit(":", 1)[1].strip("/"))
        listening = [c for c in psutil.Process(s.proc.pid).net_connections() if c.status == "LISTEN"]
        assert [(c.laddr.ip, c.laddr.port) for c in listening] == [("127.0.0.1", port)]
        code, body = s.get("/")
        assert code == 200
        assert b"scratchnn playground" in body
    finally:
        code, out, err = s.stop()
    assert code == 0
    assert "stopped" in out
    assert "Traceback" not in err


def test_another_host_is_served_with_a_warning():
    s = Server("--host", "0.0.0.0", "--port", "0")
    code, _, err = s.stop()
    assert code == 0
    assert "warning: serving on 0.0.0.0: anyone who can reach port" in err


def test_without_the_extra_the_command_says_how_to_install_it():
    code = (
        "import sys; sys.modules['uvicorn'] = None  # as if not installed\n"
        "from scratchnn.cli import main; sys.exit(main(['playground']))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env(), cwd=ROOT)
    assert out.returncode == 2
    assert "pip install 'scratchnn[playground]'" in out.stderr
    assert "uvicorn is missing" in out.stderr


def test_a_bad_digit_model_or_port_is_a_one_line_error(tmp_path):
    bad = tmp_path / "not_a_model.npz"
    bad.write_bytes(b"junk")
    for args in (["--model", str(bad)], ["--port", "70000"]):
        out = subprocess.run(
            [sys.executable, "-m", "scratchnn", "playground", *args],
            capture_output=True,
            text=True,
            env=env(),
            cwd=ROOT,
            timeout=60,
        )
        assert out.returncode == 2
        assert out.stderr.startswith("error: ")
        assert "Traceback" not in out.stderr


def test_a_digit_model_file_given_with_model_is_the_one_that_classifies(tmp_path):

    network = scratchnn.build_mlp(64, (16,), 10, seed=0)
    scratchnn.save(network, tmp_path / "digits.npz")
    s = Server("--model", str(tmp_path / "digits.npz"))
    try:
        drawing = np.zeros((64, 64), dtype=np.uint8)
        drawing[8:56, 28:36] = 1  # a "1": a bar 48 pixels tall and 8 wide
        body = {"width": 64, "height": 64, "bits": base64.b64encode(np.packbits(drawing)).decode()}
        code, answer = request(s.url + "api/digits/predict", data=json.dumps(body).encode(), method="POST")
        assert code == 200
        answer = json.loads(answer)
        image = np.array(answer["image"])
        # scaled to 32 pixels tall and 5 wide, centred: bitmap columns 13-17, 3 in block 3 and 2 in block 4
        expected_image = np.zeros((8, 8), dtype=int)
        expected_image[:, 3], expected_image[:, 4] = 12, 8
        np.testing.assert_array_equal(image, expected_image)
        expected = network.predict_proba(image.reshape(1, 64).astype(np.float32))[0]
        np.testing.assert_allclose(answer["proba"], expected, rtol=1e-6)
        assert answer["model"] == str(tmp_path / "digits.npz")
    finally:
        assert s.stop()[0] == 0


def test_sessions_beyond_the_cap_are_told_to_retry():
    s = Server("--max-sessions", "2")
    try:
        with connect(ws_url(s)) as a, connect(ws_url(s)) as b:
            assert json.loads(a.recv(timeout=10))["type"] == "hello"
            assert json.loads(b.recv(timeout=10))["type"] == "hello"
            with connect(ws_url(s)) as c:
                refused = json.loads(c.recv(timeout=10))
                assert refused["retry"] is True
                assert "busy" in refused["message"]
    finally:
        assert s.stop()[0] == 0
