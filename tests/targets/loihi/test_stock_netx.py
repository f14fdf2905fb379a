"""Stock netx refuses an artifact it would run wrongly (skips, host readout), naming lava_runtime.py (issue 14.8)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from snncompile import ir
from snncompile.passes import PassContext
from snncompile.targets.loihi import LOIHI, testnets
from snncompile.targets.loihi.emit import emit_loihi
from snncompile.verification.lava import RUNTIME, lava_python

PYTHON = lava_python()
if PYTHON is None:
    pytest.skip("no Lava environment (SNNCOMPILE_LAVA_PYTHON or .venv-lava)", allow_module_level=True)

PROBE = """
import json, sys
sys.path.insert(0, {runtime_dir!r})
import lava_runtime
lava_runtime.install_torch_free_netx()
from lava.lib.dl import netx
result = {{}}
for name in {names!r}:
    path = {root!r} + "/" + name
    man = json.load(open(path + "/manifest.json"))
    try:
        net = netx.hdf5.Network(net_config=path + "/network.net")
        result[name] = {{"stock": "loaded", "layers": len(net.layers)}}
    except Exception as exc:
        result[name] = {{"stock": type(exc).__name__ + ": " + str(exc)}}
    net = netx.hdf5.Network(net_config=path + "/network.net", num_layers=man["netx"]["num_layers"])
    result[name]["runtime_layers"] = len(net.layers)
    result[name]["manifest_layers"] = len(man["layers"])
print(json.dumps(result))
"""


def _emit(name: str, root: Path) -> Path:
    graph = getattr(testnets, name)()
    (inp,) = graph.of_kind(ir.Input)
    x = np.random.default_rng(0).random((graph.timesteps, 3, *inp.shape))
    q = LOIHI.with_options(calibration=x).pipeline().run(graph, PassContext())[0]
    out = root / name
    out.mkdir()
    emit_loihi(q, out)
    return out


def test_stock_netx_refuses_skips_and_readouts_but_the_runtime_loads_the_chain(tmp_path: Path) -> None:
    names = ["residual_net", "dense_chain"]
    manifests = {n: json.loads((_emit(n, tmp_path) / "manifest.json").read_text()) for n in names}
    assert manifests["residual_net"]["skips"] and "refused" in manifests["residual_net"]["netx"]["stock_netx"]
    code = PROBE.format(runtime_dir=str(RUNTIME.parent), names=names, root=str(tmp_path))
    done = subprocess.run([str(PYTHON), "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for name in names:
        refused = bool(manifests[name]["skips"]) or manifests[name]["readout"] is not None
        if refused:
            assert "lava_runtime.py" in result[name]["stock"], result[name]
        else:
            assert result[name]["stock"] == "loaded"
        assert result[name]["runtime_layers"] == result[name]["manifest_layers"]
