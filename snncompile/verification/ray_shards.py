"""verify --ray ADDRESS: the shards as Ray tasks on an existing cluster (or a local instance); Ray is optional."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from snncompile.errors import CompileError, error
from snncompile.extras import require
from snncompile.verification.merge import Partial
from snncompile.verification.shard import Held, Shard, none_held, run_shard, unpicklable, window
from snncompile.verification.stages import Layer, Stage

LOCAL = "local"
"""--ray local: start a Ray instance on this machine for the run (and stop it after)."""


def ray_module() -> ModuleType:
    """The ray package, or SNC420 naming the extra that installs it."""
    return require("ray", feature="verify --ray (shards as Ray tasks; local worker processes: --workers N)")


def _ray_shard(payload: Any, shard: Shard) -> Partial:
    import torch

    torch.set_num_threads(1)  # one CPU per task, as the task asks of Ray
    stages, layers = payload
    return run_shard(stages, layers, shard)


@dataclass
class RayTasks:
    """Shards as Ray tasks of one CPU each. `address`: a cluster's address (host:port, ray://host:port), "auto"
    (RAY_ADDRESS, or the cluster started on this machine with `ray start`), or "local" (start an instance with
    `cpus` CPUs, all when None). A Ray session this process already holds (ray.init called before) is used as
    it is and left open."""

    address: str
    cpus: int | None = None
    name: str = "Ray tasks"
    workers: int = 0

    def _connect(self, ray: ModuleType) -> bool:
        """Connect (or start a local instance); True when this call did, so it must disconnect."""
        if ray.is_initialized():
            return False
        options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        try:
            if self.address == LOCAL:
                ray.init(num_cpus=self.cpus, include_dashboard=False, **options)
            else:
                ray.init(address=self.address, **options)
        except (ConnectionError, RuntimeError, ValueError, OSError) as exc:
            what = "start a local Ray instance" if self.address == LOCAL else \
                f"connect to the Ray cluster at {self.address!r}"
            first = (str(exc).splitlines() or [""])[0]
            raise error("SNC972", f"cannot {what}: {type(exc).__name__}: {first}",
                        hint="start the cluster (ray start --head) and pass its address (host:6379, "
                             "ray://host:10001, or auto), or run local worker processes: --workers N") from None
        return True

    def run(self, stages: list[Stage], layers: list[Layer], work: Iterator[Shard], held: Held = none_held
            ) -> Iterator[Partial]:
        ray = ray_module()
        owned = self._connect(ray)
        refs: list[Any] = []
        try:
            self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
            try:
                payload = ray.put((stages, layers))
            except Exception as exc:
                raise unpicklable(exc, "Ray cannot serialize") from None
            task = ray.remote(num_cpus=1)(_ray_shard)

            def submit(shard: Shard) -> Any:
                refs.append(task.remote(payload, shard))
                return refs[-1]

            def first(pending: set[Any]) -> list[Any]:
                return list(ray.wait(list(pending), num_returns=1)[0])

            yield from window(submit, lambda ref: _get(ray, ref), work, 2 * self.workers, first, held)
        except BaseException:
            for ref in refs:  # their results are not needed any more
                ray.cancel(ref, force=True)
            raise
        finally:
            if owned:
                ray.shutdown()


def _get(ray: ModuleType, ref: Any) -> Partial:
    from ray import exceptions

    try:
        return ray.get(ref)
    except exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, CompileError):  # a user error inside the shard: reported as such
            raise cause from None
        if cause is not None and "pickl" in f"{type(cause).__name__} {cause}".lower():
            raise unpicklable(cause, "a Ray worker could not unpickle") from None
        raise
    except (exceptions.WorkerCrashedError, exceptions.NodeDiedError, exceptions.ObjectLostError,
            exceptions.OutOfMemoryError, exceptions.LocalRayletDiedError) as exc:
        raise error("SNC974", f"a Ray worker died before returning its shard: {type(exc).__name__}",
                    hint="use fewer workers, a smaller --batch, or more memory per Ray node") from None
