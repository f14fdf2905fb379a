"""Compile every shipped example for every target and list the sha256 of each artifact file (report.json excluded)."""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

# report.json holds wall times, so it differs between any two runs; every other file must be reproducible.
EXCLUDED = frozenset({"report.json"})
TARGETS: dict[str, tuple[str, ...]] = {
    "sim": (),
    "loihi": (),
    "nir": ("--nir-allow", "non-strict"),
    "onnx": (),
    "onnx-loihi": (),
}


def compile_all(models: list[Path], out: Path) -> None:
    """Compile each model for each target into OUT/<model>/<target> with the snncompile CLI."""
    for model in models:
        for target, extra in TARGETS.items():
            dest = out / model.stem / target
            cmd = [sys.executable, "-c", "from snncompile.cli import main; main()", "compile", str(model),
                   "--target", target, "-o", str(dest), "--no-check", *extra]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")


def digests(out: Path) -> list[str]:
    """`sha256  relative/path` for every artifact file under OUT, sorted by path."""
    lines = []
    for path in sorted(p for p in out.rglob("*") if p.is_file() and p.name not in EXCLUDED):
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(out).as_posix()}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path, help="directory to compile into (must not exist)")
    parser.add_argument("--models", type=Path, default=Path(__file__).resolve().parents[1] / "examples" / "models")
    parser.add_argument("--write", type=Path, help="also write the list to this file")
    args = parser.parse_args()
    if args.out.exists():
        raise SystemExit(f"{args.out} exists; give a new directory")
    compile_all(sorted(args.models.glob("*.pt")), args.out)
    text = "\n".join(digests(args.out)) + "\n"
    sys.stdout.write(text)
    if args.write:
        args.write.write_text(text)


if __name__ == "__main__":
    main()
