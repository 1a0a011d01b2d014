"""Architecture as data: the layer spec grammar, the networks it builds, and the ``layers`` setting."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn import build_mlp
from scratchnn.layers import LAYERS
from scratchnn.recipe import KEYWORDS, build_network, config, format_layers, parse_layers
from scratchnn.recipe import train as recipe
from scratchnn.serialization import load, save


def kinds(net) -> list[str]:
    return [type(layer).__name__ for layer in net.layers]


def test_the_reference_cnn_builds_with_reshape_in_front_and_sizes_filled_in():
    spec = "conv32k3p1-bn-relu-conv64k3-bn-relu-maxpool2-conv128k3-bn-relu-gap-dense10"
    net = build_network(spec, (1, 8, 8), 10, seed=0)
    assert kinds(net) == [
        "Reshape", "Conv2D", "BatchNorm2d", "ReLU", "Conv2D", "BatchNorm2d", "ReLU",
        "MaxPool2D", "Conv2D", "BatchNorm2d", "ReLU", "GlobalAvgPool2D", "Dense",
    ]  # fmt: skip
    conv1, conv2, conv3 = (layer for layer in net.layers if type(layer).__name__ == "Conv2D")
    assert conv1.W.shape == (32, 1, 3, 3)
    assert conv1.padding == (1, 1)
    assert conv2.W.shape == (64, 32, 3, 3)  # no padding: 8x8 -> 6x6, pooled to 3x3
    assert conv2.padding == (0, 0)
    assert conv3.W.shape == (128, 64, 3, 3)  # 3x3 -> 1x1
    assert net.layers[2].num_channels == 32
    assert net.layers[-1].W.shape == (128, 10)
    assert (net.n_features, net.n_outputs) == (64, 10)
    assert net.predict(np.zeros((5, 64))).shape == (5,)


def test_a_bare_final_dense_takes_the_number_of_outputs_and_flatten_is_put_before_it():
    net = build_network("conv4k3same-relu-maxpool2-dense", (1, 8, 8), 3, seed=0)
    assert kinds(net) == ["Reshape", "Conv2D", "ReLU", "MaxPool2D", "Flatten", "Dense"]
    assert net.layers[-1].W.shape == (4 * 4 * 4, 3)


def test_an_mlp_spec_is_the_same_network_as_hidden_units_with_the_same_seed():
    from_spec = build_network("dense32-relu-dense16-relu-dense", 64, 10, seed=7)
    mlp = build_mlp(64, (32, 16), 10, seed=7)
    assert kinds(from_spec) == kinds(mlp)
    for a, b in zip(from_spec.parameters(), mlp.parameters()):
        np.testing.assert_array_equal(a, b)


def test_each_weight_layer_is_initialised_as_the_activation_after_it_asks():
    net = build_network("dense8-tanh-dense8-relu-dense", 4, 2, seed=0)
    assert [layer.init for layer in net.layers if hasattr(layer, "init")] == ["xavier", "he", "he"]
    net = build_network("conv4-sigmoid-gap-dense", (1, 5, 5), 2, seed=0)
    assert (net.layers[1].init, net.layers[-1].init) == ("xavier", "xavier")


#: Layers without a keyword, and why.
AWAITING_KEYWORDS = {
    "GPT",  # built by the language-model presets, not by a spec token
}


def test_every_layer_type_has_a_keyword():
    built = {KEYWORDS[k].layer for k in KEYWORDS} - {"BatchNorm"} | {"BatchNorm1d", "BatchNorm2d"}
    # a Sequential is the body of every res(...)
    assert set(LAYERS) - AWAITING_KEYWORDS <= built | {"Sequential"}
    spec = "reshape1x6x6-conv4k3-bn-lrelu0.2-avgpool2s1-conv4k1-sigmoid-maxpool2-tanh-gap-identity-dense5-bn"
    net = build_network(spec + "-relu-res(dense5-tanh)-drop0.25-flatten-dense", 36, 3, seed=0)
    residual = net.layers[kinds(net).index("Residual")]
    images = set(kinds(net)) | {type(residual.block).__name__}
    assert net.layers[3].negative_slope == pytest.approx(0.2)
    assert net.layers[4].stride == (1, 1)
    tokens = "embed11x8-pos6-res(ln-mha2c)-res(ln-dense16-gelu-dense8)-ln-gelut-mha4-rnn8-lstm6-gru5"
    ids = build_network(tokens + "-last-dense", 6, 3, seed=0)  # 6 token ids per sample
    values = build_network("gru4-mean-dense", (5, 2), 3, seed=0)  # 5 steps of 2 values
    assert images | set(kinds(ids)) | set(kinds(values)) == set(LAYERS) - AWAITING_KEYWORDS
    assert kinds(ids) == [
        "Embedding", "PositionalEmbedding", "Residual", "Residual", "LayerNorm", "GELU", "MultiHeadAttention",
        "RNN", "LSTM", "GRU", "LastStep", "Dense",
    ]  # fmt: skip
    attention = ids.layers[2].block.layers[1]
    assert (attention.embed_dim, attention.num_heads, attention.causal) == (8, 2, True)
    assert (ids.layers[5].approximate, ids.layers[6].causal) == ("tanh", False)
    assert [(r.input_size, r.hidden_size) for r in ids.layers[7:10]] == [(8, 8), (8, 6), (6, 5)]
    assert all(r.return_sequences for r in ids.layers[7:10])
    assert ids.forward(np.arange(12).reshape(2, 6) % 11).shape == (2, 3)
    assert values.forward(np.zeros((4, 5, 2), np.float32), lengths=np.array([5, 1, 2, 3])).shape == (4, 3)


def test_a_sequence_network_fixes_no_row_width_and_a_language_model_outputs_each_step():
    net = build_network("lstm8-last-dense", (7, 3), 4, seed=0)
    assert (net.input_shape, net.n_features, net.n_outputs) == (None, None, 4)
    text = "embed65x128-pos64-res(ln-mha4c)-res(ln-dense512-gelu-dense128)-ln-dense65"
    lm = build_network(text, 64, 65, seed=0)
    assert format_layers(text) == text
    assert lm.forward(np.zeros((2, 10), dtype=np.int64)).shape == (2, 10, 65)


@pytest.mark.parametrize(
    ("text", "shape", "words"),
    [
        ("mha3-last-dense", (5, 4), "divisible"),
        ("embed10x4-last-dense", (5, 4), "token ids"),
        ("lstm8-dense", 6, "needs sequences"),
        ("pos4-last-dense", (5, 4), "T <= 4"),
    ],
)
def test_a_sequence_token_that_does_not_fit_names_itself(text, shape, words):
    with pytest.raises(ValueError, match=r"^layers: token 1") as info:
        build_network(text, shape, 3)
    assert words in str(info.value)


def test_parse_reads_numbers_pairs_and_words():
    conv, pool, drop = parse_layers("Conv16k3x5s2p1x2 - MaxPool3s1 - drop0.5")
    assert conv.keyword == "conv"
    assert conv.args == {
        "out_channels": 16, "kernel_size": (3, 5), "stride": (2, 2), "padding": (1, 2),
    }  # fmt: skip
    assert pool.args == {"kernel_size": (3, 3), "stride": (1, 1)}
    assert drop.args == {"rate": 0.5}
    assert parse_layers("conv8same")[0].args["padding"] == "same"
    assert parse_layers("conv8k5valid")[0].args["padding"] == "valid"
    assert parse_layers("dense")[0].args == {"out_features": None}


@pytest.mark.parametrize(
    "text",
    [
        "conv32k3p1-bn-relu-conv64k3-bn-relu-maxpool2-conv128k3-bn-relu-gap-dense10",
        "dense128-relu-drop0.5-dense64-lrelu0.01-dense",
        "reshape3x4x4-conv8k3x1s2x1-tanh-avgpool2s1-flatten-dense",
        "embed65x128-pos64-res(ln-mha4c)-res(ln-dense512-gelu-dense128)-ln-dense65",
        "lstm64-last-dense",
        "rnn8-gru16-mha2-gelut-mean-dense",
    ],
)
def test_the_canonical_text_reads_back_to_the_same_spec(text):
    specs = parse_layers(text)
    assert parse_layers(format_layers(specs)) == specs
    assert format_layers(format_layers(text)) == format_layers(text)


@pytest.mark.parametrize(
    ("text", "token", "words"),
    [
        ("conv32k3-relu-maxpol2-dense", "'maxpol2'", "token 3"),
        ("conv0-dense", "'conv0'", "out_channels"),
        ("conv32kk3-dense", "'conv32kk3'", "conv<C>[k<K>]"),
        ("dense-relu-dense", "'dense'", "only the last dense"),
        ("conv32--dense", "''", "empty"),
        ("drop1.5-dense", "'drop1.5'", "rate"),
        ("conv8k3s2same-dense", "'conv8k3s2same'", "stride 1"),
        ("dense64,dense", "'dense64,dense'", "dense[N]"),
        ("", "", "at least one layer"),
        ("lstm0-last-dense", "'lstm0'", "hidden_size"),
        ("mha0-last-dense", "'mha0'", "num_heads"),
        ("embed1000000000000x1000000-dense", "'embed1000000000000x1000000'", "too large"),
        ("mha4x-dense", "'mha4x'", "mha<H>[c]"),
        ("lstm100000000-last-dense", "'lstm100000000'", "too large"),
        ("pos10000000000-dense", "'pos10000000000'", "too large"),
        ("mha100000-mean-dense", "'mha100000'", "too large"),
        ("gru99999999999-last-dense", "'gru99999999999'", "too large"),
        ("embed5x0-dense", "'embed5x0'", "embedding_dim"),
    ],
)
def test_a_bad_spec_raises_value_error_naming_the_token(text, token, words):
    with pytest.raises(ValueError, match="layers") as info:
        parse_layers(text)
    assert token in str(info.value)
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("text", "shape", "token", "words"),
    [
        ("conv32-relu-dense", 64, "'conv32'", "--image-shape"),
        ("conv8-maxpool2-maxpool2-maxpool2-maxpool2-dense", (1, 8, 8), "token 4 'maxpool2'", "does not fit"),
        ("conv8-gap-conv8-dense", (1, 8, 8), "token 3 'conv8'", "needs images"),
        ("dense5", 64, "'dense5'", "needs 3 outputs"),
        ("conv8-relu-gap", (1, 8, 8), "'gap'", "needs 3 outputs"),
        ("reshape1x4x4-conv8-dense", 64, "'reshape1x4x4'", "16 values"),
    ],
)
def test_a_spec_that_does_not_fit_its_input_names_the_token(text, shape, token, words):
    with pytest.raises(ValueError, match=r"^layers: token") as info:
        build_network(text, shape, 3)
    assert token in str(info.value)
    assert words in str(info.value)


def test_non_spec_values_are_type_errors():
    with pytest.raises(TypeError, match="layers"):
        parse_layers(["dense"])
    with pytest.raises(TypeError, match="input_shape"):
        build_network("dense", "64", 3)


def test_the_layers_setting_is_checked_once_and_names_the_token():
    assert config.TrainingConfig().layers is None
    assert config.TrainingConfig(layers="conv8-relu-gap-dense").layers == "conv8-relu-gap-dense"
    with pytest.raises(ValueError, match="'relux'"):
        config.TrainingConfig(layers="conv8-relux-gap-dense")
    setting = config.SETTINGS_BY_NAME["layers"]
    assert setting.from_text("off") is None
    with pytest.raises(ValueError, match="token 2 'relux'"):
        setting.from_text("conv8-relux-dense")


def test_config_build_uses_the_spec_and_the_image_shape():
    cfg = config.TrainingConfig(layers="conv4-bn-relu-gap-dense", label_smoothing=0.1)
    net, _ = recipe.build(cfg, 64, 10, seed=0, input_shape=(1, 8, 8))
    assert kinds(net)[:2] == ["Reshape", "Conv2D"]
    assert net.loss.label_smoothing == 0.1
    with pytest.raises(ValueError, match="--image-shape"):
        recipe.build(cfg, 64, 10, seed=0)
    with pytest.raises(ValueError, match="input_shape"):
        recipe.build(cfg, 64, 10, seed=0, input_shape=(1, 4, 4))


def test_config_train_trains_a_cnn_and_the_same_seed_gives_the_same_digits():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 36))
    y = (x[:, :18].sum(axis=1) > 0).astype(np.int64)
    cfg = config.TrainingConfig(layers="conv4-bn-relu-maxpool2-dense", epochs=3, optimizer="adam",
                                learning_rate=0.01)  # fmt: skip
    net_a, hist_a = recipe.train(cfg, x, y, seed=3, input_shape=(1, 6, 6))
    net_b, hist_b = recipe.train(cfg, x, y, seed=3, input_shape=(1, 6, 6))
    assert hist_a.column("loss") == hist_b.column("loss")
    assert hist_a[-1]["loss"] < hist_a[0]["loss"]
    np.testing.assert_array_equal(net_a.predict_proba(x), net_b.predict_proba(x))


def test_a_built_cnn_saves_and_loads_to_the_same_predictions_bit_for_bit(tmp_path):
    net = build_network("conv4k3p1-bn-relu-maxpool2-conv8k3-bn-relu-gap-drop0.1-dense", (1, 8, 8), 10, seed=1)
    x = np.random.default_rng(2).standard_normal((40, 64)).astype(np.float32)
    for layer in net.layers:  # non-trivial running statistics, as after training
        if hasattr(layer, "running_mean"):
            layer.running_mean[:] = np.linspace(-1, 1, layer.running_mean.size)
            layer.running_var[:] = np.linspace(0.5, 2, layer.running_var.size)
    save(net, tmp_path / "cnn.npz")
    loaded = load(tmp_path / "cnn.npz")
    assert kinds(loaded) == kinds(net)
    assert loaded.predict_proba(x).tobytes() == net.predict_proba(x).tobytes()


def test_the_classifier_trains_a_cnn_from_a_layers_spec():
    from sklearn.datasets import load_digits

    from scratchnn.sklearn import ScratchNNClassifier

    x, y = load_digits(return_X_y=True)
    spec = "reshape1x8x8-conv8k3p1-bn-relu-maxpool2-dense"
    clf = ScratchNNClassifier(layers=spec, optimizer="adam", learning_rate=0.01, batch_size=32, epochs=3,
                              random_state=0)  # fmt: skip
    clf.fit(x[:1200] / 16, y[:1200])
    assert [type(layer).__name__ for layer in clf.network_.layers][:3] == ["Reshape", "Conv2D", "BatchNorm2d"]
    assert clf.score(x[1200:] / 16, y[1200:]) >= 0.9
    again = ScratchNNClassifier(**clf.get_params()).fit(x[:1200] / 16, y[:1200])
    np.testing.assert_array_equal(again.predict_proba(x[1200:] / 16), clf.predict_proba(x[1200:] / 16))
    with pytest.raises(ValueError, match="token 2 'relux'"):
        ScratchNNClassifier(layers="dense8-relux-dense").fit(x[:50], y[:50])


def test_check_estimator_gives_a_layers_spec_the_same_verdicts_as_the_default_mlp():
    """Every scikit-learn check passes or fails for a spec as for the default MLP (they should all pass).

    float64: in float32, predict_proba of a two-hidden-layer net on reordered rows differs in the last
    bits (BLAS blocks the rows differently), beyond check_methods_sample_order_invariance's rtol 1e-7.
    """
    from sklearn.utils.estimator_checks import check_estimator
    from test_sklearn import EXPECTED_FAILED_CHECKS

    from scratchnn.sklearn import ScratchNNClassifier

    def verdicts(clf):
        expected = EXPECTED_FAILED_CHECKS
        results = check_estimator(clf, expected_failed_checks=expected, on_skip=None, on_fail=None)
        return {r["check_name"]: r["status"] for r in results}

    with_spec = verdicts(ScratchNNClassifier(layers="dense32-tanh-dense16-relu-dense", dtype="float64"))
    assert len(with_spec) > 40
    assert with_spec == verdicts(ScratchNNClassifier(dtype="float64"))


# -- nesting: res(...) -------------------------------------------------------------------------


def test_a_residual_block_parses_formats_and_builds_around_a_sequential():
    from scratchnn.layers import Residual, Sequential

    specs = parse_layers("Res(dense64 - relu - dense64)-dense")
    assert [s.keyword for s in specs] == ["res", "dense"]
    assert [s.keyword for s in specs[0].args["block"]] == ["dense", "relu", "dense"]
    assert [s.position for s in (specs[0], *specs[0].args["block"], specs[1])] == [1, 2, 3, 4, 5]
    assert format_layers(specs) == "res(dense64-relu-dense64)-dense"
    assert format_layers(format_layers(specs)) == "res(dense64-relu-dense64)-dense"
    net = build_network("dense64-res(dense64-relu-dense64)-relu-dense", 64, 10, seed=0)
    residual = net.layers[1]
    assert isinstance(residual, Residual)
    assert isinstance(residual.block, Sequential)
    assert kinds(residual.block) == ["Dense", "ReLU", "Dense"]
    assert [layer.init for layer in residual.block.layers if hasattr(layer, "init")] == ["he", "he"]
    assert net.predict(np.zeros((3, 64))).shape == (3,)


def test_a_convolutional_residual_block_keeps_the_image_shape():
    net = build_network("conv8k3p1-res(conv8k3p1-bn-relu)-gap-dense", (1, 8, 8), 10, seed=0)
    assert kinds(net) == ["Reshape", "Conv2D", "Residual", "GlobalAvgPool2D", "Dense"]
    assert kinds(net.layers[2].block) == ["Conv2D", "BatchNorm2d", "ReLU"]
    assert net.layers[2].block.layers[0].W.shape == (8, 8, 3, 3)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("res(dense64-relu-dense32)-dense", ["token 1", "res(dense64-relu-dense32)", "keep the shape"]),
        ("dense64-res(dense64-relu-dense", ["leaves a bracket open"]),
        ("dense64-relu)-dense", ["closes a bracket"]),
        ("res()-dense", ["token 1", "res(<spec>)"]),
        ("res(dense64-relu-dense)-dense", ["token 4", "'dense'", "needs its width"]),
        ("res(dense64-relu-foo)-dense", ["token 4", "'foo'", "is not a layer"]),
        ("dense64-res(conv8)-dense", ["token 3", "'conv8'", "needs images"]),
    ],
)
def test_a_bad_residual_spec_is_refused_naming_its_token(spec, words):
    with pytest.raises(ValueError, match=r"^layers: ") as info:
        build_network(spec, 64, 10, seed=0)
    for word in words:
        assert word in str(info.value), str(info.value)


# -- the size bound (issue 26): sized before anything is allocated ----------------------------------


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("dense300000000-dense", ["token 1", "'dense300000000'", "too large", "NETWORK_BYTES_LIMIT"]),
        ("res(dense64-dense300000000-dense64)-dense", ["token 3", "'dense300000000'", "too large"]),
        ("conv16k100000-dense", ["token 1", "'conv16k100000'", "too large"]),
        ("conv100000p2000-gap-dense", ["token 1", "'conv100000p2000'", "too large"]),
    ],
)
def test_a_network_past_the_size_bound_is_refused_before_it_is_allocated(spec, words):
    import time
    import tracemalloc

    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError, match=r"^layers: token \d+ ") as info:
            build_network(spec, (1, 8, 8) if spec.startswith("conv") else 64, 10, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    for word in words:
        assert word in str(info.value), str(info.value)
    assert peak < 50 * 2**20
    assert time.perf_counter() - start < 5


def test_the_size_bound_counts_one_batch_of_the_largest_activation():
    from scratchnn.network import NETWORK_BYTES_LIMIT

    # conv64 on 1x64x64 images: 262,144 values per row; 600 rows of float32 pass the limit, 100 do not
    assert 100 * 64 * 64 * 64 * 4 < NETWORK_BYTES_LIMIT < 600 * 64 * 64 * 64 * 4
    build_network("conv64k3p1-gap-dense", (1, 64, 64), 10, seed=0, batch_size=100)
    with pytest.raises(
        ValueError, match=r"token 1 'conv64k3p1' of '[^']*' makes the network too large.*x 600 rows"
    ):
        build_network("conv64k3p1-gap-dense", (1, 64, 64), 10, seed=0, batch_size=600)
