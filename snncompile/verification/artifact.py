"""verify OUT_DIR: recompile an artifact from its report.json record, require byte-identical files, then score it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from snncompile.errors import Diagnostic, error
from snncompile.record import REPORT_FILE, artifact_hashes, options_from_json, sha256_file


def is_artifact_dir(path: Any) -> bool:
    return isinstance(path, (str, os.PathLike)) and Path(path).is_dir() and (Path(path) / REPORT_FILE).is_file()


def _refuse(message: str, hint: str) -> Exception:
    return error("SNC906", message, hint=hint)


def read_record(directory: Path) -> dict[str, Any]:
    try:
        report = json.loads((directory / REPORT_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise _refuse(f"{directory / REPORT_FILE} cannot be read: {exc}", "recompile the artifact") from None
    record = report.get("compile")
    if not isinstance(record, dict):
        raise _refuse(f"{directory} has no compile record (written by an older snncompile?)",
                      "recompile it with this version, or verify the model file: snncompile verify MODEL.pt")
    return record


def verify_artifact(directory: Path, data: Any = "digits", **kwargs: Any) -> Any:
    """Verify the artifact in `directory` as written: reload the model file named in its compile record (its
    sha256 must match), recompile with the recorded target options and calibration, require every file of the
    recompiled artifact to be byte-identical to the one on disk (SNC906 otherwise), then run every stage on
    `data` and score it. The calibration data is the recorded one, never the scored samples."""
    from snncompile.targets import resolve_target, target_class
    from snncompile.verification.core import _model_and_shape, artifact_json, run_verification
    from snncompile.verification.data import load_data
    from snncompile.verification.plugins import compile_for_verify

    start = time.perf_counter()
    record = read_record(directory)
    path = record.get("model_path")
    if not path:
        raise _refuse(f"{directory} was compiled from an in-memory model; its record names no model file",
                      "compile from a file (snncompile compile MODEL.pt) or verify the model: verify(model, ...)")
    if not Path(path).is_file():
        raise _refuse(f"the model file {path} that {directory} was compiled from is missing",
                      "restore the file, or recompile the artifact")
    if record.get("model_sha256") and sha256_file(path) != record["model_sha256"]:
        raise _refuse(f"the model file {path} changed since {directory} was compiled (sha256 differs)",
                      "recompile the artifact from the current model, or restore the model file")
    options, problems = options_from_json(target_class(record["target"]).options_type, record.get("options") or {})
    if problems:
        raise _refuse(f"{directory} cannot be recompiled from its record: " + "; ".join(problems),
                      "compile with a reproducible calibration (a data spec such as digits or FILE.npz) to verify the "
                      "artifact as written, or verify the model file")
    target = resolve_target(record["target"], options)
    nir = record.get("nir") or {}
    extra = {} if not str(path).endswith(".nir") else {"nir_dt": nir.get("dt"), "nir_convention":
                                                        nir.get("convention", "auto"), "nir_reset": nir.get("reset")}
    _module, shape, steps, classes = _model_and_shape(path, record.get("input_shape"), record.get("timesteps"),
                                                     bool(record.get("trust_pickle")), record.get("factory"))
    vdata = load_data(data, shape, steps, classes, data_root=kwargs.pop("data_root", None)).head(
        kwargs.pop("samples", None))
    compiled = compile_for_verify(path, target, vdata, calibrate=False, input_shape=record.get("input_shape"),
                                  timesteps=record.get("timesteps"), trust_pickle=bool(record.get("trust_pickle")),
                                  factory=record.get("factory"), **extra)
    on_disk = artifact_hashes(directory)
    differ = sorted(n for n in set(on_disk) | set(compiled.files) if on_disk.get(n) != compiled.files.get(n))
    found: list[Diagnostic] = []
    if differ:
        found.append(Diagnostic("SNC906", f"the recompiled artifact differs from {directory} in "
                                f"{', '.join(differ)}: the files on disk are not what this record compiles to",
                                hint="the artifact was edited, or written by another snncompile version; "
                                     "recompile it"))
    artifact = {**artifact_json(compiled, directory), "identical_to_recompile": not differ, "files": on_disk}
    return run_verification(compiled, vdata, str(directory), time.perf_counter() - start, artifact=artifact,
                            problems=found, **kwargs)
