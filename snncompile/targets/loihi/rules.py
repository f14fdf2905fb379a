"""The Loihi target's rules on the fixed-point graph: formats, ranges, delays and netx chain legality."""

from __future__ import annotations

import numpy as np

from snncompile import ir
from snncompile.errors import Diagnostic
from snncompile.passes.base import Rule
from snncompile.targets.base import supported_ops_rule
from snncompile.targets.loihi.caps import (
    A_EXACT,
    BIAS_MAX,
    BIAS_MIN,
    DECAY_UNITY,
    DELAY_MAX,
    LOIHI_CAPABILITIES,
    THRESHOLD_MAX,
    WEIGHT_MAX,
    WEIGHT_MIN,
    WEIGHT_MIN_SINGLE_SIGN,
)
from snncompile.targets.loihi.ops import LoihiLIF
from snncompile.targets.loihi.overflow import worst_a
from snncompile.targets.loihi.structure import diag


def _lowered(graph: ir.Graph) -> list[Diagnostic]:
    return [diag("SNC600", n, f"{n.kind} population was not quantized", "run loihi-schedule and loihi-quantize")
            for n in graph.of_kind(ir.LIF)]


def _weights(graph: ir.Graph) -> list[Diagnostic]:
    found = []
    for pop in graph.of_kind(LoihiLIF):
        for e in pop.inputs:
            w = getattr(graph.node(e.src), "weight", None)
            if w is None:
                continue
            low = WEIGHT_MIN if np.max(w) >= 0 else WEIGHT_MIN_SINGLE_SIGN
            if np.any(w != np.round(w)) or np.any(np.mod(w, 2) != 0) or w.min() < low or w.max() > WEIGHT_MAX:
                found.append(diag("SNC616", graph.node(e.src), f"weights must be even integers in [{low}, "
                                  f"{WEIGHT_MAX}], found range [{w.min():.6g}, {w.max():.6g}]",
                                  "quantize with loihi-quantize"))
            if not np.any(w):
                found.append(diag("SNC614", graph.node(e.src), "all weights are zero",
                                  "netx cannot load an all-zero dense layer; drop the synapse"))
    return found


def _parameters(graph: ir.Graph) -> list[Diagnostic]:
    found = []
    for p in graph.of_kind(LoihiLIF):
        if not 0 <= p.threshold <= THRESHOLD_MAX:
            found.append(diag("SNC613", p, f"vThMant {p.threshold} is outside 0..{THRESHOLD_MAX} (17 bits)",
                              "the quantizer keeps vThMant in range; a hand-built graph must too"))
        if not (1 <= p.i_decay <= DECAY_UNITY and 0 <= p.v_decay <= DECAY_UNITY):
            found.append(diag("SNC615", p, f"iDecay {p.i_decay} / vDecay {p.v_decay} outside 1..4096 / 0..4096",
                              "use decays in [0, 1] per step (12-bit registers)"))
        b = p.bias
        if b is not None and (b.min() < BIAS_MIN or b.max() > BIAS_MAX):
            found.append(diag("SNC617", p, f"bias range [{b.min():.0f}, {b.max():.0f}] exceeds 13 bits "
                              f"[{BIAS_MIN}, {BIAS_MAX}]", "Lava would wrap it at int16"))
        delays = [e.delay for e in p.inputs]
        if min(delays) < 1 or max(delays) - 1 > DELAY_MAX:
            found.append(diag("SNC605", p, f"synaptic delays {delays} need 1..{DELAY_MAX + 1} steps per hop",
                              f"shorten skip connections to at most {DELAY_MAX} layers"))
        a_max = worst_a(graph, p)
        if a_max > A_EXACT:
            found.append(diag("SNC625", p, f"|A| can reach {a_max:.0f}; past {A_EXACT} Lava's own int32 current "
                              "arithmetic overflows", "reduce the fan-in or the weights of this layer"))
    return found


def _chain(graph: ir.Graph) -> list[Diagnostic]:
    """A dense netx layer needs a synapse from the layer before it (netx cannot load an all-zero one)."""
    layers = graph.metadata.get("loihi", {}).get("layers", [])
    found = []
    for i, layer in enumerate(layers):
        before = {"input", *[n.name for n in graph.of_kind(ir.Input)]} if i == 0 else set(layers[i - 1])
        pops = [graph.node(n) for n in layer]
        if len(graph.shapes[layer[0]]) != 1:
            continue
        if not any(_reads(graph, e.src) in before for p in pops for e in p.inputs):
            found.append(diag("SNC607", pops[0], "dense layer has no synapse from the netx layer before it",
                              "netx files are strict chains; reorder the network or feed this layer from its "
                              "predecessor"))
    return found


def _reads(graph: ir.Graph, synapse: str) -> str:
    node = graph.node(graph.node(synapse).inputs[0].src)
    if isinstance(node, ir.Flatten):
        node = graph.node(node.inputs[0].src)
    return node.inputs[0].src if node.kind == "encode" else node.name


def chip_budget(max_chips: int) -> Rule:
    """The resource plan (docs/LOIHI.md §9) against the chip budget: a warning past one chip (SNC640), an error
    past `max_chips` (SNC641), both with the numbers."""

    def check(graph: ir.Graph) -> list[Diagnostic]:
        from snncompile.resources import loihi_plan  # resources reads the Loihi ops: imported when used

        plan = loihi_plan(graph)
        lim = plan.limits
        need = (f"the resource plan needs {plan.cores:,} Loihi 2 cores on {plan.chips} chips "
                f"({lim.cores_per_chip} cores each; {plan.boards} board{'s' if plan.boards != 1 else ''} of "
                f"{lim.chips_per_board} chips); largest layers: {plan.describe_largest()}")
        if plan.chips > max_chips:
            return [diag("SNC641", None, f"{need}; the chip budget is {max_chips}",
                         "shrink the network, or raise the budget with --loihi-max-chips (LoihiOptions.max_chips) "
                         "if your system has more chips; report.json resources.layers has every layer's cores")]
        if plan.chips > 1:
            return [diag("SNC640", None, f"{need}; spikes between chips cross chip-to-chip links",
                         "see report.json resources.layers for the per-layer cores and chips", severity="warning")]
        return []

    return Rule("loihi-chip-budget", check, "the network fits the chip budget (warned past one chip)")


def loihi_rules(max_chips: int = 8) -> tuple[Rule, ...]:
    return (
        supported_ops_rule(LOIHI_CAPABILITIES, "loihi"),
        Rule("loihi-quantized", _lowered, "every population is a fixed-point LoihiLIF"),
        Rule("loihi-weights", _weights, "even integer weights in range, no all-zero synapse"),
        Rule("loihi-parameters", _parameters, "thresholds, decays, biases, delays and |A| within Lava's ranges"),
        Rule("loihi-chain", _chain, "every dense netx layer is fed by its predecessor"),
        chip_budget(max_chips),
    )
