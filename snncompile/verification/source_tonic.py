"""tonic event-camera datasets read from a local root (never downloaded), binned into T frames per sample."""

from __future__ import annotations

import importlib.util
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snncompile.errors import error
from snncompile.verification.source import DatasetSource


@dataclass(frozen=True)
class Layout:
    """Where tonic expects a dataset's test split under ROOT/<Name>/, the file pattern it reads there, and the
    training split's folder (calibration data; None: the dataset has no split)."""

    folder: str
    pattern: str
    example: str
    train: str | None = None


LAYOUTS = {
    "NMNIST": Layout("Test", "*/*.bin", "ROOT/NMNIST/Test/<digit 0-9>/<id>.bin (N-MNIST 5-byte events)", "Train"),
    "DVSGesture": Layout("ibmGestureTest", "user*_*/*.npy",
                         "ROOT/DVSGesture/ibmGestureTest/user<NN>_<lighting>/<label>.npy (events [N, 4]: x, y, p, "
                         "t in ms)", "ibmGestureTrain"),
    "CIFAR10DVS": Layout("", "*/*.aedat4", "ROOT/CIFAR10DVS/<class name>/<id>.aedat4 (needs the `aedat` package)"),
}
"""Datasets whose layout is checked before tonic is asked (others: any tonic dataset with a sensor_size)."""


def parse_spec(spec: str, data_root: str | os.PathLike[str] | None) -> tuple[str, Path | None]:
    """`tonic:NAME` (root from --data-root) or `tonic:NAME@ROOT` -> (NAME, ROOT)."""
    body = spec.removeprefix("tonic:")
    name, _, root = body.partition("@")
    return name, Path(root) if root else (None if data_root is None else Path(data_root))


def _tonic() -> Any:
    try:
        import tonic
    except ImportError as exc:
        raise error("SNC916", f"--data tonic:... needs the tonic package ({exc})",
                    hint="pip install 'snncompile[datasets]' (tonic without its torchvision/librosa extras; see "
                         "docs/DATA.md)") from None
    return tonic


def frame_size(sensor: tuple[int, int, int], input_shape: tuple[int, ...], name: str) -> int:
    """The integer spatial downsampling factor f that maps tonic's sensor (W, H, P) onto the model's input
    (P, H / f, W / f); SNC915 when there is none."""
    width, height, polarities = (int(v) for v in sensor)
    if len(input_shape) == 3 and input_shape[0] == polarities and input_shape[1] >= 1 \
            and height % input_shape[1] == 0 and width % input_shape[2] == 0 \
            and height // input_shape[1] == width // input_shape[2]:
        return height // input_shape[1]
    raise error("SNC915", f"tonic:{name} frames are [{polarities}, {height}, {width}] (sensor W x H x P = "
                f"{width} x {height} x {polarities}); the model takes {list(input_shape)}",
                hint=f"the model's input must be [{polarities}, {height}/f, {width}/f] for an integer downsampling "
                     "factor f; for another transform pass --data module:function returning your own Dataset")


def tonic_source(spec: str, data_root: str | os.PathLike[str] | None, input_shape: tuple[int, ...], timesteps: int
                 ) -> tuple[DatasetSource, DatasetSource | None]:
    """The test split of tonic dataset NAME from ROOT/NAME/..., each sample binned by
    tonic.transforms.ToFrame(n_time_bins=T) after Downsample(spatial_factor=1/f) when the model's frames are
    f times smaller than the sensor; and its training split (the calibration data) when its files are there.
    Files missing: SNC914, naming the expected layout (nothing is downloaded)."""
    name, root = parse_spec(spec, data_root)
    if root is None:
        raise error("SNC914", f"--data {spec} needs the directory the dataset was extracted to",
                    hint=f"pass --data-root ROOT (or --data tonic:{name}@ROOT); expected layout: "
                         f"{LAYOUTS[name].example if name in LAYOUTS else f'ROOT/{name}/...'}")
    layout = LAYOUTS.get(name)
    where = root / name / layout.folder if layout else root / name
    if layout is not None and not any(where.glob(layout.pattern)):
        raise error("SNC914", f"tonic:{name}: no files {layout.pattern} under {where} (snncompile never downloads "
                    "data)", hint=f"extract the dataset so that it reads {layout.example}, with ROOT = --data-root")
    tonic = _tonic()
    if name == "CIFAR10DVS" and importlib.util.find_spec("aedat") is None:  # tonic imports it per sample
        raise error("SNC916", "tonic:CIFAR10DVS reads .aedat4 files with the `aedat` package, which is not installed",
                    hint="pip install aedat")
    cls = getattr(tonic.datasets, name, None)
    if not inspect.isclass(cls) or not hasattr(cls, "sensor_size"):
        known = sorted(n for n in dir(tonic.datasets) if hasattr(getattr(tonic.datasets, n), "sensor_size"))
        raise error("SNC910", f"tonic has no event-camera dataset {name!r}",
                    hint=f"tonic datasets with a sensor size: {', '.join(known)}")
    factor = frame_size(tuple(cls.sensor_size), input_shape, name)
    width, height, polarities = (int(v) // (factor if i < 2 else 1) for i, v in enumerate(cls.sensor_size))
    steps = [tonic.transforms.ToFrame(sensor_size=(width, height, polarities), n_time_bins=timesteps)]
    text = f"tonic.transforms.ToFrame(sensor_size=({width}, {height}, {polarities}), n_time_bins={timesteps})"
    if factor > 1:
        steps.insert(0, tonic.transforms.Downsample(spatial_factor=1 / factor))
        text = f"tonic.transforms.Downsample(spatial_factor=1/{factor}), then {text}"
    local, split = _local(cls, name, root), "train" in inspect.signature(cls).parameters
    dataset = local(str(root), transform=tonic.transforms.Compose(steps), **({"train": False} if split else {}))
    if len(dataset) == 0:
        raise error("SNC914", f"tonic:{name} found no samples under {where}",
                    hint=f"extract the dataset's test split there ({layout.example if layout else 'see tonic'})")
    details = {"sensor_size": [int(v) for v in cls.sensor_size], "downsample": factor,
               "frame_values": "event counts per bin and polarity"}
    test = DatasetSource("tonic", f"tonic:{name}", len(dataset), path=str(where), transform=text, dataset=dataset,
                         details={"split": "test" if split else "all", **details})
    train = None
    if split and layout is not None and layout.train and any((root / name / layout.train).glob(layout.pattern)):
        data = local(str(root), transform=tonic.transforms.Compose(steps), train=True)
        train = DatasetSource("tonic", f"tonic:{name} (train)", len(data), path=str(root / name / layout.train),
                              transform=text, dataset=data, details={"split": "train", **details})
    return test, train


def _local(cls: type, name: str, root: Path) -> type:
    """tonic's class with its download replaced by a coded error: tonic downloads when its own completeness check
    (the original archive and e.g. 10000 files) fails, which a local subset never passes."""

    def download(self: Any) -> None:
        raise error("SNC914", f"tonic:{name} tried to download its data into {root}; snncompile never downloads",
                    hint="extract the dataset under --data-root first (docs/DATA.md)")

    # the same class name: tonic reads from save_to/<class name>/
    return type(cls.__name__, (cls,), {"_check_exists": lambda self: True, "download": download})
