"""Each private Keras API keras-rewrite relies on, exercised directly.

If one of these fails after a Keras upgrade, fix rewrite/_keras_private.py.
"""

from __future__ import annotations

import numpy as np

from rewrite import _keras_private as kp


def test_model_calls_lists_only_this_models_calls(keras):
    dense = keras.layers.Dense(2, name="shared")
    a = keras.Input((2,))
    m1 = keras.Model(a, dense(dense(a)))
    b = keras.Input((2,))
    keras.Model(b, dense(b))  # a second model calls the same layer
    calls = [(op.name, index) for op, index, _ in kp.model_calls(m1) if op.name == "shared"]
    assert calls == [("shared", 0), ("shared", 1)]
    assert len(dense._inbound_nodes) == 3


def test_node_input_sources_follow_keras_history(keras):
    a = keras.Input((2,), name="a")
    h = keras.layers.Dense(2, name="d")(a)
    m = keras.Model(a, keras.layers.Add(name="add")([h, a]))
    node = next(n for op, _, n in kp.model_calls(m) if op.name == "add")
    assert [src.name for src, _, _, _ in kp.node_input_sources(node)] == ["d", "a"]
    args, kwargs = kp.node_call(node)
    assert len(args) == 1 and kwargs == {}


def test_sequential_functional_and_sublayers(keras):
    seq = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert kp.is_functional(kp.sequential_functional(seq))
    assert kp.sequential_functional(keras.Sequential([keras.layers.Dense(2)])) is None
    mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=2)
    x = keras.Input((4, 4))
    mha(x, x)
    assert len(kp.sublayers(mha)) >= 4
    assert kp.sublayers(keras.layers.Dense(2)) == []


def test_reset_compiled_functions(keras):
    import numpy as np

    x = keras.Input((2,))
    m = keras.Model(x, keras.layers.Dense(1)(x))
    m.compile(loss="mse")
    m.predict(np.zeros((1, 2)), verbose=0)
    assert m.predict_function is not None
    assert "predict_function" in kp.reset_compiled_functions(m)
    assert m.predict_function is None


def test_tensor_history_producer_inputs_first_call_and_structures(keras):
    a = keras.Input((3,), name="a")
    d = keras.layers.Dense(2, name="d")
    h = d(a)
    lam = keras.layers.Lambda(lambda t: t * 2, output_shape=(2,), name="lam")
    out = lam(h)
    m = keras.Model(a, {"y": out})
    op, node_index, tensor_index = kp.tensor_history(out)
    assert (op.name, node_index, tensor_index) == ("lam", 0, 0)
    assert kp.producer_inputs(out) == [h]
    args, kwargs = kp.first_call(d)
    assert args[0] is a and kwargs == {}
    assert set(kp.output_structure(m)) == {"y"}
    assert kp.lambda_output_shape(lam) == (2,)
    assert kp.tensor_history(keras.KerasTensor((1, 2))) is None


def test_created_trainable_sets_moving_statistics_apart(keras):
    bn = keras.layers.BatchNormalization()
    bn.build((None, 3))
    assert {v.name for v in kp.created_trainable(bn)} == {"gamma", "beta"}
    bn.trainable = False
    assert {v.name for v in kp.created_trainable(bn)} == {"gamma", "beta"}  # still the same list
    assert not any(v.trainable for v in bn.weights)


def test_set_trainable_reaches_sublayers_of_a_layer_built_untrainable(keras):
    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = keras.layers.Dense(2)

        def call(self, x):
            return self.inner(x)

    block = Block(trainable=False)
    block(keras.ops.ones((1, 3)))
    if keras.backend.backend() == "tensorflow":
        block.trainable = False  # on TensorFlow a plain assignment of the same value reaches nothing
        assert block.inner.trainable and all(v.trainable for v in block.weights)
    kp.set_trainable(block, False)
    assert not block.inner.trainable and not any(v.trainable for v in block.weights)
    kp.set_trainable(block, True)
    assert all(v.trainable for v in block.weights)


def test_run_graph_calls_a_models_layers_in_the_callers_graph(keras):
    a, b = keras.Input((2,), name="a"), keras.Input((2,), name="b")
    inner = keras.Model({"a": a, "b": b}, keras.layers.Subtract(name="sub")([a, b]))
    x, y = keras.Input((2,), name="x"), keras.Input((2,), name="y")
    calls = []

    def call(op, *args, **kwargs):
        calls.append(op.name)
        return op(*args, **kwargs)

    out = kp.run_graph(inner, {"b": y, "a": x}, lambda op: op, call)
    outer = keras.Model([x, y], out)
    assert calls == ["sub"] and [layer.name for layer in outer.layers] == ["x", "y", "sub"]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(outer([np.ones((1, 2)), np.zeros((1, 2))])), np.ones((1, 2)))


def test_release_variables_frees_the_storage_and_keeps_the_structure(keras):
    import pytest

    if keras.backend.backend() != "tensorflow":
        pytest.skip("reads the TensorFlow variable underneath")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="fc")])
    assert kp.release_variables(model) == (3 * 4 + 4) * 4
    assert [tuple(v.shape) for v in model.weights] == [(3, 4), (4,)]  # names, shapes and flags stay
    assert model.get_layer("fc").get_config()["units"] == 4
    assert all(np.asarray(v._value.read_value()).size == 0 for v in model.weights)  # the values are gone
