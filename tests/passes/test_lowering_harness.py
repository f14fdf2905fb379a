"""The random-network generators and the differential harness of tests/helpers/lowering.py test themselves."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.lowering import FAMILIES, Census, Net, census_fixture, check_case, firing_rate, random_network, spike_input

from snncompile import ir


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("rank", [1, 3])
def test_random_networks_verify_and_fire(family: str, rank: int) -> None:
    """Generated networks are valid IR and their neurons are neither silent nor saturated on average."""
    rates = []
    for seed in range(12):
        graph, shape = random_network(seed, family, rank=rank)
        assert not ir.verify(graph), ir.print_graph(graph)
        rates.append(firing_rate(graph, spike_input(shape, 20, 2, seed)))
    assert 0.05 < float(np.mean(rates)) < 0.9, rates


def test_check_case_counts_redraws() -> None:
    census = Census("harness")
    graph, shape = random_network(0, "plain", rank=1)
    tie = Net(np.random.default_rng(0))
    tie.input((1,), "spikes")
    lif = tie.add(ir.LIF, [ir.Edge("input0")], 0.5, decay=np.zeros(1), threshold=np.ones((1, 1)))
    tie_graph = tie.graph([lif])
    calls = []

    def case(seed: int) -> tuple[ir.Graph, ir.Graph, np.ndarray]:
        calls.append(seed)
        if len(calls) == 1:  # input exactly at the threshold: a tie, must be re-drawn
            return tie_graph, tie_graph, np.ones((3, 1, 1))
        return graph, graph, spike_input(shape, 20, 2, seed)

    check_case(case, 5, census)
    assert census.redrawn == 1 and census.cases == 1 and census.mismatches == 0


_single_thread = census_fixture(Census("generators"))
