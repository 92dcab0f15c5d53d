"""Export a checkpoint as an ONNX or TorchScript model with a JSON sidecar.

    result = export_checkpoint("runs/RUN/best.pt", "onnx")     # runs/RUN/best.onnx + runs/RUN/best.onnx.json
    result.sidecar["output"]["heatmap_size"]                  # [32, 32]

The exported model is the checkpoint's network as it is: input (N, 3, H, W) float32,
RGB, values in [0, 1] (the normalisation is inside the model); output (N, K, h, w) float32
raw heatmaps (logits for a binary-encoding model). The batch size N is free.

The sidecar (the model file's name plus ``.json``) says everything another program
needs to feed the model and read its output, and is what
:func:`lmkviz.imported.load_model` reads back (:data:`SIDECAR_FORMAT`, version
:data:`SIDECAR_VERSION`)::

    {
      "format": "lmkviz-model", "version": 1,
      "model_file": "best.onnx", "runtime": "onnx" | "torchscript",
      "input": {"name": "image", "layout": "NCHW", "size": [H, W], "channel_order": "RGB",
                "value_range": [0.0, 1.0], "mean": [0, 0, 0], "std": [1, 1, 1],
                "normalization": "inside the model"},
      "output": {"name": "heatmaps", "layout": "NKHW", "heatmap_size": [h, w],
                 "values": "heatmaps" | "logits"},
      "codec": {...},                 # lmkviz.codecs dict: type, image_size, heatmap_size, encoding, sigma, ...
      "scheme": {"name": "ibug68", "num_points": 68, "indices": [...], "landmark_names": [...],
                 "flip_perm": [...] | null},
      "coordinates": "...",           # the convention, in words
      "source": {"checkpoint": "best.pt", "architecture": "hrnet18_small", "lmkviz": "0.1.0",
                 "torch": "2.14.1", "opset": 18}
    }

Preprocessing for a pixel value p in 0..255 of channel c (in ``channel_order``):
``v = value_range[0] + p / 255 * (value_range[1] - value_range[0])``, then
``(v - mean[c]) / std[c]``. ``indices`` are the scheme's landmarks the K output channels
predict (a subset when the model was trained on one); ``landmark_names`` name those K
channels; ``flip_perm`` permutes the K channels for the flip test (null when the scheme has
no left/right pairs). Image x = heatmap x * W / w (continuous pixels, pixel j spans
[j, j + 1), see :mod:`lmkviz`), or the codec's own mapping for a ``udp_heatmap`` codec.

ONNX export uses ``torch.onnx.export(dynamo=True)``, which needs the packages ``onnx`` and
``onnxscript`` (``pip install onnx onnxscript``); they are needed only to export, not to
run the app. TorchScript export uses ``torch.jit.trace`` and needs nothing more.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import torch

from lmkviz import checkpoint as ckpt
from lmkviz.paths import display_path

__all__ = ["EXPORT_FORMATS", "SIDECAR_FORMAT", "SIDECAR_VERSION", "ExportResult", "export_checkpoint",
           "export_model", "sidecar_path", "make_sidecar"]

PathLike = Union[str, os.PathLike]

EXPORT_FORMATS = ("onnx", "torchscript")
"""Model formats :func:`export_checkpoint` writes."""

SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
"""Default file suffix of each export format."""

SIDECAR_FORMAT = "lmkviz-model"
SIDECAR_VERSION = 1

COORDINATES = ("continuous pixels: pixel j spans [j, j+1) with its centre at j + 0.5, in the input image and "
               "the heatmaps alike; image x = heatmap x * input width / heatmap width (heatmap codec), or the "
               "codec's corner-aligned map (udp_heatmap)")


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_checkpoint` wrote: the model file, its sidecar file and the sidecar dict."""

    model_path: Path
    sidecar_path: Path
    sidecar: dict


def sidecar_path(model_path: PathLike) -> Path:
    """The sidecar file of a model file: its name plus ``.json`` (``best.onnx.json`` beside
    ``best.onnx``), so that an ONNX and a TorchScript export of one checkpoint do not share one."""
    path = Path(model_path)
    return path.with_name(path.name + ".json")


def make_sidecar(loaded: ckpt.LoadedCheckpoint, runtime: str, model_file: str, opset: Optional[int] = None) -> dict:
    """The sidecar dict (see the module docstring) of a loaded checkpoint exported as ``runtime``."""
    from lmkviz.data.schemes import flip_perm_for, scheme_for

    codec = loaded.codec
    scheme = scheme_for(loaded.num_points)
    indices = [int(i) for i in loaded.indices]
    try:
        flip = [int(i) for i in flip_perm_for(scheme, indices)]
    except ValueError:
        flip = None
    return {
        "format": SIDECAR_FORMAT, "version": SIDECAR_VERSION,
        "model_file": model_file, "runtime": runtime,
        "input": {"name": "image", "layout": "NCHW", "size": list(codec.image_size), "channel_order": "RGB",
                  "value_range": [0.0, 1.0], "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],
                  "normalization": "inside the model"},
        "output": {"name": "heatmaps", "layout": "NKHW", "heatmap_size": list(codec.heatmap_size),
                   "values": "logits" if codec.outputs_logits else "heatmaps"},
        "codec": codec.to_dict(),
        "scheme": {"name": scheme.name, "num_points": scheme.num_points, "indices": indices,
                   "landmark_names": [scheme.names[i] for i in indices], "flip_perm": flip},
        "coordinates": COORDINATES,
        "source": {"checkpoint": display_path(Path(loaded.path).name), "architecture": loaded.model_name,
                   "lmkviz": _version(), "torch": str(torch.__version__), "opset": opset},
    }


def _version() -> str:
    from lmkviz import __version__

    return __version__


def _default_out(checkpoint: PathLike, fmt: str) -> Path:
    """``runs/RUN/best.pt`` -> ``runs/RUN/best.onnx``; a shipped name ("default") -> ``./default.onnx``."""
    real = ckpt.resolve(checkpoint)
    if isinstance(checkpoint, str) and real != Path(checkpoint):  # a shipped checkpoint: write here
        return Path(real.stem + SUFFIXES[fmt])
    return real.with_name(real.stem + SUFFIXES[fmt])


def export_model(model: torch.nn.Module, fmt: str, out: PathLike, input_size: tuple[int, int]) -> Optional[int]:
    """Write ``model`` (eval mode, CPU) to ``out`` as ONNX or TorchScript with a free batch size.
    Returns the ONNX opset (None for TorchScript). Raises ValueError when the ONNX packages
    are missing or the export fails (with the reason)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = model.float().eval().cpu()
    example = torch.rand(2, 3, *input_size)
    if fmt == "torchscript":
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes about Python values turned into constants
            traced = torch.jit.trace(model, example, check_trace=False)
        tmp = out.with_name(f".{out.name}.tmp")
        traced.save(str(tmp))
        os.replace(tmp, out)
        return None
    if fmt != "onnx":
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    missing = [m for m in ("onnx", "onnxscript") if not _importable(m)]
    if missing:
        raise ValueError(f"ONNX export needs the package(s) {', '.join(missing)}: "
                         f"pip install {' '.join(missing)} (or export with --format torchscript)")
    import contextlib
    import io

    batch = torch.export.Dim("batch", min=1, max=4096)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), str(tmp), input_names=["image"], output_names=["heatmaps"],
                              dynamic_shapes=({0: batch},), dynamo=True, external_data=False, verbose=False)
        os.replace(tmp, out)
    except Exception as err:  # the exporter raises many types; say which and where
        if tmp.exists():
            tmp.unlink()
        raise ValueError(f"ONNX export failed ({type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''})"
                         ) from None
    import onnx

    proto = onnx.load(str(out), load_external_data=False)
    return next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def export_checkpoint(checkpoint: PathLike, fmt: str = "onnx", out: Optional[PathLike] = None) -> ExportResult:
    """Export a checkpoint (a .pt path or a shipped name such as "default") as ``fmt``
    (one of :data:`EXPORT_FORMATS`) to ``out`` (default: beside the checkpoint, ``best.onnx``
    for ``best.pt``; in the current folder for a shipped checkpoint), with its sidecar
    (:func:`sidecar_path`). Checks that the network's output has the codec's heatmap size.

    Raises :class:`lmkviz.checkpoint.CheckpointError` for an unusable checkpoint and
    ValueError for a codec without heatmaps (SimCC), missing ONNX packages or a failed export.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    loaded = ckpt.load_for_inference(checkpoint, "cpu")
    codec = loaded.codec
    if not hasattr(codec, "heatmap_size"):
        raise ValueError(f"{display_path(loaded.path)}: its {type(codec).__name__} outputs no heatmaps; only heatmap "
                         "models (codec heatmap or udp_heatmap) can be exported")
    out = Path(out) if out is not None else _default_out(checkpoint, fmt)
    with torch.no_grad():
        shape = tuple(loaded.model(torch.zeros(1, 3, *codec.image_size)).shape)
    expected = (1, len(loaded.indices), *codec.heatmap_size)
    if shape != expected:
        raise ValueError(f"{display_path(loaded.path)}: the network outputs {shape}, its codec expects {expected}")
    opset = export_model(loaded.model, fmt, out, codec.image_size)
    sidecar = make_sidecar(loaded, fmt, out.name, opset)
    side = sidecar_path(out)
    ckpt.atomic_write_bytes(side, (json.dumps(sidecar, indent=2) + "\n").encode("utf-8"))
    return ExportResult(model_path=out, sidecar_path=side, sidecar=sidecar)
