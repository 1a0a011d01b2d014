"""The character GPT against PyTorch, its tied head, the training recipe, generation and model files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmarks.torch_gpt import TorchGPT, as_scratchnn_order
from scratchnn import language_model as lm
from scratchnn.data.text import TextData
from scratchnn.layers import GPT
from scratchnn.losses import SoftmaxCrossEntropy
from scratchnn.network import NeuralNetwork
from scratchnn.serialization import ModelFileError, save

TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 40


def small_gpt(bias: bool, seed: int = 0, **kw) -> GPT:
    config = {"n_layer": 2, "n_head": 2, "n_embd": 8, **kw}
    gpt = GPT(11, 6, **config, bias=bias, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    for p in gpt.params:  # every array random, biases and LayerNorm's scale included
        p[...] = rng.normal(0.0, 0.5, size=p.shape)
    return gpt


@pytest.mark.parametrize("bias", [False, True])
def test_gpt_matches_pytorch_forward_and_every_gradient_in_float64(bias):
    gpt = small_gpt(bias)
    ref = TorchGPT.from_scratchnn(gpt)
    rng = np.random.default_rng(5)
    ids = rng.integers(11, size=(3, 6))
    targets = rng.integers(11, size=(3, 6))
    ids[0, :3] = 4  # repeated ids: the embedding must accumulate

    net = NeuralNetwork([gpt], SoftmaxCrossEntropy())
    logits = net.forward(ids, training=True)
    loss = net.compute_loss(logits, targets)
    net.backward()

    ref_logits = ref(torch.from_numpy(ids))
    ref_loss = torch.nn.functional.cross_entropy(
        ref_logits.reshape(-1, 11), torch.from_numpy(targets).reshape(-1)
    )
    ref_loss.backward()
    np.testing.assert_allclose(logits, ref_logits.detach().numpy(), rtol=0, atol=1e-10)
    assert abs(loss - ref_loss.item()) < 1e-10
    expected = as_scratchnn_order(ref, [p.grad for p in ref.parameters()])
    assert len(gpt.grads) == len(expected)
    for i, (ours, theirs) in enumerate(zip(gpt.grads, expected)):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10, err_msg=f"gradient {i}")


def test_the_tied_weight_is_listed_once_and_array_shapes_match_the_params():
    for bias in (False, True):
        gpt = small_gpt(bias)
        assert sum(p is gpt.wte.weight for p in gpt.params) == 1
        assert [p.shape for p in gpt.params] == GPT.array_shapes(gpt.get_config())


def test_the_tied_gradient_is_the_sum_of_the_embeddings_and_the_heads():
    gpt = small_gpt(False)
    ids = np.array([[1, 2, 3, 4]])
    g = np.random.default_rng(0).normal(size=(1, 4, 11))
    gpt.forward(ids, training=True)
    gpt.backward(g)
    total = gpt.grads[0].copy()
    h = gpt._h.reshape(4, 8)
    head_part = g.reshape(4, 11).T @ h
    # the embedding's own part: rows 1-4 only; every other row's gradient comes from the head alone
    np.testing.assert_allclose(total[[0, 5, 6, 7, 8, 9, 10]], head_part[[0, 5, 6, 7, 8, 9, 10]], atol=1e-12)
    assert not np.allclose(total[1:5], head_part[1:5])


def test_gpt_output_at_a_step_does_not_depend_on_later_characters():
    gpt = small_gpt(True)
    ids = np.array([[1, 2, 3, 4, 5, 6]])
    later = ids.copy()
    later[0, 4:] = [9, 10]
    a, b = gpt.forward(ids), gpt.forward(later)
    np.testing.assert_array_equal(a[0, :4], b[0, :4])
    assert not np.allclose(a[0, 4:], b[0, 4:])


def test_gpt_refuses_windows_longer_than_its_block_size():
    with pytest.raises(ValueError, match="block_size=6"):
        small_gpt(False).forward(np.zeros((1, 7), dtype=np.int64))


def test_nanogpt_init_scales_the_residual_projections():
    gpt = GPT(65, 64, n_layer=4, n_head=4, n_embd=128, seed=0)
    stds = [float(p.std()) for p in gpt.params if p.ndim == 2]
    # wte, wpe, then per block: in_proj, out_proj (scaled), c_fc, c_proj (scaled)
    assert stds[0] == pytest.approx(0.02, rel=0.05)
    assert stds[3] == pytest.approx(0.02 / math.sqrt(8), rel=0.05)
    assert stds[4] == pytest.approx(0.02, rel=0.05)
    assert stds[5] == pytest.approx(0.02 / math.sqrt(8), rel=0.05)


def nanogpt_get_lr(it, learning_rate=1e-3, warmup_iters=100, lr_decay_iters=2000, min_lr=1e-4):
    """nanoGPT's train.py, written out."""
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it > lr_decay_iters:
        return min_lr
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (learning_rate - min_lr)


def test_the_schedule_is_nanogpts_get_lr():
    schedule = lm.LMTraining().schedule()
    for t in (0, 1, 50, 99, 100, 101, 1000, 1999, 2000):
        assert schedule(t, 1e-3) == pytest.approx(nanogpt_get_lr(t), rel=1e-12, abs=1e-15)
    no_warmup = lm.LMTraining(iters=10, warmup_iters=0).schedule()
    assert [no_warmup(t, 1e-3) for t in (0, 10)] == pytest.approx([1e-3, 1e-4])
    assert lm.LMTraining(iters=1).schedule()(0, 1e-3) == 1e-3


def test_adamw_decays_the_matrices_only():
    gpt = small_gpt(True)
    net = NeuralNetwork([gpt], SoftmaxCrossEntropy())
    groups = lm.make_optimizers(net, lm.LMTraining())
    decayed = {id(p) for opt, ps, _ in groups if opt.weight_decay == 0.1 for p in ps}
    for p in gpt.params:
        assert (id(p) in decayed) == (p.ndim == 2)
    assert all(opt.beta2 == 0.99 for opt, _, _ in groups)


def test_a_pass_is_the_training_characters_over_a_batch_of_windows():
    assert lm.steps_per_pass(1_003_854, 64, 12) == 1307
    assert lm.steps_per_pass(10, 64, 12) == 1


def tiny_run(seed=0, iters=40, layers="gpt"):
    data = TextData.from_text(TEXT)
    network, block = lm.build_network(layers, len(data.vocab), block_size=16, seed=seed)
    settings = lm.LMTraining(iters=iters, batch_size=8, learning_rate=1e-2, eval_interval=20, eval_batches=2)
    history = lm.train(network, data, block, settings, seed=seed)
    return lm.LanguageModel(network, data.vocab, block, layers), data, history


def test_training_lowers_the_validation_loss_and_is_reproducible():
    model, data, history = tiny_run()
    assert [r["step"] for r in history] == [0, 20, 40]
    assert history[-1]["val_loss"] < history[0]["val_loss"] - 0.5
    # near uniform at the start: ln(vocabulary size)
    assert history[0]["val_loss"] == pytest.approx(math.log(len(data.vocab)), abs=0.25)
    _, _, again = tiny_run()
    assert again == history
    score = model.score(data)
    assert score["perplexity"] == pytest.approx(math.exp(score["loss"]))
    assert score["bits_per_char"] == pytest.approx(score["loss"] / math.log(2))


@pytest.fixture(scope="module")
def trained():
    return tiny_run()[0]


def test_the_same_seed_generates_the_same_text(trained):
    a = trained.generate("the ", 40, seed=3)
    assert len(a) == 40
    assert a == trained.generate("the ", 40, seed=3)
    assert a != trained.generate("the ", 40, seed=4)
    assert set(a) <= set(trained.vocab.chars)


def test_top_k_of_one_is_the_likeliest_character_each_time(trained):
    text = trained.generate("the c", 10, top_k=1, seed=0)
    ids = list(trained.vocab.encode("the c"))
    for c in text:
        logits = trained.network.forward(np.array([ids[-trained.block_size :]]))[0, -1]
        assert c == trained.vocab.chars[int(np.argmax(logits))]
        ids.append(trained.vocab.chars.index(c))


def test_generation_crops_the_context_to_the_block_size(trained):
    long_prompt = "the cat sat on the mat. " * 3  # 72 characters, block 16
    assert len(trained.generate(long_prompt, 5, seed=0)) == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, r"generate must be in \[1, 100000\], got 0"),
        ({"n": 10**9}, r"generate must be in \[1, 100000\]"),
        ({"temperature": 0.0}, "temperature must be"),
        ({"temperature": -1.0}, "temperature must be"),
        ({"top_k": 0}, r"top_k must be None or an integer in \[1, "),
        ({"top_k": 99}, r"top_k must be None or an integer in \[1, "),
        ({"prompt": "the ZQ"}, "the prompt holds 2 characters the model's vocabulary lacks: 'Z', 'Q'"),
        ({"prompt": ""}, "prompt must be a non-empty string"),
    ],
)
def test_bad_generation_requests_are_refused(trained, kwargs, message):
    args = {"prompt": "the ", "n": 5, **kwargs}
    with pytest.raises(ValueError, match=message):
        trained.generate(args.pop("prompt"), args.pop("n"), **args)


def test_a_saved_model_generates_the_same_text_after_loading(trained, tmp_path):
    path = tmp_path / "lm.npz"
    trained.save(path)
    loaded, _ = lm.LanguageModel.load(path)
    assert loaded.vocab == trained.vocab
    assert loaded.block_size == trained.block_size
    assert loaded.generate("the ", 60, seed=1) == trained.generate("the ", 60, seed=1)


@pytest.mark.parametrize(
    ("vocabulary", "message"),
    [
        ("abc", "must be a list of characters"),
        (["a", "a"] + ["x"] * 9, "twice"),
        (["ab", "c"], "single character"),
        ([1, 2], "single character"),
        (None, "must be a list of characters"),
    ],
)
def test_a_hostile_vocabulary_is_refused_as_a_bad_model_file(trained, tmp_path, vocabulary, message):
    path = tmp_path / "bad.npz"
    save(trained.network, path, {"language_model": {"vocabulary": vocabulary, "block_size": 16}})
    with pytest.raises(ModelFileError, match=message):
        lm.LanguageModel.load(path)


def test_a_vocabulary_that_does_not_fit_the_network_is_refused(trained, tmp_path):
    path = tmp_path / "bad.npz"
    chars = [*trained.vocab.chars, "Z"]
    save(trained.network, path, {"language_model": {"vocabulary": chars, "block_size": 16}})
    with pytest.raises(ModelFileError, match="vocabulary holds"):
        lm.LanguageModel.load(path)


def test_a_model_file_without_a_vocabulary_is_not_a_language_model(trained, tmp_path):
    path = tmp_path / "plain.npz"
    save(trained.network, path, {})
    with pytest.raises(ModelFileError, match="not a language model"):
        lm.LanguageModel.load(path)


def test_the_char_lstm_trains_and_generates():
    model, _, history = tiny_run(iters=20, layers="charlstm")
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert len(model.generate("the ", 8, seed=0)) == 8


def test_training_follows_pytorchs_adamw_clipping_and_schedule_step_for_step():
    """nanoGPT's loop in PyTorch from the same weights on the same batches: the same losses to 1e-9."""
    data = TextData.from_text(TEXT)
    gpt = GPT(len(data.vocab), 8, n_layer=2, n_head=2, n_embd=8, seed=0, dtype=np.float64)
    ref = TorchGPT.from_scratchnn(gpt)
    settings = lm.LMTraining(iters=12, batch_size=4, learning_rate=3e-2, warmup_iters=3, min_lr=3e-3)
    settings.eval_interval, settings.eval_batches, settings.clip = 6, 2, 0.5  # clipping active
    steps: list[float] = []
    history = lm.train(
        NeuralNetwork([gpt], SoftmaxCrossEntropy()), data, 8, settings, seed=7,
        callback=lambda r: steps.append(r["loss"]) if "tokens_per_s" in r else None,
    )  # fmt: skip

    rng = np.random.default_rng(7)  # the batches lm.train draws: the evaluation windows first
    val = [data.batch("val", 4, 8, rng) for _ in range(2)]
    val_x = torch.from_numpy(np.concatenate([b[0] for b in val]))
    val_y = torch.from_numpy(np.concatenate([b[1] for b in val]))
    params = list(ref.parameters())
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": 0.1},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=3e-2, betas=(0.9, 0.99), eps=1e-8)
    schedule = settings.schedule()
    cross_entropy = torch.nn.functional.cross_entropy

    def val_loss():
        with torch.no_grad():
            return cross_entropy(ref(val_x).reshape(-1, len(data.vocab)), val_y.reshape(-1)).item()

    ref_steps, ref_val = [], [val_loss()]
    for t in range(12):
        x, y = data.batch("train", 4, 8, rng)
        for group in opt.param_groups:
            group["lr"] = schedule(t, 3e-2)
        loss = cross_entropy(
            ref(torch.from_numpy(x)).reshape(-1, len(data.vocab)), torch.from_numpy(y).reshape(-1)
        )
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 0.5)
        opt.step()
        ref_steps.append(loss.item())
        if (t + 1) % 6 == 0:
            ref_val.append(val_loss())
    np.testing.assert_allclose(steps, ref_steps, rtol=0, atol=1e-9)
    np.testing.assert_allclose([r["val_loss"] for r in history], ref_val, rtol=0, atol=1e-9)
    assert ref_steps[-1] < ref_steps[0]


def test_attention_probabilities_are_causal_rows_that_sum_to_one():
    gpt = small_gpt(False)
    gpt.forward(np.array([[1, 2, 3, 4, 5]]))
    maps = gpt.attention_probabilities()
    assert len(maps) == 2
    for p in maps:
        assert p.shape == (1, 2, 5, 5)
        np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=1e-12)
        assert np.all(np.triu(p[0, 0], k=1) == 0.0)
