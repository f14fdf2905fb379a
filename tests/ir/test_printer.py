"""The IR text printer: deterministic golden output, origins, delays, unknown shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from snncompile import ir


def small_graph() -> ir.Graph:
    """Input -> dense -> LIF with a delayed second (fan-in) edge -> readout, plus a second metadata key."""
    return ir.Graph((
        ir.Input("input", (), "input", shape=(3,)),
        ir.Dense("fc", ("input",), "layers.0", weight=np.ones((2, 3)), bias=None),
        ir.LIF("fc_lif", ("fc", ir.Edge("fc", 2)), "layers.1", decay=np.full(2, 0.25),
               threshold=np.full((1, 2), 0.5)),
        ir.Readout("head", ("fc_lif",), "head", weight=np.ones((4, 2)), bias=np.zeros(4)),
    ), ("head",), {"timesteps": 8, "source": "test"})


def test_small_graph_golden(golden: Callable[[str, str], None]) -> None:
    golden("printer_small.txt", ir.print_graph(small_graph()))


def test_all_ops_golden(golden: Callable[[str, str], None], kit: Any) -> None:
    golden("printer_all_ops.txt", ir.print_graph(kit.all_ops()))


def test_without_origins_golden(golden: Callable[[str, str], None], kit: Any) -> None:
    text = ir.print_graph(kit.all_ops(), origins=False)
    assert "#" not in text
    golden("printer_all_ops_no_origins.txt", text)


def test_ill_shaped_graph_prints_unknown_shapes(golden: Callable[[str, str], None]) -> None:
    """A graph whose shapes cannot be inferred still prints (as error context), shapes shown as `?`."""
    bad = ir.Graph((
        ir.Input("input", (), shape=(3,)),
        ir.Dense("fc", ("input",), weight=np.ones((2, 5))),
        ir.Identity("out", (ir.Edge("fc", 2),)),
    ), ("out",))
    golden("printer_ill_shaped.txt", ir.print_graph(bad))


def test_output_is_deterministic_and_value_free(kit: Any) -> None:
    a, b = kit.all_ops(seed=0), kit.all_ops(seed=1)  # same structure, different values
    assert ir.print_graph(a) == ir.print_graph(a) == ir.print_graph(b)


def test_one_line_per_node() -> None:
    text = ir.print_graph(small_graph())
    lines = text.splitlines()
    assert lines[0] == "graph (source=test, timesteps=8) {"
    assert lines[-2:] == ["  return %head", "}"]
    assert len(lines) == len(small_graph()) + 3
    assert "%fc@2" in text  # delayed edge
    assert "# layers.0" in text and "# head" not in text  # origin shown only where it differs from the name
    assert ir.print_graph(ir.Graph((ir.Input("x", (), shape=(1,)),), ("x",))).startswith("graph {")
