"""torch.fx tracing of a PyTorch SNN into the IR: neurons, norms and known layers are leaves."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import torch
from torch import fx, nn

from snncompile import ir, validate
from snncompile.errors import CompileError, error
from snncompile.frontend.pytorch import snn_nn, torch_nn  # noqa: F401  (registers the converter tables)
from snncompile.frontend.pytorch.converters import (
    ConvertContext,
    UnusedOutput,
    has_converter,
    load_extensions,
    lookup,
    select_output,
)
from snncompile.frontend.pytorch.eager import trace_eager
from snncompile.frontend.pytorch.torch_nn import flatten_from, sequential

_ADDS = (operator.add, operator.iadd, torch.add)
_FLATTENS = (torch.flatten,)


class SNNTracer(fx.Tracer):
    """Stops at every module the converter table knows, and at every other torch.nn layer (which then
    fails conversion with a diagnostic); walks into plain Sequential containers and user modules. Remembers
    the innermost module being traced when tracing fails, and whether a failed branch read only shapes."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.failed_in: str | None = None
        self.shape_branch: bool | None = None

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if isinstance(m, nn.Sequential) and _walked_sequential(m):
            return False  # Sequential or a subclass without its own converter: trace its forward()
        return has_converter(m) or super().is_leaf_module(m, module_qualified_name)

    def call_module(self, m: nn.Module, forward: Any, args: Any, kwargs: Any) -> Any:
        self.stack.append(self.path_of_module(m) if m is not self.root else "")
        try:
            result = super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_in is None:
                self.failed_in = self.stack[-1]
            raise
        self.stack.pop()
        return result

    def to_bool(self, obj: fx.Proxy) -> bool:
        self.shape_branch = not _reads_data(obj.node)
        if self.failed_in is None and self.stack:
            self.failed_in = self.stack[-1]
        return super().to_bool(obj)

    def iter(self, obj: fx.Proxy) -> Any:
        self.shape_branch = not _reads_data(obj.node)
        return super().iter(obj)


_SHAPE_METHODS = {"size", "dim", "numel", "ndimension"}


def _reads_data(node: fx.Node) -> bool:
    """Whether `node`'s value depends on tensor values, not only on tensor shapes (x.shape, x.size(), len(x))."""
    seen: set[fx.Node] = set()
    todo = [node]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        if (n.op == "call_function" and n.target is getattr and len(n.args) > 1 and n.args[1] in ("shape", "ndim")) \
                or (n.op == "call_method" and n.target in _SHAPE_METHODS) \
                or (n.op == "call_function" and n.target is len):
            continue
        if n.op in ("placeholder", "call_module", "get_attr"):
            return True
        todo.extend(n.all_input_nodes)
    return False


def _fx_trace(module: nn.Module, what: str, prefix: str = "") -> fx.Graph:
    """torch.fx trace of `module`; SNC107 naming the innermost module whose forward() failed and why."""
    tracer = SNNTracer()
    try:
        return tracer.trace(module)
    except CompileError:
        raise
    except Exception as exc:  # fx raises many types for untraceable Python
        inner = ".".join(p for p in (prefix, tracer.failed_in or "") if p)
        where = f" in `{inner}` ({type(module.get_submodule(tracer.failed_in)).__name__})" \
            if tracer.failed_in else ""
        if tracer.shape_branch is True:
            why = "control flow on a tensor's shape (x.shape / x.size() / len(x))"
            hint = ("the compiled graph has fixed shapes: replace the branch on the shape by the value it has for "
                    "input_shape, or compute it in __init__")
        elif tracer.shape_branch is False:
            why = "control flow on tensor values (data-dependent)"
            hint = ("a branch or loop on tensor values cannot be compiled into a static graph; move it into a "
                    "module with a registered converter (snncompile.register_converter)")
        else:
            why = "Python that torch.fx cannot trace"
            hint = ("see the message; move the untraceable code into a module with a registered converter "
                    "(snncompile.register_converter)")
        raise error("SNC107", f"torch.fx could not trace {what}{where}: {why}: {str(exc).splitlines()[0]}",
                    origin=inner or None, hint=hint) from None


def trace(model: nn.Module, input_shape: Sequence[int] | None = None,
          timesteps: int | None = None, layout: str | None = None) -> ir.Graph:
    """Trace `model` (taking [T, B, *input_shape]) into a verified IR graph.

    input_shape and timesteps default to the model's `input_shape` / `timesteps` attributes. `layout` names
    the input layout of the model's forward() (a key of eager.LAYOUTS: "tb", "time_last", "merged",
    "repeat"); given, or recognized from the papers' modules, the model is traced eagerly in that layout
    (frontend/pytorch/eager.py) and the graph's metadata records it as `input_layout`."""
    shape = input_shape if input_shape is not None else getattr(model, "input_shape", None)
    if shape is None:
        raise error("SNC105", f"the per-sample input shape of {type(model).__name__} is unknown",
                    hint="pass input_shape=(C, H, W) (CLI: --input-shape C,H,W) or set model.input_shape")
    shape = validate.input_shape(shape, "input_shape" if input_shape is not None else "model.input_shape")
    steps = timesteps if timesteps is not None else getattr(model, "timesteps", None)
    if steps is not None:
        steps = validate.timesteps(steps, "timesteps" if timesteps is not None else "model.timesteps")
    load_extensions()  # converters of the SNN libraries the model may be built from
    model = model.eval()
    hint = layout_hint(model) if layout is None else None
    if layout is not None or hint is not None:
        layout = layout or hint[0]  # type: ignore[index]
        steps = steps if steps is not None else (hint[1] if hint is not None else None)
        if steps is None:
            raise error("SNC112", "the number of timesteps is needed to trace a model in its own layout",
                        hint="pass timesteps=T (CLI: --timesteps T)")
        return trace_eager(model, tuple(int(s) for s in shape), int(steps), layout).graph
    if has_converter(model) and not _walked_sequential(model):  # e.g. a time-loop container
        graph = _convert_root(model, tuple(int(s) for s in shape))
    else:
        fx_graph = _fx_trace(model, type(model).__name__)
        graph = _convert(fx_graph, model, tuple(int(s) for s in shape))
    if all(isinstance(n, (ir.Input, ir.Identity)) for n in graph.nodes):
        raise error("SNC110", f"{type(model).__name__} has no layers: its output is its input",
                    hint="an empty nn.Sequential() (or only Identity / Dropout) compiles to nothing; "
                         "check that the checkpoint holds the trained network")
    meta = {"timesteps": int(steps)} if steps is not None else {}
    result = ir.Graph(tuple(graph.nodes), graph.outputs, meta)
    ir.verify_or_raise(result)
    return result


def layout_hint(model: nn.Module) -> tuple[str, int] | None:
    from snncompile.frontend.papers import layout_hint as papers_hint

    return papers_hint(model)


def _walked_sequential(m: nn.Module) -> bool:
    """A Sequential (or a subclass, with or without its own forward) that uses the plain Sequential
    converter: the tracer walks its forward() instead of chaining its children."""
    found = lookup(m)
    return found is not None and found.converter is sequential


def _origin(node: fx.Node, prefix: str = "") -> str:
    stack = node.meta.get("nn_module_stack") or {}
    owner = next(reversed(stack.values()))[0] if stack else ""
    owner = ".".join(p for p in (prefix, owner) if p)
    where = f"{owner}." if owner else ""
    return f"{where}{node.name}"


def _convert(fx_graph: fx.Graph, model: nn.Module, input_shape: tuple[int, ...]) -> ir.Graph:
    ctx = ConvertContext()
    names: dict[fx.Node, Any] = {}  # IR names, tuples of them (multi-output modules), UnusedOutput
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


def _convert_root(model: nn.Module, input_shape: tuple[int, ...]) -> ir.Graph:
    """A model that is itself a module with a converter (fx never treats the root as a leaf)."""
    ctx = ConvertContext()
    out = ctx.convert(model, "", [ctx.add(ir.Input, [], "input", name="input", shape=input_shape)])
    if not isinstance(out, str):
        raise error("SNC101", f"{type(model).__name__} returns several values; the graph output must be a tensor",
                    hint="wrap it in a module whose forward() returns the spike output")
    return ir.Graph(tuple(ctx.nodes), (out,))


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
    return [_value(names, a, node) for a in args if isinstance(a, fx.Node)]


def _value(names: dict[fx.Node, Any], arg: fx.Node, user: fx.Node) -> str:
    """The IR name of `arg` as a tensor operand of `user`; a neuron state or a whole tuple is refused."""
    value = names[arg]
    if isinstance(value, UnusedOutput):
        raise error("SNC101", value.message, origin=_origin(user),
                    hint="compile the spike output; keep membrane/state read-outs out of the traced forward()")
    if isinstance(value, tuple):
        raise error("SNC101", f"`{user.target}` receives the whole tuple returned by `{arg.target}`",
                    origin=_origin(user), hint="index the module's result, e.g. `spikes, _ = module(x)`")
    return value


def _convert_function(ctx: ConvertContext, node: fx.Node, names: dict[fx.Node, Any],
                      prefix: str = "") -> Any:
    target, origin = node.target, _origin(node, prefix)
    if target is operator.getitem and isinstance(node.args[0], fx.Node) \
            and isinstance(names[node.args[0]], tuple):
        return select_output(names[node.args[0]], node.args[1], origin)
    if target in _ADDS and len(node.args) == 2 and not node.kwargs \
            and all(isinstance(a, fx.Node) for a in node.args):
        return ctx.add(ir.Add, [_value(names, a, node) for a in node.args], origin)  # type: ignore[arg-type]
    if target in _FLATTENS or target == "flatten":
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
        end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
        operand = _value(names, node.args[0], node)  # type: ignore[arg-type]
        return flatten_from(ctx, origin, [operand], int(start), int(end))  # type: ignore[arg-type]
    what = getattr(target, "__name__", str(target))
    raise error("SNC101", f"`{what}` ({node.op}) is not supported in a traced SNN", origin=origin,
                hint="supported between modules: residual `a + b` of two tensors and flatten of all "
                     "feature axes; put other computation in a module and register a converter")


def convert_submodule(ctx: ConvertContext, module: nn.Module, path: str, inputs: list[str]) -> Any:
    """Convert `module` (called at `path` on the tensors named `inputs`) into ctx: through its converter,
    or by tracing its forward(). Used by the time-loop containers of the SNN-library extensions, whose
    bodies are whole per-step networks. Returns a name, or a tuple of names for several outputs."""
    if has_converter(module) and not _walked_sequential(module):
        return ctx.convert(module, path, inputs)
    fx_graph = _fx_trace(module, f"`{path}` ({type(module).__name__})", path)
    modules = dict(module.named_modules())
    names: dict[fx.Node, Any] = {}
    bound = iter(inputs)
    for node in fx_graph.nodes:
        if node.op == "placeholder":
            names[node] = next(bound, UnusedOutput(f"`{path}` reads its argument `{node.target}`, which "
                                                   "the compiled network does not provide"))
        elif node.op == "call_module":
            names[node] = ctx.convert(modules[node.target], f"{path}.{node.target}", _tensor_args(node, names))
        elif node.op in ("call_function", "call_method"):
            names[node] = _convert_function(ctx, node, names, prefix=path)
        elif node.op == "output":
            result = _flat_args(node.args)
            if len(result) == 1 and isinstance(result[0], fx.Node) and isinstance(names[result[0]], tuple):
                return names[result[0]]  # passes on a multi-output module's result (spikes, states...)
            outputs = _tensor_args(node, names)
            return outputs[0] if len(outputs) == 1 else tuple(outputs)
        else:
            raise error("SNC101", f"`{node.op} {node.target}` reads a tensor attribute in forward()",
                        origin=_origin(node, path), hint="wrap parameters in a module with a converter")
    raise error("SNC101", f"`{path}` returns nothing", origin=path, hint="its forward() must return the spike tensor")
