"""Structured pruning: channels that contribute nothing are removed by importance, and the outputs stay equal.

Each model gets some channels whose weights make them exactly zero after their
BatchNormalization and ReLU (zero kernel and bias, gamma and beta zero); pruning
by importance must pick exactly those, and the pruned model must compute what the
original did.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import rewrite
from rewrite.errors import PlanError, RuleSyntaxError, ValidationFailure
from rewrite.lang.parser import parse


def _randomize_bn(model: keras.Model, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, n))
            layer.beta.assign(rng.uniform(-0.2, 0.2, n))
            layer.moving_mean.assign(rng.uniform(-0.1, 0.1, n))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, n))


def _silence(model: keras.Model, producer: str, channels: list[int], bn: str | None = None, bn_channels: list[int] | None = None) -> None:
    """Make `channels` of `producer` contribute nothing: zero filter and bias, and gamma = beta = 0 in its BN."""
    layer = model.get_layer(producer)
    kernel = layer.kernel.numpy()
    kernel[..., channels] = 0
    layer.kernel.assign(kernel)
    if layer.bias is not None:
        bias = layer.bias.numpy()
        bias[channels] = 0
        layer.bias.assign(bias)
    if bn is not None:
        norm = model.get_layer(bn)
        for v in (norm.gamma, norm.beta):
            value = v.numpy()
            value[bn_channels if bn_channels is not None else channels] = 0
            v.assign(value)


def _x(model: keras.Model, n: int = 4) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(n, *model.input_shape[1:])).astype("float32")


def _same(model: keras.Model, result: rewrite.RewriteResult, tmp_path=None) -> None:
    x = _x(model)
    np.testing.assert_allclose(result.model.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert result.report.passed  # validation saved it to .keras and reloaded it: same outputs
    assert {c.kind for c in result.report.validation if c.status == "passed"} >= {"save-load", "config-round-trip", "changes-kept"}
    assert result.report.cost is not None and result.report.cost.params_after == result.model.count_params()


def _kept(result: rewrite.RewriteResult, producer: str) -> list[int]:
    for s in result.report.statements:
        for g in s.pruned:
            if producer in g.producers:
                return g.kept
    raise AssertionError(f"{producer} was not pruned")


def plain_cnn() -> keras.Model:
    x = inp = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="c1")(x)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(8, 3, padding="same", name="c2")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(4, name="head")(x)
    model = keras.Model(inp, out)
    _randomize_bn(model)
    _silence(model, "c1", [1, 5], "bn1")
    _silence(model, "c2", [0, 6], "bn2")
    return model


def test_plain_cnn_model_wide_l1_removes_the_silent_channels(tmp_path):
    model = plain_cnn()
    result = rewrite.apply(model, 'prune * by l1 ratio=0.25 except Dense[name="head"]')
    assert _kept(result, "c1") == [0, 2, 3, 4, 6, 7]
    assert _kept(result, "c2") == [1, 2, 3, 4, 5, 7]
    assert result.model.get_layer("c1").filters == 6
    assert result.model.get_layer("bn1").gamma.shape == (6,)
    assert result.model.get_layer("c2").kernel.shape == (3, 3, 6, 6)
    assert result.model.get_layer("head").kernel.shape == (6, 4)
    _same(model, result, tmp_path)
    cost = result.report.cost
    assert cost.params_before == model.count_params() and cost.params_after < cost.params_before
    assert cost.macs_after < cost.macs_before


@pytest.mark.parametrize("criterion", ["bn", "l2"])
def test_other_criteria_find_the_silent_channels(criterion, tmp_path):
    model = plain_cnn()
    result = rewrite.apply(model, f'Conv2D[name = "c1"].filters := 6 using weights=prune({criterion})')
    assert _kept(result, "c1") == [0, 2, 3, 4, 6, 7]
    assert result.model.get_layer("c2").filters == 8
    _same(model, result, tmp_path)


def test_random_criterion_is_deterministic():
    model = plain_cnn()
    rule = "prune Conv2D by random ratio=0.5"
    a = rewrite.plan(model, rule)
    b = rewrite.plan(model, rule)
    assert [g.kept for s in a.statements for g in s.pruned] == [g.kept for s in b.statements for g in s.pruned]
    assert a.cost is not None and a.cost.params_after < a.cost.params_before


def residual() -> keras.Model:
    inp = keras.Input((10, 10, 3))
    s = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inp)
    s = keras.layers.BatchNormalization(name="stem_bn")(s)
    s = keras.layers.ReLU()(s)
    a = keras.layers.Conv2D(8, 3, padding="same", name="branch")(s)
    a = keras.layers.BatchNormalization(name="branch_bn")(a)
    y = keras.layers.Add(name="add")([s, a])
    y = keras.layers.ReLU()(y)
    y = keras.layers.Conv2D(5, 1, name="after")(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    out = keras.layers.Dense(3, name="head")(y)
    model = keras.Model(inp, out)
    _randomize_bn(model)
    _silence(model, "stem", [2, 7], "stem_bn")
    _silence(model, "branch", [2, 7], "branch_bn")
    _silence(model, "after", [4])
    return model


def test_residual_add_prunes_one_group(tmp_path):
    model = residual()
    result = rewrite.apply(model, "Conv2D[name = \"stem\"].filters := 6 using weights=prune(l1)")
    (group,) = result.report.statements[0].pruned
    assert sorted(group.producers) == ["branch", "stem"]
    assert group.kept == [0, 1, 3, 4, 5, 6]
    assert {"stem_bn", "branch_bn", "after"} <= set(group.members)
    assert result.model.get_layer("branch").kernel.shape == (3, 3, 6, 6)
    assert result.model.get_layer("after").kernel.shape == (1, 1, 6, 5)
    text = result.report.render()
    assert "stem + branch" in text and "8 -> 6" in text and "0, 1, 3, 4, 5, 6" in text and "parameters" in text
    _same(model, result, tmp_path)


def test_residual_model_wide_prunes_both_groups(tmp_path):
    model = residual()
    result = rewrite.apply(model, "prune Conv2D by l1 ratio=0.25")
    assert _kept(result, "stem") == [0, 1, 3, 4, 5, 6]
    assert _kept(result, "after") == [0, 1, 2, 3]
    _same(model, result, tmp_path)


def concatenated() -> keras.Model:
    inp = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="br_a")(inp)
    b = keras.layers.Conv2D(4, 1, activation="relu", name="br_b")(inp)
    c = keras.layers.Concatenate(name="cat")([a, b])
    c = keras.layers.BatchNormalization(name="cat_bn")(c)
    c = keras.layers.Conv2D(5, 3, name="mix")(c)
    c = keras.layers.GlobalMaxPooling2D()(c)
    out = keras.layers.Dense(2, name="head")(c)
    model = keras.Model(inp, out)
    _randomize_bn(model)
    _silence(model, "br_a", [2])
    _silence(model, "br_b", [1], "cat_bn", [2, 6 + 1])
    return model


def test_concatenate_slices_at_offsets(tmp_path):
    model = concatenated()
    result = rewrite.apply(model, 'prune Conv2D[name ~ "br_*"] by l1 ratio=0.25')
    assert _kept(result, "br_a") == [0, 1, 3, 4, 5]
    assert _kept(result, "br_b") == [0, 2, 3]
    assert result.model.get_layer("cat_bn").gamma.shape == (8,)
    np.testing.assert_array_equal(
        result.model.get_layer("cat_bn").gamma.numpy(), model.get_layer("cat_bn").gamma.numpy()[[0, 1, 3, 4, 5, 6, 8, 9]]
    )
    assert result.model.get_layer("mix").kernel.shape == (3, 3, 8, 5)
    _same(model, result, tmp_path)


def depthwise() -> keras.Model:
    inp = keras.Input((9, 9, 3))
    x = keras.layers.Conv2D(8, 1, name="expand")(inp)
    x = keras.layers.BatchNormalization(name="expand_bn")(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = keras.layers.BatchNormalization(name="dw_bn")(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.Conv2D(4, 1, name="project")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(2, name="head")(x)
    model = keras.Model(inp, out)
    _randomize_bn(model)
    _silence(model, "expand", [3, 4], "expand_bn")
    dw = model.get_layer("dw")
    bias = dw.bias.numpy()
    bias[[3, 4]] = 0
    dw.bias.assign(bias)
    _silence(model, "project", [0])
    return model


def test_depthwise_follows_its_input(tmp_path):
    model = depthwise()
    result = rewrite.apply(model, "prune Conv2D by l1 ratio=0.25")
    assert _kept(result, "expand") == [0, 1, 2, 5, 6, 7]
    assert result.model.get_layer("dw").kernel.shape == (3, 3, 6, 1)
    assert result.model.get_layer("dw_bn").moving_mean.shape == (6,)
    (group,) = [g for g in result.report.statements[0].pruned if "expand" in g.producers]
    assert {"expand_bn", "dw", "dw_bn", "project"} <= set(group.members)
    _same(model, result, tmp_path)


def flatten_head(flatten: str = "flatten") -> keras.Model:
    inp = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    x = keras.layers.Flatten()(x) if flatten == "flatten" else keras.layers.Reshape((16 * 4,), name="reshape")(x)
    x = keras.layers.Dense(5, name="fc")(x)
    out = keras.layers.Dense(3, name="head")(x)
    model = keras.Model(inp, out)
    _silence(model, "conv", [1])
    _silence(model, "fc", [3])
    return model


@pytest.mark.parametrize("flatten", ["flatten", "reshape"])
def test_flatten_dense_rows_follow_the_channel(flatten, tmp_path):
    model = flatten_head(flatten)
    result = rewrite.apply(model, "prune * by l1 ratio=0.25")
    assert _kept(result, "conv") == [0, 2, 3]
    assert _kept(result, "fc") == [0, 1, 2, 4]
    fc = result.model.get_layer("fc").kernel.numpy()
    rows = [p * 4 + c for p in range(16) for c in (0, 2, 3)]
    np.testing.assert_array_equal(fc, model.get_layer("fc").kernel.numpy()[rows][:, [0, 1, 2, 4]])
    if flatten == "reshape":
        assert result.model.get_layer("reshape").target_shape == (48,)
    _same(model, result, tmp_path)


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_nested_model_groups_cross_its_boundary(kind, tmp_path):
    inner_in = keras.Input((8, 8, 6))
    layers = [keras.layers.BatchNormalization(name="inner_bn"), keras.layers.Conv2D(4, 1, name="inner_conv")]
    if kind == "sequential":
        block = keras.Sequential([inner_in, *layers], name="block")
    else:
        block = keras.Model(inner_in, layers[1](layers[0](inner_in)), name="block")
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", name="outer")(inp)
    x = block(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(2, name="head")(x)
    model = keras.Model(inp, out)
    _randomize_bn(block)
    _silence(model, "outer", [5])
    bn = block.get_layer("inner_bn")
    for v in (bn.gamma, bn.beta):
        value = v.numpy()
        value[5] = 0
        v.assign(value)
    _silence(block, "inner_conv", [1])
    result = rewrite.apply(model, 'prune Conv2D[name = "outer"] by l1 ratio=0.2')
    assert _kept(result, "outer") == [0, 1, 2, 3, 4]
    assert result.model.get_layer("block").get_layer("inner_conv").kernel.shape == (1, 1, 5, 4)
    _same(model, result, tmp_path)


def test_groups_that_reach_the_output_or_input_are_not_pruned():
    inp = keras.Input((6, 6, 4))
    x = keras.layers.Conv2D(4, 1, name="c")(inp)
    x = keras.layers.Add()([x, inp])
    out = keras.layers.Conv2D(3, 1, name="last")(x)
    model = keras.Model(inp, out)
    report = rewrite.plan(model, "prune Conv2D by l1 ratio=0.5")
    reasons = {s.layer: s.reason for s in report.statements[0].skips}
    assert "model input" in reasons["c"] and "model output" in reasons["last"]
    with pytest.raises(PlanError, match="model input"):
        rewrite.apply(model, 'Conv2D[name = "c"].filters := 2 using weights=prune(l1)')


def test_in_place_is_refused_and_bad_rules_are_errors():
    model = plain_cnn()
    with pytest.raises(PlanError, match="clone"):
        rewrite.apply(model, "prune Conv2D by l1 ratio=0.25", mode="inplace")
    with pytest.raises(RuleSyntaxError, match="did you mean `l1`"):
        parse("prune Conv2D by l1x ratio=0.2")
    with pytest.raises(Exception, match="ratio"):
        rewrite.apply(model, "prune Conv2D by l1 ratio=1.5")
    with pytest.raises(Exception, match="ratio"):
        rewrite.apply(model, "prune Conv2D by l1")


def test_budget_expectations_pass_and_fail():
    model = plain_cnn()
    before = model.count_params()
    ok = rewrite.apply(model, f"rule small {{\n prune Conv2D by l1 ratio=0.25\n expect params < {before}\n expect macs <= 1e9\n}}")
    assert [c.status for c in ok.report.validation if c.kind == "budget"] == ["passed", "passed"]
    with pytest.raises(ValidationFailure, match="expect params <= 10"):
        rewrite.apply(model, "rule tiny {\n prune Conv2D by l1 ratio=0.25\n expect params <= 1_0\n}")


def test_a_group_is_pruned_once_and_layer_normalization_is_noted():
    report = rewrite.plan(plain_cnn(), "prune Conv2D by l1 ratio=0.25\nprune Conv2D by l2 ratio=0.5")
    first, second = report.statements
    assert len(first.pruned) == 2 and not second.pruned
    assert all("earlier statement" in s.reason for s in second.skips)
    inp = keras.Input((4, 6))
    x = keras.layers.Dense(8, name="d1")(inp)
    x = keras.layers.LayerNormalization(name="ln")(x)
    out = keras.layers.Dense(2, name="d2")(x)
    report = rewrite.plan(keras.Model(inp, out), "prune Dense by l1 ratio=0.5")
    (group,) = report.statements[0].pruned
    assert group.members == ["ln", "d2"] and group.channels_after == 4
    assert any("LayerNormalization" in w for w in report.statements[0].warnings)


def test_check_reports_a_bad_ratio_without_a_model(tmp_path):
    path = tmp_path / "bad.rw"
    path.write_text("prune Conv2D by l1 ratio=2\n")
    (diagnostic,) = rewrite.check(path)
    assert "ratio=2" in diagnostic.message and diagnostic.line == 1
