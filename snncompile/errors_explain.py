"""What every diagnostic code means and what to do about it: `snncompile --explain SNCnnn`, docs/DIAGNOSTICS.md.

One table, keyed like errors.CODES (whose short titles it reuses). The `action` is also the hint shown for a
diagnostic whose raise site gives none (errors.Diagnostic.render).
"""

from __future__ import annotations

from dataclasses import dataclass

from snncompile.errors import CODES, USAGE_CODES


@dataclass(frozen=True)
class Explanation:
    """A code's title (errors.CODES), what it means, and what to do."""

    code: str
    title: str
    meaning: str
    action: str

    @property
    def exit_code(self) -> int:
        return 2 if self.code in USAGE_CODES else 1


_TEXT: dict[str, tuple[str, str]] = {
    # 1xx: loading and tracing the source model
    "SNC100": ("The model contains a module that has no converter into the IR.",
               "Replace it by a supported layer (see docs/CONVERTERS.md) or register a converter with "
               "snncompile.register_converter."),
    "SNC101": ("forward() calls a function or method between modules that the tracer cannot turn into IR ops "
               "(only residual `a + b` and flatten are understood).",
               "Move the computation into a module and register a converter for it."),
    "SNC102": ("A supported layer is used with an option the compiler cannot reproduce exactly (e.g. dilation, "
               "groups, an unusual padding mode).",
               "Retrain without that option, or register a converter that handles it."),
    "SNC103": ("The pickled checkpoint names classes outside the safe-loading allowlist; unpickling them would "
               "run code from the file.",
               "If you trust the file pass --trust-pickle; safer: save model.state_dict() and pass --factory "
               "pkg.module:fn."),
    "SNC104": ("The checkpoint could not be loaded: it is truncated or of another format, it holds a state_dict "
               "rather than a module, or it refers to a module that is not importable.",
               "Pass a file written by torch.save(model); for a state_dict pass --factory; for a missing module "
               "put its package on PYTHONPATH."),
    "SNC105": ("The per-sample input shape (or the number of timesteps) is needed and neither the call nor "
               "the model gives it.",
               "Pass --input-shape C,H,W and --timesteps T, or set model.input_shape / model.timesteps."),
    "SNC106": ("The --factory module could not be imported (or raised while importing), the function is "
               "missing or not callable, it failed, or its model does not fit the state_dict.",
               "Check `python -c 'import pkg.module'` and that the function builds the saved architecture."),
    "SNC107": ("torch.fx could not trace a forward(): it branches on tensor values (data-dependent) or on "
               "tensor shapes, or uses Python fx cannot follow. The message names the innermost module.",
               "For shape branches, use the fixed value for input_shape; for value branches, move the code "
               "into a module with a registered converter."),
    "SNC108": ("The model path does not exist, is a directory, or is not readable (a usage error, exit 2).",
               "Check the path and its permissions."),
    "SNC109": ("input_shape is not a non-empty sequence of positive integers, or timesteps is not an "
               "integer >= 1 (model.timesteps = 0 included).",
               "Pass e.g. --input-shape 1,8,8 and --timesteps 4, or fix the model's attributes."),
    "SNC110": ("The model has no layers: its traced graph maps the input straight to the output (an empty "
               "nn.Sequential(), or only Identity / Dropout).",
               "Check that the checkpoint holds the trained network."),
    # 2xx: IR verification and data
    "SNC111": ("A converter module given with --converters or the snncompile.converters entry point could not be "
               "imported.", "Check the module name and that its package is on the Python path."),
    "SNC112": ("The model's forward() applies a tensor operation on the time or batch axes that the eager tracer "
               "does not recognise as a layout change (repeat, merge [T*B], time-last).",
               "Pass --layout to state the input layout, or move the operation into a module with a converter."),
    "SNC113": ("A module's class subclasses a class that has a converter but overrides forward() (or another method "
               "that defines what it computes), so the base class's converter would compile something else.",
               "Register a converter for the subclass, or declare it equivalent: "
               "register_converter(Sub, equivalent_to=Base) (docs/CONVERTERS.md)."),
    "SNC200": ("The IR graph failed verification.", "Report it with the IR dump (--print-ir-after all)."),
    "SNC201": ("Two IR nodes have the same name.", "Give nodes unique names when building graphs by hand."),
    "SNC202": ("An edge reads a node that does not exist.", "Fix the edge's source name in the hand-built graph."),
    "SNC203": ("A zero-delay cycle, or nodes listed out of topological order.",
               "Break the cycle with a delayed edge (recurrence needs delay >= 1) or sort the nodes."),
    "SNC204": ("Shapes do not fit: an op's operands, or input data against the graph's input shape.",
               "Give data as [T, B, *input_shape]; check the layer sizes."),
    "SNC205": ("A parameter is invalid (negative delay, NaN / inf weights or thresholds, a malformed node), or "
               "the input data is missing.",
               "Check the checkpoint's parameters for NaN / inf (torch.isfinite) and the node named."),
    "SNC206": ("The graph has no outputs, an unknown output, no input, or a readout feeding other nodes.",
               "The network must end in its output layer (a readout only at the end)."),
    "SNC207": ("An input array (simulate --input) is unreadable, not numeric (text, objects, bytes), empty, or "
               "holds NaN / inf; the message names the first bad index.",
               "Write a finite numeric array with numpy.save; clean NaN / inf first."),
    # 3xx: pass contracts
    "SNC300": ("A pass's precondition does not hold on its input graph (e.g. a norm not yet folded).",
               "Run the passes the message names first; with a target's pipeline this is a bug to report."),
    "SNC301": ("A pass's postcondition does not hold on its output graph.",
               "Report it with --print-ir-after all."),
    # 4xx: requests, targets, output
    "SNC400": ("The target name is not registered (a usage error, exit 2).", "See --list-targets."),
    "SNC401": ("A pass name (--print-ir-after, a pipeline spec) names no registered pass (a usage error, "
               "exit 2).", "See --list-passes; `trace` and `all` are also accepted."),
    "SNC402": ("The output path cannot be used: an existing file or non-snncompile directory, the working "
               "directory itself, a path under a file, a directory without write permission, or an artifact "
               "directory without its files.",
               "Choose a new output directory you can write to (-o build/model)."),
    "SNC403": ("The compile check found that the compiled graph does not reproduce the model's spikes; "
               "nothing was written.",
               "Rerun with --print-ir-after all and report the first differing layer."),
    "SNC404": ("An option name or value is not valid for the target (a usage error, exit 2).",
               "See `snncompile compile --help` for the target's flags."),
    "SNC410": ("The graph contains an op the target cannot run.",
               "Pick a target that supports it (--list-targets) or change the layer."),
    "SNC420": ("A feature needs a package that is not a dependency of the plain install, only of an extra "
               "(onnxruntime: `snncompile[onnx]`, ray: `snncompile[ray]`, tonic: `snncompile[datasets]`), or a "
               "dependency is missing from the environment.",
               "Install what the hint names, e.g. pip install 'snncompile[onnx]'."),
    "SNC421": ("The Lava stage needs a separate Python 3.10 environment with Lava (lava-nc 0.10.0, lava-dl 0.6.0, "
               "h5py); none was found ($SNNCOMPILE_LAVA_PYTHON, .venv-lava in the working directory, or the "
               "environment `snncompile lava-setup` creates). With --lava it is an error; otherwise the stage is "
               "skipped with this code as a warning.",
               "Run `snncompile lava-setup`, or set SNNCOMPILE_LAVA_PYTHON; --no-lava skips the stage."),
    "SNC422": ("`snncompile lava-setup` could not create the Lava environment: no Python 3.10 interpreter, or "
               "pip failed to install lava-nc / lava-dl / h5py.",
               "Install Python 3.10 (or pass --python PATH to one), check pip's network access, and rerun."),
    # 5xx: folding and legalization
    "SNC500": ("A normalization has no exact fold target: no linear layer next to it can absorb its scale and "
               "offset (the message names your module).",
               "Put the norm directly after a conv/dense (or before one), or keep it on the host."),
    "SNC501": ("A norm with an offset sits before a zero-padded conv; folding would change the padding's value.",
               "Remove the conv's padding, use a norm without offset, or keep the norm on the host."),
    "SNC502": ("MPBN's soft reset subtracts one raw unit; a folded subtract-reset LIF subtracts its threshold.",
               "Train MPBN with hard reset (reset='zero'), or keep it unfolded."),
    "SNC503": ("A folded parameter is not finite (zero variance with eps = 0, or an overflow).",
               "Check the checkpoint's running statistics."),
    "SNC504": ("Folded thresholds are <= 0 (exact in float; unsigned targets reject them).",
               "Targets like Loihi will refuse these neurons; check γ and β of the MPBN layer."),
    "SNC520": ("A residual sum feeds a non-linear op (max-pool) instead of a neuron.",
               "Put a spiking neuron after the sum."),
    "SNC521": ("A residual sum is itself a graph output.", "End the network with a neuron or readout."),
    "SNC522": ("A residual connection joins populations whose rank has no one-to-one synapse.",
               "Residual sums are supported on rank-1 and rank-3 (C, H, W) populations."),
    "SNC523": ("A residual sum lies on a loop that passes no neuron.", "Every recurrent loop must pass a neuron."),
    "SNC530": ("Some LIF thresholds are <= 0, infinite or NaN.",
               "Check the checkpoint's thresholds (and folded MPBN statistics)."),
    "SNC531": ("Per-neuron threshold factors differ within one output channel of a shared conv kernel.",
               "Use per-channel thresholds, or allow the gain fallback of legalize-threshold."),
    # 6xx: Loihi
    "SNC600": ("A neuron population was not lowered to Loihi's fixed-point LIF.", "Report it (pipeline bug)."),
    "SNC601": ("A neuron's input is not a synapse reading a population or the input, which netx needs.",
               "Put a conv/dense between populations; no op between synapse and neuron."),
    "SNC602": ("Max-pooling of graded values; Loihi max-pools binary spikes only.",
               "Pool after a spiking layer, or use average pooling."),
    "SNC603": ("Loihi needs the number of timesteps (its reset schedule depends on it).",
               "Pass --timesteps or set model.timesteps."),
    "SNC604": ("An edge already carries an explicit delay, which the Loihi schedule cannot combine.",
               "Remove explicit delays from the model."),
    "SNC605": ("A synaptic delay exceeds Loihi's 62 extra steps.", "Use a shallower skip connection."),
    "SNC606": ("The readout does not read a linear map of spike counts.",
               "End with flatten/pool/dense into the readout."),
    "SNC607": ("A dense netx layer is not fed by the layer before it.", "Keep the layers a chain."),
    "SNC608": ("The network has no spiking neuron population, so there is nothing for Loihi to run.",
               "Compile a spiking network (with LIF layers), or use --target sim."),
    "SNC610": ("A neuron option Loihi cannot run: multi-level (MLF) neurons, subtractive or delayed reset, "
               "a synaptic current with bias.",
               "Retrain with a hard reset to zero and binary spikes, or run lower-mlf."),
    "SNC611": ("A non-strict threshold (>=) on a leaky neuron has no exact integer encoding.",
               "Allow the approximation with --loihi-allow non-strict-threshold, or use a strict threshold."),
    "SNC612": ("Thresholds or gains vary within a conv channel; netx shares them per layer.",
               "Use per-channel (or per-layer) thresholds."),
    "SNC613": ("A threshold is not positive, or no integer threshold fits the weight scale.",
               "Check the thresholds; reduce the weight range."),
    "SNC614": ("Every weight of a synapse quantizes to zero.",
               "Weights are tiny against the threshold: rescale the layer or raise the bit budget."),
    "SNC615": ("A decay is outside [0, 1] or differs across the layer.", "Use one decay per layer in [0, 1]."),
    "SNC616": ("Weights are not even integers in [-256, 254] after quantization.", "Report it (quantizer bug)."),
    "SNC617": ("A bias needs more than 13 bits.", "Reduce the bias range or rescale the layer."),
    "SNC618": ("The graph is already quantized for Loihi (an integer model read back).",
               "Compile the original model; run the integer model as it is with --target sim."),
    "SNC619": ("--loihi-allow names an unknown approximation.", "See --help for the accepted names."),
    "SNC620": ("Warning: a decay was rounded to the 12-bit register.", "Accept, or train with representable decays."),
    "SNC621": ("Warning: a decay register lies outside the documented hardware range.",
               "Accept for simulation; check on hardware."),
    "SNC622": ("Warning: the synaptic current may wrap at 24 bits.", "Use --loihi-overflow avoid or calibrate."),
    "SNC623": ("Warning: the voltage may saturate at 24 bits.", "Use --loihi-overflow avoid or calibrate."),
    "SNC625": ("The synaptic sum can exceed Lava's int32 arithmetic.", "Reduce weights or fan-in."),
    "SNC626": ("Warning: some layers have no exact integer form in Loihi's formats and were quantized "
               "approximately (each named with its first reason; the manifest lists every layer as exact or not).",
               "Accept it, try --loihi-scales calibrated with calibration data, or train with representable "
               "parameters (integer weights/thresholds, power-of-two decays)."),
    "SNC640": ("Warning: the resource plan places the network on more than one Loihi 2 chip (the message gives "
               "the cores and chips per layer's binding limit; docs/LOIHI.md, resource model).",
               "Accept it (multi-chip systems run it with inter-chip traffic), or shrink the widest layers."),
    "SNC641": ("The resource plan needs more chips than the chip budget (LoihiOptions.max_chips, default 8: one "
               "board).", "Raise --loihi-max-chips if your system has more chips, or shrink the network."),
    # 7xx: SNN libraries
    "SNC700": ("An SNN-library module (spikingjelly, snntorch, norse) has no converter.",
               "Use a supported module (docs/CONVERTERS.md)."),
    "SNC701": ("An SNN-library module's setting cannot be reproduced exactly.",
               "Change the setting as the hint says, or keep that layer on the host."),
    "SNC703": ("A module whose class name matches one of the papers' modules (MPBN, MLF-DSResNet, STBP-tdBN) has "
               "different attributes or computes something else on a probe input, so its converter does not apply.",
               "Rename the class if it is unrelated, or register your own converter (docs/CONVERTERS.md, "
               "docs/PAPERS.md)."),
    "SNC704": ("A papers' module is in a state that cannot be compiled: ANN mode, or a BatchNorm without running "
               "statistics (still using batch statistics).",
               "Put the model in eval mode with trained running statistics and SNN mode, then compile again."),
    "SNC702": ("An SNN-library module is used at the wrong time granularity (single- vs multi-step).",
               "Use step_mode='m' for whole sequences, or wrap per-step modules in their time loop."),
    # 8xx: NIR
    "SNC800": ("An op has no NIR equivalent.", "Export to another target, or lower the op first."),
    "SNC801": ("A reset kind or timing NIR cannot express.", "Use reset to zero, or opt in to the approximation."),
    "SNC802": ("A non-strict threshold (>=) NIR cannot express.", "Opt in with --nir-allow, or use >."),
    "SNC803": ("A decay with no NIR time constant.", "Use a leaky neuron with a finite time constant."),
    "SNC804": ("Graph structure NIR cannot express (repeated edges, gains that cannot move).",
               "Restructure the model, or export to another target."),
    "SNC805": ("Warning: an NIR export approximation you opted in to.", "None; it is recorded in the file."),
    "SNC806": ("An invalid NIR option (dt, convention, reset).", "See --help for the accepted values."),
    "SNC810": ("The .nir file could not be read.", "Write it with nir.write(path, graph)."),
    "SNC811": ("A NIR node type the reader does not support.", "Use the supported node types (docs/NIR.md)."),
    "SNC812": ("NIR parameters that the IR cannot represent.", "See the message for the parameter."),
    "SNC813": ("NIR graph structure not supported: no edges, no or several Input nodes, no Output, a cycle, "
               "a subgraph, or a node without input.",
               "Write a feed-forward graph with one Input and an Output."),
    "SNC814": ("Warning: the NIR file does not record dt; a default was assumed.", "Pass --nir-dt."),
    "SNC815": ("The compiled graph does not reproduce the NIR graph's own semantics.",
               "Check --nir-convention and --nir-dt."),
    # 9xx: verification and ONNX
    "SNC816": ("--nir-convention auto only trusts files whose metadata says snncompile wrote them; this file's "
               "writer (snntorch, spikingjelly, norse, plain NIR) cannot be identified with certainty.",
               "Pass --nir-convention nir|snntorch|spikingjelly|norse for the program that wrote the file."),
    "SNC817": ("Warning: the NIR file cannot record its reset; the reading convention's default reset was "
               "assumed (snntorch: subtract-delayed, its Leaky default).",
               "Pass --nir-reset to state the reset the writing model really used."),
    "SNC900": ("A verification stage that must be exact disagrees with the previous one.",
               "Look at the first divergence in the report."),
    "SNC901": ("The compiled accuracy is below the reference by more than the tolerance.",
               "Inspect the per-layer quantization error; raise --tolerance if acceptable."),
    "SNC902": ("Verification or calibration data could not be read or does not fit: not an .npz, no `x`, "
               "wrong shape, not numeric, NaN / inf, zero samples, labels not integer or outside the classes.",
               "Write numpy.savez(path, x=images, y=labels) with finite numbers and labels in 0..classes-1."),
    "SNC903": ("The Lava stage failed, timed out (its processes are stopped), or is unavailable.",
               "Run fewer samples (--lava-samples), skip it (--no-lava), or create the environment "
               "(snncompile lava-setup)."),
    "SNC904": ("verify could not compare some neuron layers of the model (a module not called, called a different "
               "number of times than it has IR nodes, or returning another shape).",
               "Read the per-layer reasons in the report; register a converter or pass --layout for the model's "
               "input layout."),
    "SNC905": ("The readout of a stage that must be exact differs from the reference by more than float rounding.",
               "Report it with the model: an exact stage must reproduce the readout."),
    "SNC906": ("verify OUT_DIR recompiled the artifact from its report.json record and got different files, or the "
               "record is incomplete (model file changed, calibration given as an in-memory array).",
               "Compile again with snncompile compile -o OUT_DIR, then verify that directory."),
    "SNC910": ("--data (or the Python `data`) is not `digits`, `random`, an existing .npz file or directory, "
               "`module:function`, `file.py:function` or `tonic:NAME`: a typo, a missing file, or a tonic name "
               "that tonic does not have.",
               "Check the path; see docs/DATA.md for every kind of data source."),
    "SNC911": ("A batch read from the data source is not a real numeric array of the model's input: images "
               "[B, *input_shape] or frames [T, B, *input_shape] (a DataLoader: [B, T, ...]), with finite values; "
               "or an item is not (x, y) or x; or the source yielded nothing.",
               "Make the Dataset or DataLoader return (inputs, labels) with the model's per-sample shape and T."),
    "SNC912": ("Some batches carry labels and others do not, or labels are not integer classes in "
               "0..classes-1, one per sample.",
               "Give integer labels for every sample (or for none: accuracy is then not computed)."),
    "SNC913": ("The module of --data module:function could not be imported, the function is missing, raised, "
               "or returned something that is neither a Dataset, a DataLoader, arrays nor an iterable of batches.",
               "Check `python -c 'import module'` from the working directory (or name the file: file.py:function); "
               "the function takes no arguments."),
    "SNC914": ("The tonic dataset is not under --data-root in tonic's own layout (snncompile never downloads), "
               "or --data-root is missing.",
               "Extract the dataset's test split under ROOT as docs/DATA.md shows (e.g. ROOT/NMNIST/Test/<digit>/"
               "*.bin) and pass --data-root ROOT."),
    "SNC915": ("The tonic dataset's frames [P, H, W] (from its sensor size W x H x P) do not fit the model's input: "
               "the polarities differ, or H and W are not the model's times one integer factor.",
               "Use a model whose input is [P, H/f, W/f], or a module:function data source with your own transform."),
    "SNC916": ("The data source needs an optional library (tonic for tonic:NAME, aedat for CIFAR10DVS) that is "
               "not installed.",
               "pip install 'snncompile[datasets]' (see docs/DATA.md)."),
    "SNC917": ("The data is an iterator (a generator) that was already read, by calibration on the scored samples "
               "or by an earlier verify of a sweep.",
               "Pass a list, a Dataset or a DataLoader (iterable again), or a module:function that builds new data."),
    "SNC918": ("The .npz holds `x` as compressed frames [T, N, ...] larger than 1 GiB: a compressed member cannot "
               "be memory-mapped, and frames cannot be streamed by sample.",
               "Save it with numpy.savez (uncompressed: memory-mapped), or as images [N, ...], or as a directory "
               "with x.npy."),
    "SNC920": ("`snncompile simulate` names its outputs after the traced model's layers, which the compile records "
               "in report.json (key `simulate`); this artifact's report has no such record.",
               "Compile the model again with this version, then simulate the new artifact."),
    "SNC950": ("An op or edge has no ONNX step form.", "Export to another target, or change the layer."),
    "SNC951": ("An ONNX operator the reader does not support.", "Export from snncompile or a supported pattern."),
    "SNC952": ("The ONNX file is unreadable or not an snncompile step model (e.g. its metadata is not JSON).",
               "Export the model again with snncompile --target onnx."),
    "SNC970": ("verify --workers must be at least 1, and --workers N > 1 together with --ray only sizes a local Ray "
               "instance (--ray local); on an existing cluster Ray places the shards on its CPUs itself.",
               "Pass --workers N for local processes, or --ray ADDRESS|auto alone, or --ray local --workers N."),
    "SNC972": ("verify --ray could not connect to the Ray cluster at the given address (or start a local one): no "
               "running head node there, a wrong address, or a Ray version different from the cluster's.",
               "Start the cluster (ray start --head), check the address (host:6379, ray://host:10001, or auto with "
               "RAY_ADDRESS set), or use local worker processes: --workers N."),
    "SNC973": ("The verification stages (the PyTorch model and the compiled graphs) could not be pickled for the "
               "worker processes, or a worker could not unpickle them: usually a model class defined in __main__ "
               "or in a file that is not importable from the workers (on a Ray cluster: snncompile or the model's "
               "package is not installed on every node).",
               "Define the model's classes in an importable module, install them on the workers, or verify in one "
               "process: --workers 1."),
    "SNC974": ("A verification worker process (or a Ray worker or node) died before returning its shard, most "
               "often killed for memory: every worker holds the model, the graphs and one chunk of samples.",
               "Use fewer workers, a smaller --batch, or --workers 1."),
    "SNC975": ("Worker processes are spawned (a fresh interpreter that imports the main script again); a script that "
               "calls verify(workers=N) at import time would start workers from every worker.",
               "Put the script's work under `if __name__ == \"__main__\":`."),
    "SNC960": ("--device cuda (or device=\"cuda\") was given, but this torch build sees no CUDA GPU.",
               "Use --device cpu (the default; same results bit for bit for the bit-exact simulator), or run on a "
               "machine with a GPU and a CUDA build of torch."),
    "SNC961": ("The simulator device is neither cpu nor cuda.", "Pass device=\"cpu\" or device=\"cuda\"."),
}

EXPLANATIONS: dict[str, Explanation] = {
    code: Explanation(code, CODES[code], *_TEXT[code]) for code in CODES if code in _TEXT
}


def explain(code: str) -> str:
    """The text of `snncompile --explain CODE` (KeyError for an unknown code)."""
    e = EXPLANATIONS[code.strip().upper()]
    kind = "usage error (exit 2)" if e.exit_code == 2 else "error or warning (exit 1 when an error)"
    return f"{e.code}: {e.title}\n  kind: {kind}\n  meaning: {e.meaning}\n  what to do: {e.action}"


def default_hint(code: str) -> str | None:
    """The action for `code`, used as the hint of a diagnostic raised without one."""
    e = EXPLANATIONS.get(code)
    return None if e is None else e.action


def markdown() -> str:
    """docs/DIAGNOSTICS.md (regenerate with `python -m snncompile.errors_explain > docs/DIAGNOSTICS.md`)."""
    lines = ["# Diagnostic codes", "",
             "Generated from snncompile/errors_explain.py (`python -m snncompile.errors_explain > "
             "docs/DIAGNOSTICS.md`); `snncompile --explain CODE` prints one entry.", "",
             "Exit codes: 0 success, 1 a problem with the model or data (any error below), 2 a usage error "
             f"({', '.join(sorted(USAGE_CODES))}, and click's own usage errors), 3 an internal error (a bug), "
             "130 interrupted by SIGINT, 143 stopped by SIGTERM. Warnings do not change the exit code.", ""]
    for e in sorted(EXPLANATIONS.values(), key=lambda e: e.code):
        lines += [f"## {e.code}: {e.title}", "", e.meaning, "", f"What to do: {e.action}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")
