"""The float interpreter: edge delays, fan-in sums, input checking, record modes, dtypes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snncompile import ir
from snncompile.errors import CompileError, InternalError
from snncompile.sim import FLOAT_OPS, simulate

T, B = 6, 2


def x_seq(shape: tuple[int, ...] = (3,), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(T, B, *shape))


def inp(shape: tuple[int, ...] = (3,), name: str = "input") -> ir.Input:
    return ir.Input(name, (), shape=shape)


def lif(name: str, inputs: tuple[str | ir.Edge, ...], n: int = 3, **kw: object) -> ir.LIF:
    return ir.LIF(name, inputs, decay=np.full(n, 0.5), threshold=np.full((1, n), 0.4), **kw)  # type: ignore[arg-type]


def shifted(x: np.ndarray, delay: int) -> np.ndarray:
    out = np.zeros_like(x)
    if delay < len(x):
        out[delay:] = x[: len(x) - delay]
    return out


@pytest.mark.parametrize("delay", [0, 1, 3, T - 1, T, T + 4])
def test_edge_delay_shifts_the_sequence(delay: int) -> None:
    g = ir.Graph((inp(), ir.Identity("out", (ir.Edge("input", delay),))), ("out",))
    x = x_seq()
    assert np.array_equal(simulate(g, x).output, shifted(x, delay))


def test_delays_add_up_along_a_path() -> None:
    g = ir.Graph((inp(), ir.Identity("a", (ir.Edge("input", 1),)), ir.Identity("b", (ir.Edge("a", 2),))), ("b",))
    x = x_seq()
    assert np.array_equal(simulate(g, x)["b"], shifted(x, 3))


def test_delayed_input_to_a_neuron_equals_a_delayed_drive() -> None:
    x = x_seq()
    delayed = ir.Graph((inp(), lif("lif", (ir.Edge("input", 2),))), ("lif",))
    plain = ir.Graph((inp(), lif("lif", ("input",))), ("lif",))
    assert np.array_equal(simulate(delayed, x).output, simulate(plain, shifted(x, 2)).output)


def test_fan_in_inputs_are_summed() -> None:
    x = x_seq()
    two = ir.Graph((inp(), ir.Identity("a", ("input",)), ir.Identity("b", (ir.Edge("input", 1),)),
                    lif("lif", ("a", "b"))), ("lif",))
    one = ir.Graph((inp(), lif("lif", ("input",))), ("lif",))
    summed = x + shifted(x, 1)
    out = simulate(two, x).output
    assert np.array_equal(out, simulate(one, summed).output)
    assert 0 < out.mean() < 1


def test_add_and_readout_sum_their_inputs() -> None:
    w = np.random.default_rng(1).normal(size=(2, 3))
    g = ir.Graph((
        inp(),
        ir.Add("add", ("input", "input", ir.Edge("input", 1))),
        ir.Readout("head", ("add", "input"), weight=w, bias=np.array([0.5, -0.5])),
    ), ("head",))
    x = x_seq()
    res = simulate(g, x)
    total = x + x + shifted(x, 1)
    assert np.allclose(res["add"], total, rtol=0, atol=1e-14)
    expected = ((total + x) @ w.T + np.array([0.5, -0.5])).mean(0)
    assert res.output.shape == (B, 2)
    assert np.allclose(res.output, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("bad", [np.zeros((T, B, 4)), np.zeros((T, B, 3, 1)), np.zeros((3,)), np.zeros((T, 3))])
def test_wrong_input_shape_is_a_compile_error(bad: np.ndarray) -> None:
    g = ir.Graph((inp(), lif("lif", ("input",))), ("lif",))
    with pytest.raises(CompileError) as info:
        simulate(g, bad)
    assert info.value.codes == ["SNC204"]
    assert "expected [T, B, 3]" in str(info.value)


def test_several_inputs_need_a_dict() -> None:
    g = ir.Graph((inp(name="a"), inp(name="b"), ir.Add("add", ("a", "b"))), ("add",))
    with pytest.raises(CompileError) as info:
        simulate(g, x_seq())
    assert info.value.codes == ["SNC205"] and "dict" in str(info.value)
    with pytest.raises(CompileError, match="no data given for input %b"):
        simulate(g, {"a": x_seq()})
    res = simulate(g, {"a": x_seq(seed=1), "b": x_seq(seed=2)})
    assert np.allclose(res.output, x_seq(seed=1) + x_seq(seed=2))


def test_record_modes() -> None:
    g = ir.Graph((inp(), ir.Identity("id", ("input",)), lif("lif", ("id",)), ir.Identity("out", ("lif",))),
                 ("out",))
    x = x_seq()
    assert set(simulate(g, x).values) == {"input", "id", "lif", "out"}
    assert set(simulate(g, x, record="all").values) == {"input", "id", "lif", "out"}
    assert set(simulate(g, x, record="neurons").values) == {"lif", "out"}
    only_out = simulate(g, x, record="outputs")
    assert set(only_out.values) == {"out"} and only_out.outputs == ("out",)
    assert np.array_equal(only_out.output, simulate(g, x)["lif"])
    with pytest.raises(ValueError, match="record"):
        simulate(g, x, record="everything")


def test_record_by_names_keeps_those_nodes_and_the_outputs_with_the_same_values() -> None:
    g = ir.Graph((inp(), ir.Identity("id", ("input",)), lif("a", ("id",)), lif("b", ("a", ir.Edge("id", 2))),
                  ir.Identity("out", ("b",))), ("out",))
    x = x_seq()
    full, part = simulate(g, x), simulate(g, x, record=["a"])
    assert set(part.values) == {"a", "out"}
    assert np.array_equal(part["a"], full["a"]) and np.array_equal(part.output, full.output)


def test_torch_and_numpy_inputs_agree_and_dtype_is_respected() -> None:
    g = ir.Graph((inp(), lif("lif", ("input",))), ("lif",))
    x = x_seq()
    a = simulate(g, x)
    b = simulate(g, torch.from_numpy(x).float())  # converted to the simulation dtype (float64)
    assert a.output.dtype == np.float64 and b.output.dtype == np.float64
    assert np.array_equal(simulate(g, torch.from_numpy(x)).output, a.output)
    c = simulate(g, x, dtype=torch.float32)
    assert c.output.dtype == np.float32


def test_missing_implementation_is_an_internal_error() -> None:
    g = ir.Graph((inp(), lif("lif", ("input",))), ("lif",))
    numerics = {k: v for k, v in FLOAT_OPS.items() if k is not ir.LIF}
    with pytest.raises(InternalError, match="no implementation of `lif`"):
        simulate(g, x_seq(), numerics=numerics)


def test_simulation_does_not_mutate_inputs() -> None:
    g = ir.Graph((inp(), ir.Identity("out", ("input",))), ("out",))
    x = x_seq()
    before = x.copy()
    res = simulate(g, x)
    res.values["out"][...] = 0.0
    assert np.array_equal(x, before)
    xt = torch.from_numpy(before.copy())
    simulate(g, xt).values["input"][...] = 0.0
    assert np.array_equal(xt.numpy(), before)
