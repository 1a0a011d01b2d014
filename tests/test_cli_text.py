"""The command line on a text file, through real processes: train, evaluate, generate, and bad input."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys

import pytest

from scratchnn import build_mlp
from scratchnn.serialization import load_network, save

#: A small GPT run: seconds, not minutes.
TINY = [
    "--iters",
    "30",
    "--block-size",
    "16",
    "--batch-size",
    "8",
    "--eval-interval",
    "10",
    "--eval-batches",
    "2",
]


def scratchnn(*args, cwd):
    return subprocess.run(
        [sys.executable, "-W", "error", "-m", "scratchnn", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text")
    rng = random.Random(0)
    words = "the cat sat on a mat and the dog ran to the log while birds sang".split()
    (folder / "corpus.txt").write_text(
        " ".join(rng.choice(words) for _ in range(1500)) + "\n", encoding="utf-8"
    )
    return folder


@pytest.fixture(scope="module")
def trained(workdir):
    args = ["--layers", "gpt", "--clip-norm", "0.5", "--lr", "0.002"]
    result = scratchnn("train", "--data", "corpus.txt", *args, *TINY, "--out", "gpt", cwd=workdir)
    assert result.returncode == 0, result.stderr
    return result


def test_train_says_the_file_is_text_and_ends_with_the_validation_loss(trained, workdir):
    out = trained.stdout
    assert "corpus.txt is text:" in out
    assert "18 distinct" in out
    assert "nanoGPT's 90/10 split" in out
    last = out.rstrip().splitlines()[-1]
    assert last.startswith("Validation loss: ")
    assert "perplexity" in last
    assert "bits per character" in last
    for name in ("model.npz", "history.json", "learning_curves.png", "attention.png"):
        assert (workdir / "gpt" / name).exists(), name
    history = json.loads((workdir / "gpt" / "history.json").read_text())["steps"]
    assert [r["step"] for r in history] == [0, 10, 20, 30]
    _, meta = load_network(workdir / "gpt" / "model.npz")
    settings = meta["training"]
    assert (settings["clip"], settings["learning_rate"], settings["iters"]) == (0.5, 0.002, 30)
    assert (settings["beta2"], settings["weight_decay"], settings["min_lr"]) == (0.99, 0.1, 0.0002)
    assert history[-1]["val_loss"] < history[0]["val_loss"]


def test_evaluate_reports_the_validation_loss_train_reported(trained, workdir):
    result = scratchnn("evaluate", "--model", "gpt/model.npz", "--data", "corpus.txt", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().splitlines()[-1] == trained.stdout.rstrip().splitlines()[-1]


def test_generate_prints_the_prompt_and_the_same_text_for_the_same_seed(trained, workdir):
    args = ["generate", "--model", "gpt/model.npz", "--prompt", "the ", "--tokens", "50"]
    first = scratchnn(*args, "--seed", "3", cwd=workdir)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("the ")
    assert len(first.stdout) == len("the ") + 50 + 1
    again = scratchnn(*args, "--seed", "3", cwd=workdir)
    assert again.stdout == first.stdout
    other = scratchnn(*args, "--seed", "4", "--temperature", "0.8", "--top-k", "5", cwd=workdir)
    assert other.returncode == 0, other.stderr
    assert other.stdout != first.stdout


def test_tune_trains_each_grid_point_and_keeps_the_lowest_validation_loss(workdir):
    grid = "layers=charlstm,gpt;learning_rate=0.001,0.003"
    result = scratchnn("tune", "--data", "corpus.txt", "--grid", grid, *TINY, "--out", "tuned", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "corpus.txt is text" in result.stdout
    lines = (workdir / "tuned" / "results.csv").read_text().splitlines()
    assert lines[0] == "layers,learning_rate,val_loss,status"
    rows = [line.split(",") for line in lines[1:]]
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("charlstm", "0.001", "ok"),
        ("charlstm", "0.003", "ok"),
        ("gpt", "0.001", "ok"),
        ("gpt", "0.003", "ok"),
    ]
    best = min(rows, key=lambda r: float(r[2]))
    assert (
        f"Best settings: layers={best[0]}, learning_rate={best[1]} (validation loss {float(best[2]):.4f})"
        in (result.stdout)
    )
    # the saved model is the best trial's: evaluate scores it at the same loss
    evaluated = scratchnn("evaluate", "--model", "tuned/model.npz", "--data", "corpus.txt", cwd=workdir)
    assert evaluated.returncode == 0, evaluated.stderr
    assert f"Validation loss: {float(best[2]):.4f}" in evaluated.stdout
    meta = load_network(workdir / "tuned" / "model.npz")[1]
    assert meta["tuning"]["best_params"] == {"layers": best[0], "learning_rate": best[1]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "hidden_units=16,32"], "--grid 'hidden_units' is not a setting of a language model"),
        (["--grid", "learning_rate=0.01", "--jobs", "2"], "--jobs is for tables"),
        (
            ["--grid", "layers=gpt,dense64-dense"],
            "layers must be one of ['charlstm', 'gpt'] or a spec starting",
        ),
    ],
)
def test_bad_tune_input_on_a_text_is_one_line_and_exit_status_2(workdir, args, message):
    result = scratchnn("tune", "--data", "corpus.txt", *args, *TINY, "--out", "badtune", cwd=workdir)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert not (workdir / "badtune").exists()


def test_the_char_lstm_preset_trains_from_the_command_line(workdir):
    result = scratchnn(
        "train", "--data", "corpus.txt", "--layers", "charlstm", *TINY, "--out", "lstm", cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().splitlines()[-1].startswith("Validation loss: ")
    assert not (workdir / "lstm" / "attention.png").exists()  # no attention to draw


def test_a_spec_reading_token_ids_trains_saves_and_generates(workdir):
    vocab = len(set((workdir / "corpus.txt").read_text(encoding="utf-8")))
    spec = f"embed{vocab}x16-pos16-res(ln-mha2c)-res(ln-dense32-gelu-dense16)-ln-dense"
    result = scratchnn("train", "--data", "corpus.txt", "--layers", spec, *TINY, "--out", "spec", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert f"({spec}, " in result.stdout
    assert (workdir / "spec" / "attention.png").exists()
    first = scratchnn("generate", "--model", "spec/model.npz", "--prompt", "the ", "--seed", "1", cwd=workdir)
    again = scratchnn("generate", "--model", "spec/model.npz", "--prompt", "the ", "--seed", "1", cwd=workdir)
    assert first.returncode == 0, first.stderr
    assert first.stdout == again.stdout
    assert first.stdout.startswith("the ")


def test_epochs_count_passes_over_the_training_text(workdir):
    # 1500 words of about 4.3 characters: ~5,850 training characters / (32 x 16) = ~11 steps a pass
    result = scratchnn(
        "train", "--data", "corpus.txt", "--epochs", "1", "--block-size", "32", "--batch-size", "16",
        "--eval-interval", "100", "--eval-batches", "1", "--out", "epochs", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    history = json.loads((workdir / "epochs" / "history.json").read_text())["steps"]
    text = (workdir / "corpus.txt").read_text()
    assert history[-1]["step"] == round(int(len(text) * 0.9) / (32 * 16))


def bad_files(folder):
    (folder / "empty.txt").write_bytes(b"")
    (folder / "one.txt").write_text("aaaaaaaaaa")
    (folder / "binary.txt").write_bytes(bytes(range(256)))
    (folder / "latin.txt").write_bytes("caf\xe9".encode("latin-1") * 50)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "empty.txt"], "empty.txt is empty"),
        (["--data", "one.txt"], "1 distinct character ('a')"),
        (["--data", "binary.txt"], "binary"),
        (["--data", "latin.txt"], "not UTF-8 text"),
        (["--data", "corpus.txt", "--block-size", "5000"], "block_size 5000 is longer than the"),
        (["--data", "corpus.txt", "--optimizer", "sgd"], "--optimizer adamw"),
        (
            ["--data", "corpus.txt", "--layers", "dense64-relu-dense"],
            "layers must be one of ['charlstm', 'gpt'] or a spec starting with embed",
        ),
        (["--data", "corpus.txt", "--iters", "5", "--epochs", "1"], "not both"),
    ],
)
def test_bad_training_input_is_one_line_and_exit_status_2(workdir, args, message):
    bad_files(workdir)
    result = scratchnn("train", *args, "--out", "bad", cwd=workdir)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prompt", "the XQ"], "the prompt holds 2 characters the model's vocabulary lacks: 'X', 'Q'"),
        (["--tokens", "0"], "--tokens: must be a positive integer"),
        (["--tokens", "1000000000"], "--tokens must be at most 100000"),
        (["--temperature", "0"], "--temperature: must be a positive number"),
        (["--temperature", "-0.5"], "--temperature: must be a positive number"),
        (["--top-k", "50"], "top_k must be None or an integer in [1, 18]"),
    ],
)
def test_bad_generation_input_is_one_line_and_exit_status_2(trained, workdir, args, message):
    result = scratchnn("generate", "--model", "gpt/model.npz", *args, cwd=workdir)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr


def test_generate_refuses_a_model_that_is_not_a_language_model(workdir):
    save(build_mlp(4, 8, 3, seed=0), workdir / "mlp.npz", {"label_names": ["a", "b", "c"]})
    result = scratchnn("generate", "--model", "mlp.npz", cwd=workdir)
    assert result.returncode == 2
    assert "not a language model" in result.stderr


def test_a_language_model_is_refused_by_the_table_commands_with_a_hint(trained, workdir):
    (workdir / "rows.csv").write_text("a,b\n1,2\n")
    for args in (["evaluate", "--data", "iris"], ["predict", "--input", "rows.csv"]):
        result = scratchnn(args[0], "--model", "gpt/model.npz", *args[1:], cwd=workdir)
        assert result.returncode == 2, result.stderr
        assert "is a language model" in result.stderr


def test_ctrl_c_keeps_the_current_weights_which_still_generate(workdir):
    proc = subprocess.Popen(
        [sys.executable, "-m", "scratchnn", "train", "--data", "corpus.txt", "--iters", "100000",
         "--block-size", "16", "--batch-size", "8", "--eval-interval", "5", "--eval-batches", "1",
         "--out", "stopped"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=workdir,
    )  # fmt: skip
    for line in proc.stdout:  # the first evaluation after some steps: training is under way
        if line.startswith("step 5/"):
            break
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr
    assert "interrupted after" in stderr
    assert "saved the current weights" in stderr
    history = json.loads((workdir / "stopped" / "history.json").read_text())
    assert history["interrupted"] is True
    assert history["steps"][1]["step"] == 5
    result = scratchnn(
        "generate", "--model", "stopped/model.npz", "--prompt", "the ", "--tokens", "5", cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("the ")
