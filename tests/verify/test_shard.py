"""verify --workers / --ray: the same spikes and report as one process, on a shipped example and a broken compile."""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from helpers.broken_fold import break_fold_norm, flip_first_conv_channel
from helpers.fake_stages import LAYERS, Exits, Refuses, fake_data, frames
from torch import nn

from snncompile.cli import cli
from snncompile.errors import CompileError
from snncompile.verification import data as verify_data
from snncompile.verification import shard as shard_module
from snncompile.verification import verify
from snncompile.verification.core import VerifyReport
from snncompile.verification.shard import Processes, Shard, executor_for, run_sharded
from snncompile.verification.stages import Stage

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "models"

SAMPLES, BATCH = 48, 16
"""Three shards of the digits test split: enough to put every shard boundary and the merge to work."""


def comparable(report: VerifyReport | dict[str, Any]) -> dict[str, Any]:
    """The JSON report without what may differ between runs of the same verification: timings and hosts."""
    data = dict(report.to_json() if isinstance(report, VerifyReport) else report)
    data.pop("seconds")
    data.pop("execution")
    return data


def spikes(report: VerifyReport) -> dict[str, Any]:
    """What verify keeps of the spikes: sample 0's raster and every neuron's spike count, per stage and layer."""
    stats = report.stats
    return {"rasters": {s: {k: v.tolist() for k, v in r.items()} for s, r in stats.rasters.items()},
            "counts": {s: {k: a.counts.tolist() for k, a in acts.items() if a.counts is not None}
                       for s, acts in stats.activity.items()}}


def _example(**kwargs: Any) -> VerifyReport:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(verify_data, "CALIBRATION_SAMPLES", 16)  # a faster compile
        return verify(EXAMPLES / "s2nn_mlp.pt", "loihi", "digits", samples=SAMPLES, batch=BATCH, lava=False,
                      **kwargs)


@pytest.fixture(autouse=True)
def workers_import_like_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spawned workers unpickle what pytest imported by module name (`tests.…` with --import-mode=importlib, and
    `helpers.…` from the tests folder): they get the repository and tests/ on their path, as pytest has."""
    root = Path(__file__).resolve().parents[2]
    paths = (str(root), str(root / "tests"), os.environ.get("PYTHONPATH"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))  # Ray workers read the environment
    monkeypatch.syspath_prepend(str(root))  # spawned processes start with the parent's sys.path


@pytest.fixture(scope="module")
def one() -> VerifyReport:
    """The single-process run the sharded ones must reproduce."""
    if not (EXAMPLES / "s2nn_mlp.pt").is_file():
        pytest.skip("examples/models/s2nn_mlp.pt is not there (examples/train_all.py writes it)")
    return _example()


def test_two_workers_give_the_spikes_and_report_of_one(one: VerifyReport) -> None:
    two = _example(workers=2)
    assert two.execution["executor"] == "processes" and two.execution["shards"] == SAMPLES // BATCH
    assert [s.name for s in two.stats.stages] == ["pytorch", "traced", "lowered", "bit-exact"]
    assert spikes(two) == spikes(one)
    assert comparable(two) == comparable(one)
    assert two.ok and two.stats.samples == SAMPLES


def test_a_local_ray_run_gives_the_spikes_and_report_of_one(one: VerifyReport, monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    ray = pytest.importorskip("ray")
    tests = str(Path(__file__).resolve().parents[1])  # the Ray workers import helpers.fake_stages from there
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (tests, os.environ.get("PYTHONPATH")) if p))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=80 << 20,
             logging_level="warning")
    try:
        address = ray.get_runtime_context().gcs_address
        on_ray = _example(ray=address)
        assert on_ray.execution["executor"] == "Ray tasks" and on_ray.execution["workers"] == 2
        assert spikes(on_ray) == spikes(one)
        assert comparable(on_ray) == comparable(one)
        stages: list[Stage] = [Refuses("ref", "raises a user error")]
        with pytest.raises(CompileError) as caught:  # an error inside a task arrives as the user error it is
            run_sharded(stages, LAYERS, fake_data(frames(4)), 2, False, executor_for(ray=address))
        assert caught.value.codes == ["SNC902"]
    finally:
        ray.shutdown()


def test_two_workers_find_the_first_divergence_of_one(small_model: nn.Module, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    break_fold_norm(monkeypatch, flip_first_conv_channel)  # the sign error of test_verify's broken fold
    one = verify(small_model, "sim", "random", batch=8)
    two = verify(small_model, "sim", "random", batch=8, workers=2)
    assert two.execution["shards"] == 4
    first = one.pair("traced", "lowered").first_divergence(one.layers)
    assert first is not None and not one.ok
    assert two.pair("traced", "lowered").first_divergence(two.layers) == first
    assert one.stats.head is not None and one.stats.head.shape[1] == 4  # the frames Lava would run on
    assert two.stats.head is not None and np.array_equal(two.stats.head, one.stats.head)
    assert [d.message for d in two.problems] == [d.message for d in one.problems]
    assert comparable(two) == comparable(one)


def test_workers_take_a_one_shot_generator_and_a_dataloader_read_by_the_calling_process(small_model: nn.Module
                                                                                       ) -> None:
    from torch.utils.data import DataLoader, TensorDataset

    rng = np.random.default_rng(3)
    x, y = rng.random((20, 1, 8, 8)).astype(np.float32), np.arange(20) % 10
    one = verify(small_model, "sim", (x, y), batch=6, lava=False)
    batches = ((x[i:i + 7], y[i:i + 7]) for i in range(0, 20, 7))  # length unknown, readable once
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=5)
    for data in (batches, loader):
        two = verify(small_model, "sim", data, batch=6, lava=False, workers=2)
        assert two.execution["shards"] == 4 and two.stats.samples == 20, type(data)
        assert spikes(two) == spikes(one)
        assert {k: v for k, v in comparable(two).items() if k != "data"} == \
            {k: v for k, v in comparable(one).items() if k != "data"}


def test_lava_runs_in_the_calling_process_on_frames_gathered_from_several_shards(small_model: nn.Module) -> None:
    from snncompile.verification.lava import lava_python

    if lava_python() is None:
        pytest.skip("no Lava environment (snncompile lava-setup)")
    one = verify(small_model, "loihi", "random", samples=8, batch=2, lava=True, lava_samples=3)
    two = verify(small_model, "loihi", "random", samples=8, batch=2, lava=True, lava_samples=3, workers=2)
    assert two.execution["shards"] == 4 and two.stats.head is not None and two.stats.head.shape[1] == 3
    lava = two.pair("bit-exact", "lava")
    assert lava is not None and lava.overall == 1.0 and two.stats.extra[-1][1] == 3
    assert comparable(two) == comparable(one)


def test_cli_workers_and_ray_options(one: VerifyReport, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(verify_data, "CALIBRATION_SAMPLES", 16)
    model = str(EXAMPLES / "s2nn_mlp.pt")
    args = ["verify", model, "--data", "digits", "--samples", str(SAMPLES), "--batch", str(BATCH), "--no-lava"]
    result = CliRunner().invoke(cli, [*args, "--workers", "2", "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert "ran 3 shards on 2 processes" in result.output
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["execution"]["workers"] == 2
    assert comparable(written) == comparable(json.loads(json.dumps(one.to_json())))
    result = CliRunner().invoke(cli, [*args, "--workers", "2", "--ray", "head:6379"])
    assert result.exit_code == 2 and "SNC970" in result.output
    result = CliRunner().invoke(cli, [*args, "--workers", "0"])
    assert result.exit_code == 2


def test_bad_worker_counts_and_ray_values_are_snc970() -> None:
    for workers, ray in ((0, None), (-1, None), (True, None), (2.5, None), (1, ""), (3, "auto")):
        with pytest.raises(CompileError) as caught:
            executor_for(workers, ray)  # type: ignore[arg-type]
        assert caught.value.codes == ["SNC970"] and caught.value.is_usage
    assert executor_for(1) is None and isinstance(executor_for(2), Processes)


def test_a_missing_ray_is_snc420_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(CompileError) as caught:
        executor_for(ray="auto")
    assert caught.value.codes == ["SNC420"] and "snncompile[ray]" in caught.value.diagnostics[0].effective_hint
    result = CliRunner().invoke(cli, ["verify", str(EXAMPLES / "s2nn_mlp.pt"), "--ray", "auto"])
    assert result.exit_code == 1 and "SNC420" in result.output and "Traceback" not in result.output


def test_an_unreachable_ray_cluster_is_snc972(monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("a Ray session is open in this process")

    def refuse(**_kwargs: Any) -> None:
        raise ConnectionError("Could not find any running Ray instance.")

    monkeypatch.setattr(ray, "init", refuse)
    executor = executor_for(ray="head.invalid:6379")
    with pytest.raises(CompileError) as caught:
        list(executor.run([], LAYERS, iter([])))  # type: ignore[union-attr]
    assert caught.value.codes == ["SNC972"] and "head.invalid:6379" in caught.value.diagnostics[0].message


def test_stages_that_cannot_be_pickled_are_snc973(tmp_path: Path) -> None:
    class Local(Stage):  # a class inside a function: pickle cannot name it
        pass

    with pytest.raises(CompileError) as caught:
        list(Processes(2).run([Local("x", "local class")], LAYERS, iter([])))
    assert caught.value.codes == ["SNC973"]
    (tmp_path / "bad.pickle").write_bytes(b"not a pickle")
    shard_module._WORKER["payload"] = str(tmp_path / "bad.pickle")  # what a worker finds when it cannot unpickle
    try:
        with pytest.raises(CompileError) as caught:
            shard_module._worker_shard(Shard(0, 1, frames(1), None))
        assert caught.value.codes == ["SNC973"] and "worker process could not unpickle" in str(caught.value)
    finally:
        shard_module._WORKER.clear()


def test_a_worker_that_dies_is_snc974() -> None:
    data = fake_data(frames(4))
    with pytest.raises(CompileError) as caught:
        run_sharded([Exits("dies", "os._exit")], LAYERS, data, 2, False, Processes(1))
    assert caught.value.codes == ["SNC974"]


def test_workers_started_from_a_worker_importing_the_script_are_snc975(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(multiprocessing.current_process(), "_inheriting", True, raising=False)
    with pytest.raises(CompileError) as caught:
        executor_for(2)
    assert caught.value.codes == ["SNC975"] and "__main__" in caught.value.diagnostics[0].effective_hint


def test_compile_errors_and_graphs_survive_pickling(small_model: nn.Module) -> None:
    from snncompile.errors import error
    from snncompile.frontend import trace

    err = pickle.loads(pickle.dumps(error("SNC902", "bad data", hint="fix it")))
    assert err.codes == ["SNC902"] and err.diagnostics[0].hint == "fix it"
    graph = trace(small_model)
    back = pickle.loads(pickle.dumps(graph))
    assert [n.name for n in back.nodes] == [n.name for n in graph.nodes] and dict(back.metadata) == dict(graph.metadata)
    assert back.shapes == graph.shapes
