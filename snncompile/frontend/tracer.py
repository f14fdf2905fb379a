"""torch.fx tracing of a PyTorch SNN into the IR: neurons, norms and known layers are leaves."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import torch
from torch import fx, nn

from snncompile import ir
from snncompile.errors import CompileError, error
from snncompile.frontend import snn_nn, torch_nn  # noqa: F401  (registers the converter tables)
from snncompile.frontend.converters import ConvertContext, find_converter, has_converter
from snncompile.frontend.torch_nn import flatten_from, sequential

_ADDS = (operator.add, operator.iadd, torch.add)
_FLATTENS = (torch.flatten,)


class SNNTracer(fx.Tracer):
    """Stops at every module the converter table knows, and at every other torch.nn layer (which then
    fails conversion with a diagnostic); walks into plain Sequential containers and user modules."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if isinstance(m, nn.Sequential) and find_converter(m) is sequential:
            return False  # Sequential or a subclass without its own converter: trace its forward()
        return has_converter(m) or super().is_leaf_module(m, module_qualified_name)


def trace(model: nn.Module, input_shape: Sequence[int] | None = None,
          timesteps: int | None = None) -> ir.Graph:
    """Trace `model` (taking [T, B, *input_shape]) into a verified IR graph.

    input_shape and timesteps default to the model's `input_shape` / `timesteps` attributes."""
    shape = input_shape if input_shape is not None else getattr(model, "input_shape", None)
    if shape is None:
        raise error("SNC105", f"the per-sample input shape of {type(model).__name__} is unknown",
                    hint="pass input_shape=(C, H, W) (CLI: --input-shape C,H,W) or set model.input_shape")
    steps = timesteps if timesteps is not None else getattr(model, "timesteps", None)
    model = model.eval()
    try:
        fx_graph = SNNTracer().trace(model)
    except CompileError:
        raise
    except Exception as exc:  # fx raises many types for untraceable Python
        raise error("SNC107", f"torch.fx could not trace {type(model).__name__}: {exc}",
                    hint="data-dependent control flow cannot be traced; move it into a module with a "
                         "registered converter") from None
    graph = _convert(fx_graph, model, tuple(int(s) for s in shape))
    meta = {"timesteps": int(steps)} if steps is not None else {}
    result = ir.Graph(tuple(graph.nodes), graph.outputs, meta)
    ir.verify_or_raise(result)
    return result


def _origin(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    owner = next(reversed(stack.values()))[0] if stack else ""
    where = f"{owner}." if owner else ""
    return f"{where}{node.name}"


def _convert(fx_graph: fx.Graph, model: nn.Module, input_shape: tuple[int, ...]) -> ir.Graph:
    ctx = ConvertContext()
    names: dict[fx.Node, str] = {}
    outputs: list[str] = []
    modules = dict(model.named_modules())
    for node in fx_graph.nodes:
        if node.op == "placeholder":
            names[node] = ctx.add(ir.Input, [], "input", name="input", shape=input_shape)
        elif node.op == "call_module":
            ins = _tensor_args(node, names)
            names[node] = ctx.convert(modules[node.target], str(node.target), ins)
        elif node.op in ("call_function", "call_method"):
            names[node] = _convert_function(ctx, node, names)
        elif node.op == "output":
            outputs = _tensor_args(node, names)
        else:
            raise error("SNC101", f"`{node.op} {node.target}` reads a tensor attribute in forward()",
                        origin=_origin(node), hint="wrap parameters in a module with a converter")
    return ir.Graph(tuple(ctx.nodes), tuple(outputs))


def _flat_args(args: Any) -> list[Any]:
    if isinstance(args, (tuple, list)):
        return [a for x in args for a in _flat_args(x)]
    return [args]


def _tensor_args(node: fx.Node, names: dict[fx.Node, str]) -> list[str]:
    args = _flat_args(node.args) + _flat_args(list(node.kwargs.values()))
    bad = [a for a in args if not isinstance(a, fx.Node) and a is not None]
    if bad and node.op in ("call_module", "output"):
        raise error("SNC101", f"`{node.target}` is called with non-tensor arguments {bad}",
                    origin=_origin(node), hint="modules must take and return tensors only")
    return [names[a] for a in args if isinstance(a, fx.Node)]


def _convert_function(ctx: ConvertContext, node: fx.Node, names: dict[fx.Node, str]) -> str:
    target, origin = node.target, _origin(node)
    if target in _ADDS and len(node.args) == 2 and not node.kwargs \
            and all(isinstance(a, fx.Node) for a in node.args):
        return ctx.add(ir.Add, [names[a] for a in node.args], origin)  # type: ignore[index]
    if target in _FLATTENS or target == "flatten":
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
        end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
        return flatten_from(ctx, origin, [names[node.args[0]]], int(start), int(end))  # type: ignore[index]
    what = getattr(target, "__name__", str(target))
    raise error("SNC101", f"`{what}` ({node.op}) is not supported in a traced SNN", origin=origin,
                hint="supported between modules: residual `a + b` of two tensors and flatten of all "
                     "feature axes; put other computation in a module and register a converter")
