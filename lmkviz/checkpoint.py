"""Checkpoint files: save atomically, load safely, rebuild the model.

A checkpoint is a plain dict saved with ``torch.save`` and loaded with
``torch.load(..., weights_only=True)`` (no pickled code)::

    {
      "format": "lmkviz-checkpoint", "version": 1,
      "model": {"name": "hrnet18", "num_points": 68, "kwargs": {...}},  # SimCC: head, input_size, simcc_ratio
      "state_dict": {...},                       # model weights (fp32 or fp16)
      "codec": {"type": "heatmap", "image_size": [H, W],   # or "udp_heatmap", "simcc":
                "heatmap_size": [h, w], "encoding": "gaussian",  # lmkviz.codecs.codec_from_dict
                "sigma": 2.0, ...},                    # (no "type": a heatmap codec)
      "scheme": {"name": "ibug68", "num_points": 68,   # the dataset's scheme
                 "indices": [...]},                    # landmarks predicted (subset)
      "config": {...},                           # the TrainConfig as a dict
      "summary": {...},                          # epoch, val NME per decoder, time, ...
      "training_state": {...},                   # optional: optimiser etc. (last.pt)
    }

``"default"`` names the checkpoint shipped in the project's ``checkpoints/``
folder (:data:`DEFAULT_CHECKPOINT`); any other shipped ``checkpoints/NAME.pt`` is
found by its ``NAME`` the same way (see :mod:`lmkviz.paths`).

Files that are not lmkviz checkpoints are refused with lmkviz's own message naming
the file; in particular a pickle that holds code or arbitrary Python objects is
never loaded, and the message does not pass on advice to lift that restriction.
"""

from __future__ import annotations

import io
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch
from torch import nn

from lmkviz import paths
from lmkviz.encoding import HeatmapCodec
from lmkviz.files import atomic_write_bytes  # noqa: F401  (re-exported: the writer of every checkpoint)
from lmkviz.paths import DEFAULT_CHECKPOINT, display_path  # noqa: F401  (DEFAULT_CHECKPOINT: re-exported)

FORMAT = "lmkviz-checkpoint"
VERSION = 1

PathLike = Union[str, os.PathLike]


class CheckpointError(ValueError):
    """A file that is not a usable lmkviz checkpoint (the message says why)."""


def save(checkpoint: dict, path: PathLike) -> None:
    """Save a checkpoint dict atomically (see :func:`atomic_write_bytes`)."""
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def checkpoint_payload(net: nn.Module, config: Any, model_kwargs: dict, codec: HeatmapCodec, scheme: Any,
                       indices: Sequence[int], summary: dict) -> dict:
    """The checkpoint dict (see the module docstring) of a model, its weights copied to the CPU.

    config: the run's :class:`~lmkviz.training.TrainConfig` (its ``model`` and
    ``to_dict()`` are used). model_kwargs: what rebuilds the model with
    :func:`lmkviz.models.create`. scheme: the dataset's landmark scheme; indices: the
    landmarks the model predicts. summary: epoch, validation NME, ... (JSON-able); it
    gets ``"trained_at"``, when these weights were made (ISO 8601 in UTC, e.g.
    ``"2026-11-22T07:48:10+00:00"``), unless it has one. A training loop adds
    ``"training_state"`` to resume from.
    """
    return {
        "format": FORMAT, "version": VERSION,
        "model": {"name": config.model, "num_points": len(indices), "kwargs": dict(model_kwargs)},
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "codec": codec.to_dict(),
        "scheme": {"name": scheme.name, "num_points": scheme.num_points, "indices": [int(i) for i in indices],
                   "flip_perm": list(scheme.flip_perm) if scheme.flip_perm else None},
        "config": config.to_dict(),
        "summary": {"trained_at": utc_now_iso(), **summary},
    }


def utc_now_iso() -> str:
    """The current time in UTC as ISO 8601 text, to the second (a checkpoint's ``trained_at``)."""
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def parse_trained_at(value: Any) -> Optional[str]:
    """A summary's ``trained_at`` as ISO 8601 text when it is a readable date, else None."""
    from datetime import datetime

    if not isinstance(value, str):
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return None
    return value


def resolve(path: PathLike) -> Path:
    """A shipped checkpoint's name (``"default"``, or ``NAME`` for ``checkpoints/NAME.pt``)
    -> its file; anything else -> ``Path(path)``."""
    if isinstance(path, str) and not path.endswith(".pt"):
        shipped = paths.shipped_checkpoint(path)
        if shipped is not None:
            return shipped
        if path == "default":
            return paths.DEFAULT_CHECKPOINT  # missing: the message says where it should be
    return Path(path)


def _names_code(torch_message: str) -> bool:
    """True when torch's weights-only unpickler stopped at a global (a function or class
    to import) or a call, rather than at bytes that are no pickle at all."""
    return any(word in torch_message for word in ("GLOBAL", "reduce", "REDUCE", "BUILD"))


_REFUSED = (
    "refusing to load: the file holds Python code or objects that lmkviz will not load, because "
    "loading them could run arbitrary code on this machine. An lmkviz checkpoint holds only "
    "tensors, numbers and text: use a checkpoint written by `lmkviz train`, or --checkpoint default"
)


def load(
    path: PathLike,
    *,
    model: Optional[str] = None,
    num_points: Optional[int] = None,
    map_location: Union[str, torch.device] = "cpu",
) -> dict:
    """Load and validate a checkpoint with ``torch.load(weights_only=True)``.

    model / num_points: when given, the checkpoint must be for this architecture
    and point count. Raises :class:`CheckpointError` naming the problem for a
    missing, empty, corrupt or truncated file, a non-checkpoint, a checkpoint of
    another format version, or a mismatch.
    """
    given = path
    path = resolve(path)
    label = display_path(path)
    if not path.exists():
        if path == paths.DEFAULT_CHECKPOINT:
            hint = " (the shipped default checkpoint is missing from checkpoints/)"
        elif isinstance(given, str) and os.sep not in given and "/" not in given:
            hint = f" (shipped: {', '.join(paths.shipped_checkpoints()) or 'none'})"
        else:
            hint = ""
        raise CheckpointError(f"{label}: no such checkpoint file{hint}")
    if path.is_dir():
        raise CheckpointError(f"{label}: is a folder; give a .pt checkpoint file (e.g. best.pt in a run folder)")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{label}: the file is empty; it is not a checkpoint")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if _names_code(str(err)):  # the restricted unpickler met a function, class or reduce call
            raise CheckpointError(f"{label}: {_REFUSED}") from None
        raise CheckpointError(f"{label}: cannot be read as a checkpoint (corrupt, truncated or not a torch "
                              "file)") from None
    except Exception as err:  # garbage makes the reader raise almost anything; torch's text is not passed on
        raise CheckpointError(f"{label}: cannot be read as a checkpoint (corrupt, truncated or not a torch "
                              f"file; {type(err).__name__})") from None
    return validate(data, label, model=model, num_points=num_points)


def validate(data: Any, path: PathLike = "checkpoint", *, model: Optional[str] = None,
             num_points: Optional[int] = None) -> dict:
    """Check the structure of a loaded checkpoint dict; see :func:`load`."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not an lmkviz checkpoint (a plain state_dict or another tool's file?); "
            "train one with `python -m lmkviz train` or use --checkpoint default"
        )
    if data.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {data.get('version')} is not supported "
                              f"(this lmkviz reads version {VERSION})")
    for key in ("model", "state_dict", "codec", "scheme"):
        if key not in data:
            raise CheckpointError(f"{path}: checkpoint is missing its {key!r} entry")
    info = data["model"]
    if not isinstance(info, dict) or "name" not in info or "num_points" not in info:
        raise CheckpointError(f"{path}: checkpoint's model entry lacks a name or point count")
    if model is not None and info["name"] != model:
        raise CheckpointError(f"{path}: checkpoint is for architecture {info['name']!r}, not {model!r}")
    if num_points is not None and int(info["num_points"]) != int(num_points):
        raise CheckpointError(
            f"{path}: checkpoint predicts {info['num_points']} points, not {num_points}"
        )
    return data


def build_model(data: dict, path: PathLike = "checkpoint", device: Union[str, torch.device] = "cpu") -> nn.Module:
    """Rebuild the model of a validated checkpoint and load its weights (fp32, eval mode).

    Raises :class:`CheckpointError` when the weights do not fit the architecture.
    """
    from lmkviz import models

    info = data["model"]
    try:
        net = models.create(info["name"], int(info["num_points"]), **dict(info.get("kwargs", {}), pretrained=False))
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{path}: cannot rebuild model {info['name']!r}: {err}") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in data["state_dict"].items()}
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        raise CheckpointError(
            f"{path}: weights do not match architecture {info['name']!r} with {info['num_points']} points: "
            + " ".join(lines[1:3])[:300]
        ) from None
    return net.to(device).eval()


def codec_of(data: dict, path: PathLike = "checkpoint"):
    """The codec a checkpoint was trained with (a :mod:`lmkviz.codecs` class: heatmap,
    UDP or SimCC); :class:`CheckpointError` naming ``path`` when the entry is not a
    valid codec."""
    from lmkviz.codecs import codec_from_dict

    try:
        return codec_from_dict(dict(data["codec"]))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CheckpointError(f"{path}: checkpoint's codec entry is not a valid codec ({_short(err)})") from None


def _short(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return (text[:200] + "...") if len(text) > 200 else (text or type(err).__name__)


@dataclass
class LoadedCheckpoint:
    """A checkpoint ready for inference: model (eval), codec, scheme info, summary."""

    path: Path
    model: nn.Module
    codec: Any  # a lmkviz.codecs codec: HeatmapCodec, UDPHeatmapCodec or SimCCCodec
    scheme_name: str
    num_points: int
    indices: list[int]
    summary: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)

    @property
    def model_name(self) -> str:
        return self.config.get("model", type(self.model).__name__)


def load_for_inference(path: PathLike, device: Union[str, torch.device] = "cpu") -> LoadedCheckpoint:
    """Load, validate and rebuild a checkpoint for inference."""
    real = resolve(path)
    label = display_path(real)
    data = load(path)  # the name as given: a missing shipped name lists the shipped ones
    codec = codec_of(data, label)
    net = build_model(data, label, device)
    k = int(data["model"]["num_points"])  # checked by build_model
    try:
        scheme = dict(data["scheme"])
        scheme_name = str(scheme.get("name", f"points{k}"))
        num_points = int(scheme.get("num_points", k))
        indices = [int(i) for i in scheme.get("indices", range(k))]
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{label}: checkpoint's scheme entry is invalid ({_short(err)})") from None
    try:
        summary, config = dict(data.get("summary", {})), dict(data.get("config", {}))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{label}: checkpoint's summary or config entry is not a dict ({_short(err)})") from None
    return LoadedCheckpoint(path=real, model=net, codec=codec, scheme_name=scheme_name, num_points=num_points,
                            indices=indices, summary=summary, config=config)


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint is, read without building its model (:func:`describe`).

    path: the file. model: architecture name. scheme: the dataset's landmark scheme
    name; num_points: its point count K. indices: the landmarks the model predicts
    (all K, or a subset). codec: the codec type ("heatmap", "udp_heatmap", "simcc");
    encoding and sigma: its target encoding (None when the codec has none).
    input_size: (H, W) of the network input; heatmap_size: (h, w) of its heatmaps,
    None for codecs without 2-D heatmaps. epoch: the training epoch it was saved at
    (1-based) or None; val_nme: {decoder: validation NME in %} of that epoch.
    trained_at: when the weights were made (ISO 8601, the summary's ``trained_at``),
    None for checkpoints that do not say (never the file's modification time).
    """

    path: str
    model: str
    scheme: str
    num_points: int
    indices: tuple
    codec: str
    encoding: Optional[str]
    sigma: Optional[float]
    input_size: tuple
    heatmap_size: Optional[tuple]
    epoch: Optional[int] = None
    val_nme: dict = field(default_factory=dict)
    trained_at: Optional[str] = None

    @property
    def is_subset(self) -> bool:
        """True when the model predicts fewer landmarks than its scheme has."""
        return len(self.indices) != self.num_points

    def best_val_nme(self) -> Optional[tuple[str, float]]:
        """(decoder, NME %) of the decoder with the lowest finite validation NME, or None."""
        import math

        scored = [(float(v), m) for m, v in self.val_nme.items()
                  if isinstance(v, (int, float)) and math.isfinite(v)]
        if not scored:
            return None
        value, decoder = min(scored)
        return decoder, value


def describe(path: PathLike) -> CheckpointInfo:
    """The :class:`CheckpointInfo` of a checkpoint file (or a shipped name such as "default").

    The file is loaded and validated like :func:`load` (``weights_only=True``) but no
    model is built, so this is cheap enough for a menu of checkpoints. Raises
    :class:`CheckpointError` naming the file when it is not a usable checkpoint.
    """
    real = resolve(path)
    label = display_path(real)
    data = load(path)
    codec = codec_of(data, label)
    k = int(data["model"]["num_points"])
    try:
        scheme = dict(data["scheme"])
        summary = dict(data.get("summary") or {})
        indices = tuple(int(i) for i in scheme.get("indices", range(k)))
        num_points = int(scheme.get("num_points", k))
        epoch = summary.get("epoch")
        val_nme = {str(m): float(v) for m, v in dict(summary.get("val_nme") or {}).items()
                   if isinstance(v, (int, float))}
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{label}: checkpoint's scheme or summary entry is invalid ({_short(err)})") from None
    heatmap_size = getattr(codec, "heatmap_size", None)
    sigma = getattr(codec, "sigma", None)
    return CheckpointInfo(
        path=str(real), model=str(data["model"]["name"]), scheme=str(scheme.get("name", f"points{k}")),
        num_points=num_points, indices=indices, codec=getattr(codec, "codec_type", "heatmap"),
        encoding=getattr(codec, "encoding", None), sigma=None if sigma is None else float(sigma),
        input_size=tuple(int(v) for v in codec.image_size),
        heatmap_size=None if heatmap_size is None else tuple(int(v) for v in heatmap_size),
        epoch=None if epoch is None else int(epoch), val_nme=val_nme,
        trained_at=parse_trained_at(summary.get("trained_at")))


def export(src: PathLike, dst: PathLike, half: bool = True) -> dict:
    """Copy a checkpoint without its training state, optionally with fp16 weights.

    Used to make the small shipped checkpoint from a run's ``best.pt``.
    """
    data = load(src)
    out = {k: v for k, v in data.items() if k != "training_state"}
    if half:
        out["state_dict"] = {
            k: v.half() if v.is_floating_point() else v for k, v in data["state_dict"].items()
        }
    save(out, dst)
    return out
