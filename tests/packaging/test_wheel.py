"""The wheel as a user gets it: built from the sources, installed into a fresh virtual environment with only its
declared dependencies, then compile / simulate / verify run from a directory outside the repository.

No network at test time: the fresh environment (no system site-packages) receives the installed distributions of
the wheel's dependency closure, read from its own METADATA (torch first), as links into its site-packages, and
`pip check` there proves the closure complete. A package the code imports but the wheel does not declare is thus
missing, as it would be after `pip install snncompile`. The extras are added afterwards ([onnx]).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from snncompile.lava_env import lava_python

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "models" / "s2nn_mlp.pt"


def build_wheel(into: Path) -> None:
    """`pip wheel` of a copy of the sources (so no build/ or egg-info lands in the checkout), offline."""
    src = into / "src"
    shutil.copytree(ROOT / "snncompile", src / "snncompile", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(into), str(src)], check=True, capture_output=True, text=True)
    shutil.rmtree(src)


def requirements(wheel: Path, extras: Iterable[str] = ()) -> list[Requirement]:
    """The wheel's Requires-Dist that apply here with `extras` (no self-references)."""
    with zipfile.ZipFile(wheel) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    reqs = [Requirement(line.split(":", 1)[1]) for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    return [r for r in reqs if r.name != "snncompile" and _applies(r, extras)]


def _applies(req: Requirement, extras: Iterable[str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({"extra": e}) for e in ("", *extras))


def closure(reqs: list[Requirement]) -> dict[str, metadata.Distribution]:
    """The installed distributions that satisfy `reqs`, recursively (name -> distribution)."""
    found: dict[str, metadata.Distribution] = {}
    todo = list(reqs)
    while todo:
        req = todo.pop()
        dist = metadata.distribution(req.name)  # PackageNotFoundError: the test environment lacks it
        key = dist.metadata["Name"].lower().replace("_", "-")
        new_extras = set(req.extras)
        if key in found and not new_extras:
            continue
        found[key] = dist
        todo += [r for r in map(Requirement, dist.requires or []) if _applies(r, req.extras)]
    return found


def link_into(site: Path, dists: Iterable[metadata.Distribution]) -> None:
    """Each distribution's top-level files and folders (package, .dist-info, .libs), linked into `site`."""
    for dist in dists:
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        assert tops, f"{dist.metadata['Name']} lists no files (no RECORD)"
        for top in tops:
            source, target = Path(str(dist.locate_file(top))), site / top
            if source.exists() and not target.exists() and not top.endswith(".pth"):
                target.symlink_to(source, target_is_directory=source.is_dir())


class Env:
    """A fresh environment: its python, its `snncompile` script, and run() in a directory outside ROOT."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.python, self.script = root / "bin" / "python", root / "bin" / "snncompile"
        self.site = Path(subprocess.run([str(self.python), "-c", "import sysconfig; print(sysconfig.get_path("
                                         "'purelib'))"], capture_output=True, text=True, check=True).stdout.strip())

    def run(self, work: Path, *args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        base = {"PATH": f"{self.root / 'bin'}:/usr/bin:/bin", "HOME": str(work), "LANG": "C.UTF-8",
                "OMP_NUM_THREADS": "1"}
        return subprocess.run([str(a) for a in args], cwd=work, env={**base, **(env or {})}, capture_output=True,
                              text=True, timeout=600)


def make_env(where: Path, wheel: Path, extras: tuple[str, ...] = ()) -> Env:
    """A fresh venv holding the wheel and its dependency closure with `extras` (torch linked first)."""
    venv.EnvBuilder(with_pip=False, system_site_packages=False, symlinks=True).create(where)
    fresh = Env(where)
    deps = closure(requirements(wheel, extras))
    link_into(fresh.site, [deps.pop("torch"), *deps.values()])  # torch first, as the README installs it
    spec = f"{wheel}[{','.join(extras)}]" if extras else str(wheel)
    done = pip(fresh, "install", "--no-deps", "--no-index", "-q", spec)
    assert done.returncode == 0, done.stderr
    return fresh


def pip(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    """This interpreter's pip acting on `env` (pip --python; the fresh environment has no pip of its own)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_REQUIRE", "VIRTUAL_ENV"))}
    return subprocess.run([sys.executable, "-m", "pip", "--python", str(env.python), *args], capture_output=True,
                          text=True, timeout=300, env=clean)


def shared(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """DIR after build(DIR), built once per test session also under pytest-xdist (its workers share the
    session's temporary directory; a lock lets the first one build and the others wait)."""
    from filelock import FileLock

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        root = tmp_path_factory.mktemp(name)
        build(root)
        return root
    root = tmp_path_factory.getbasetemp().parent / name
    with FileLock(f"{root}.lock"):
        if not (root / ".done").is_file():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            build(root)
            (root / ".done").touch()
    return root


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    (found,) = shared(tmp_path_factory, "snncompile-wheel", build_wheel).glob("snncompile-*.whl")
    return found


@pytest.fixture(scope="module")
def env(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Env:
    return Env(shared(tmp_path_factory, "snncompile-venv", lambda d: make_env(d / "venv", wheel)) / "venv")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLE, tmp_path / EXAMPLE.name)
    return tmp_path


def test_the_wheel_holds_every_file_of_the_package(wheel: Path) -> None:
    tracked = subprocess.run(["git", "ls-files", "snncompile"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    assert sorted(set(tracked) - names) == []
    assert {"snncompile/targets/loihi/lava_runtime.py", "snncompile/targets/onnx/driver.py",
            "snncompile/lava_env.py"} <= names


def test_fresh_environment_has_only_the_declared_dependencies(env: Env, work: Path) -> None:
    check = pip(env, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    probe = env.run(work, env.python, "-c", "import importlib.util as u, json, snncompile; print(json.dumps("
                    "[snncompile.__file__, [m for m in ('onnxruntime', 'ray', 'tonic', 'pytest') if u.find_spec(m)]]))")
    assert probe.returncode == 0, probe.stderr
    where, extras = json.loads(probe.stdout)
    assert where.startswith(str(env.root)) and extras == []


def test_compile_simulate_verify_from_outside_the_repository(env: Env, work: Path) -> None:
    assert env.run(work, env.script, "--help").returncode == 0
    done = env.run(work, env.script, EXAMPLE.name, "-o", "out")  # the default command: compile for sim
    assert done.returncode == 0 and (work / "out" / "graph.json").is_file(), done.stderr
    _input(env, work)
    done = env.run(work, env.script, "simulate", "out", "--input", "x.npy", "-o", "y.npz")
    assert done.returncode == 0 and (work / "y.npz").is_file(), done.stderr
    # verify's defaults: --target loihi, --data digits (scikit-learn is a dependency)
    # (and the Loihi target calibrates on the digits training split, the path of --loihi-calibration digits)
    done = env.run(work, env.script, "verify", EXAMPLE.name, "--no-lava", "-n", "8", "--json", "v.json")
    assert done.returncode == 0 and "verify: all checks passed" in done.stdout, done.stdout + done.stderr
    assert json.loads((work / "v.json").read_text())["data"]["name"] == "digits"


def _input(env: Env, work: Path) -> None:
    done = env.run(work, env.python, "-c", "import numpy as np; np.save('x.npy', np.random.default_rng(0)"
                   ".random((4, 2, 1, 8, 8)))")
    assert done.returncode == 0, done.stderr


def test_lava_asked_for_without_an_environment_is_a_coded_error(env: Env, work: Path) -> None:
    done = env.run(work, env.script, "verify", EXAMPLE.name, "--lava", "-n", "4")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "SNC421" in done.stderr and "snncompile lava-setup" in done.stderr
    assert "all checks passed" not in done.stdout
    where = env.run(work, env.python, "-m", "snncompile.lava_env", "where")
    assert where.returncode == 1 and "lava-setup" in where.stdout


def test_onnx_needs_the_onnx_extra(env: Env, wheel: Path, work: Path) -> None:
    done = env.run(work, env.script, EXAMPLE.name, "-t", "onnx", "-o", "onnx")
    assert done.returncode == 0, done.stderr  # writing ONNX needs only onnx, a dependency
    _input(env, work)
    done = env.run(work, env.script, "simulate", "onnx", "--input", "x.npy", "-o", "y.npz")
    assert done.returncode == 1 and "SNC420" in done.stderr and "snncompile[onnx]" in done.stderr, done.stderr
    with_onnx = make_env(work / "venv-onnx", wheel, ("onnx",))  # pip install 'snncompile[onnx]'
    assert pip(with_onnx, "check").returncode == 0
    done = with_onnx.run(work, with_onnx.script, "simulate", "onnx", "--input", "x.npy", "-o", "y.npz")
    assert done.returncode == 0 and (work / "y.npz").is_file(), done.stderr


@pytest.mark.skipif(lava_python() is None, reason="no Lava environment (make setup-lava)")
def test_the_lava_runtime_in_the_wheel_runs(env: Env, work: Path) -> None:
    done = env.run(work, env.script, "verify", EXAMPLE.name, "--lava", "-n", "2", "--lava-samples", "1",
                   env={"SNNCOMPILE_LAVA_PYTHON": str(lava_python())})
    assert done.returncode == 0 and "lava" in done.stdout, done.stdout + done.stderr
