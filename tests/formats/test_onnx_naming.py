"""targets/onnx/driver.py (copied verbatim into artifacts) keeps literals that must equal formats/onnx_naming.py."""

from __future__ import annotations

import ast
import inspect

from snncompile.formats import onnx_naming
from snncompile.targets.onnx import driver


def test_driver_input_prefix_is_the_formats() -> None:
    assert driver.INPUT_PREFIX == onnx_naming.INPUT_PREFIX


def test_driver_pairs_state_and_delay_lines_by_the_formats_names() -> None:
    inputs = [onnx_naming.INPUT_PREFIX + "in", onnx_naming.STATE_IN + "lif1", onnx_naming.DELAY_IN + "conv1"]
    outputs = ["lif1", onnx_naming.STATE_OUT + "lif1", onnx_naming.DELAY_OUT + "conv1"]
    assert driver.recurrent_pairs(inputs, outputs) == {
        onnx_naming.STATE_IN + "lif1": onnx_naming.STATE_OUT + "lif1",
        onnx_naming.DELAY_IN + "conv1": onnx_naming.DELAY_OUT + "conv1",
    }


def test_driver_averages_the_formats_readouts() -> None:
    readout_tests = [node for node in ast.walk(ast.parse(inspect.getsource(driver)))
                     if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                     and node.func.attr == "startswith" and isinstance(node.args[0], ast.Constant)]
    assert [call.args[0].value for call in readout_tests] == [onnx_naming.READOUT_PREFIX]  # type: ignore[attr-defined]
    assert onnx_naming.READOUT_WINDOW.startswith(onnx_naming.READOUT_PREFIX)
    assert onnx_naming.READOUT_MEAN.startswith(onnx_naming.READOUT_PREFIX)


def test_driver_imports_nothing_of_snncompile() -> None:
    tree = ast.parse(inspect.getsource(driver))
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module and not node.level}
    assert modules <= {"__future__", "argparse", "sys", "collections", "pathlib", "numpy", "onnx", "onnxruntime"}
