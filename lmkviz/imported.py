"""Bring your own model: an ONNX or TorchScript heatmap model used like a checkpoint.

    predictor = load_model("model.onnx")                  # reads model.onnx.json (the sidecar)
    predictor = load_model("net.pt", settings=ModelSettings(input_size=(256, 256), channel_order="BGR",
                                                             value_range=(0, 255), mean=(123.7, 116.3, 103.5),
                                                             std=(58.4, 57.1, 57.4), num_points=68))
    predictor.predict(image).points["dark"]               # as with lmkviz.inference.Predictor
    evaluate(predictor, "face68", "val")                  # the evaluator takes it too

:func:`load_model` returns an :class:`ImportedPredictor`, a
:class:`lmkviz.inference.Predictor` whose network is the imported model wrapped in an
``nn.Module`` (:class:`ImportedModule`) that takes what every lmkviz model takes, (N, 3, H, W)
float RGB in [0, 1], converts it to what the model wants (channel order, value range,
mean/std) and returns its output as (N, K, h, w) float32 heatmaps (transposed from
N x h x w x K when the output layout says so). So face detection, cropping, every decoder,
the flip test, :func:`lmkviz.evaluation.evaluate` and the app's heatmap views work on a
model lmkviz did not train.

The settings (:class:`ModelSettings`) come from the sidecar written by
:mod:`lmkviz.export` (``MODEL.json`` beside the model, see there for its schema), from
another sidecar file, or are given explicitly (a form in the app). The model is run once
on a blank image at load time: its output must be 4-D with K heatmaps; their size, when
the settings leave it out, is taken from that output.

Geometry: the heatmaps map onto the input image by lmkviz's edge-aligned scale (codec
``heatmap``) unless the settings give a ``udp_heatmap`` codec (corner-aligned, as UDP-trained
mmpose models decode). Coordinates are continuous pixels (pixel j spans [j, j + 1)).

Trust: an ONNX file is data run by onnxruntime (in requirements.txt: ``pip install
onnxruntime``); a TorchScript file is a program that ``torch.jit.load`` runs: load only
TorchScript files you trust, as you would run a script.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch
from torch import nn

from lmkviz import checkpoint as ckpt
from lmkviz.inference import Predictor
from lmkviz.paths import display_path

__all__ = ["RUNTIMES", "MODEL_SUFFIXES", "ModelSettings", "ImportedModule", "ImportedPredictor", "load_model",
           "find_sidecar", "settings_from_form", "store_model", "runtime_of_name"]

PathLike = Union[str, os.PathLike]

RUNTIMES = ("onnx", "torchscript")
CHANNEL_ORDERS = ("RGB", "BGR")
OUTPUT_LAYOUTS = ("NKHW", "NHWK")
OUTPUT_VALUES = ("heatmaps", "logits")
MODEL_SUFFIXES = {".onnx": "onnx", ".pt": "torchscript", ".pth": "torchscript", ".ts": "torchscript",
                  ".torchscript": "torchscript", ".jit": "torchscript"}
"""File suffixes of imported models and the runtime each means."""


@dataclass(frozen=True)
class ModelSettings:
    """How to feed an imported model and read its output.

    input_size: (H, W) of the network input in pixels.
    channel_order: "RGB" or "BGR". value_range: what pixel values 0..255 become before
        normalising, e.g. (0, 1) or (0, 255). mean / std: per channel (in ``channel_order``),
        in that range: the model gets ``(v - mean) / std``; (0, 0, 0) / (1, 1, 1) when it
        normalises inside.
    output_layout: "NKHW" (heatmaps first, as lmkviz and mmpose) or "NHWK".
    output: "heatmaps" (Gaussian-like scores) or "logits" (binary maps trained with BCE;
        lmkviz shows their sigmoid).
    num_points: K heatmaps expected (None: whatever the model outputs).
    scheme_points: points of the landmark scheme the K heatmaps belong to (None: K; 68 is
        iBUG's, 106 LaPa's). indices: which of those points the K heatmaps are (None: all).
    heatmap_size: (h, w) (None: read from the model's output). sigma: the Gaussian sigma
        in heatmap pixels the model was trained with (DARK's default modulation).
    codec: an lmkviz codec dict (``type`` heatmap or udp_heatmap, ...) that overrides
        input_size, heatmap_size, sigma and output.
    flip_perm: channel permutation for the flip test (None: from the scheme when it has one).
    runtime: "onnx" or "torchscript" (None: from the file's suffix).
    """

    input_size: tuple[int, int] = (256, 256)
    channel_order: str = "RGB"
    value_range: tuple[float, float] = (0.0, 1.0)
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    output_layout: str = "NKHW"
    output: str = "heatmaps"
    num_points: Optional[int] = None
    scheme_points: Optional[int] = None
    indices: Optional[tuple[int, ...]] = None
    heatmap_size: Optional[tuple[int, int]] = None
    sigma: float = 2.0
    codec: Optional[dict] = field(default=None, hash=False)
    flip_perm: Optional[tuple[int, ...]] = None
    runtime: Optional[str] = None

    def __post_init__(self) -> None:
        def pair(value, name):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = (value, value)
            try:
                h, w = (int(v) for v in value)
            except (TypeError, ValueError):
                raise ValueError(f"model settings: {name} must be two whole numbers (H, W), got {value!r}") from None
            if h < 1 or w < 1:
                raise ValueError(f"model settings: {name} must be positive, got {value!r}")
            return (h, w)

        object.__setattr__(self, "input_size", pair(self.input_size, "input_size"))
        if self.heatmap_size is not None:
            object.__setattr__(self, "heatmap_size", pair(self.heatmap_size, "heatmap_size"))
        order = str(self.channel_order).upper()
        if order not in CHANNEL_ORDERS:
            raise ValueError(f"model settings: channel_order must be RGB or BGR, got {self.channel_order!r}")
        object.__setattr__(self, "channel_order", order)
        layout = str(self.output_layout).upper().replace(" ", "").replace("X", "").replace("×", "")
        if layout not in OUTPUT_LAYOUTS:
            raise ValueError(f"model settings: output_layout must be one of {', '.join(OUTPUT_LAYOUTS)}, "
                             f"got {self.output_layout!r}")
        object.__setattr__(self, "output_layout", layout)
        if self.output not in OUTPUT_VALUES:
            raise ValueError(f"model settings: output must be 'heatmaps' or 'logits', got {self.output!r}")
        for name, size in (("value_range", 2), ("mean", 3), ("std", 3)):
            value = getattr(self, name)
            try:
                numbers = tuple(float(v) for v in value)
            except (TypeError, ValueError):
                numbers = ()
            if len(numbers) != size or not all(np.isfinite(numbers)):
                raise ValueError(f"model settings: {name} must be {size} finite numbers, got {value!r}")
            object.__setattr__(self, name, numbers)
        if self.value_range[1] == self.value_range[0]:
            raise ValueError("model settings: value_range must span an interval, e.g. (0, 1) or (0, 255)")
        if any(s == 0 for s in self.std):
            raise ValueError("model settings: std must not be 0")
        for name in ("num_points", "scheme_points"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
                raise ValueError(f"model settings: {name} must be a positive whole number or None, got {value!r}")
        if self.indices is not None:
            object.__setattr__(self, "indices", tuple(int(i) for i in self.indices))
        if self.flip_perm is not None:
            object.__setattr__(self, "flip_perm", tuple(int(i) for i in self.flip_perm))
        if not self.sigma > 0:
            raise ValueError(f"model settings: sigma must be > 0, got {self.sigma!r}")
        if self.runtime is not None and self.runtime not in RUNTIMES:
            raise ValueError(f"model settings: runtime must be one of {', '.join(RUNTIMES)}, got {self.runtime!r}")

    @classmethod
    def from_sidecar(cls, data: Any, label: str = "sidecar") -> "ModelSettings":
        """Settings from a sidecar dict (:mod:`lmkviz.export`'s schema); ValueError naming the
        first field that is missing or wrong."""
        from lmkviz.export import SIDECAR_FORMAT, SIDECAR_VERSION

        if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT:
            raise ValueError(f"{label}: not an lmkviz model sidecar (expected \"format\": \"{SIDECAR_FORMAT}\")")
        if data.get("version") != SIDECAR_VERSION:
            raise ValueError(f"{label}: sidecar version {data.get('version')!r} is not supported "
                             f"(this lmkviz reads version {SIDECAR_VERSION})")
        try:
            inp, out = dict(data["input"]), dict(data["output"])
            scheme = dict(data.get("scheme") or {})
            return cls(
                input_size=tuple(inp["size"]), channel_order=inp.get("channel_order", "RGB"),
                value_range=tuple(inp.get("value_range", (0.0, 1.0))), mean=tuple(inp.get("mean", (0, 0, 0))),
                std=tuple(inp.get("std", (1, 1, 1))), output_layout=out.get("layout", "NKHW"),
                output=out.get("values", "heatmaps"),
                heatmap_size=tuple(out["heatmap_size"]) if out.get("heatmap_size") else None,
                num_points=len(scheme["indices"]) if scheme.get("indices") is not None else None,
                scheme_points=scheme.get("num_points"),
                indices=tuple(scheme["indices"]) if scheme.get("indices") is not None else None,
                codec=dict(data["codec"]) if data.get("codec") else None,
                sigma=float((data.get("codec") or {}).get("sigma", 2.0)),
                flip_perm=tuple(scheme["flip_perm"]) if scheme.get("flip_perm") else None,
                runtime=data.get("runtime"),
            )
        except ValueError as err:
            raise ValueError(f"{label}: {err}") from None
        except (KeyError, TypeError) as err:
            raise ValueError(f"{label}: the sidecar lacks or mistypes a field ({type(err).__name__}: {err})") from None

    def to_sidecar(self, model_file: str = "", runtime: Optional[str] = None) -> dict:
        """The sidecar dict of these settings (what :meth:`from_sidecar` reads)."""
        from lmkviz.export import COORDINATES, SIDECAR_FORMAT, SIDECAR_VERSION

        return {
            "format": SIDECAR_FORMAT, "version": SIDECAR_VERSION, "model_file": model_file,
            "runtime": runtime or self.runtime,
            "input": {"name": "image", "layout": "NCHW", "size": list(self.input_size),
                      "channel_order": self.channel_order, "value_range": list(self.value_range),
                      "mean": list(self.mean), "std": list(self.std)},
            "output": {"name": "heatmaps", "layout": self.output_layout,
                       "heatmap_size": list(self.heatmap_size) if self.heatmap_size else None, "values": self.output},
            "codec": self.codec,
            "scheme": self._scheme(),
            "coordinates": COORDINATES,
        }

    def _scheme(self) -> dict:
        out = {"num_points": self.scheme_points, "indices": list(self.indices) if self.indices is not None else None,
               "flip_perm": list(self.flip_perm) if self.flip_perm else None}
        if self.scheme_points:
            from lmkviz.data.schemes import scheme_for

            scheme = scheme_for(self.scheme_points)
            out["name"] = scheme.name
            if self.indices is not None and all(0 <= i < scheme.num_points for i in self.indices):
                out["landmark_names"] = [scheme.names[i] for i in self.indices]
        return out

    def replace(self, **changes: Any) -> "ModelSettings":
        return dataclasses.replace(self, **changes)


def find_sidecar(model_path: PathLike) -> Optional[Path]:
    """The sidecar beside a model file: ``NAME.onnx.json``, else ``NAME.json`` (None when neither exists)."""
    path = Path(model_path)
    for candidate in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if candidate != path and candidate.is_file():
            return candidate
    return None


def runtime_of_name(name: str) -> Optional[str]:
    """"onnx" or "torchscript" from a model file's suffix (:data:`MODEL_SUFFIXES`), None when
    the suffix is not one of them."""
    return MODEL_SUFFIXES.get(Path(name).suffix.lower())


def _runtime_of(path: Path, settings: ModelSettings) -> str:
    if settings.runtime:
        return settings.runtime
    runtime = runtime_of_name(path.name)
    if runtime:
        return runtime
    raise ValueError(f"{display_path(path)}: cannot tell ONNX from TorchScript by the name; give runtime "
                     "'onnx' or 'torchscript' in the settings")


class ImportedModule(nn.Module):
    """An ONNX or TorchScript model behind lmkviz's model interface.

    forward: (N, 3, H, W) float RGB in [0, 1] (lmkviz's input) -> (N, K, h, w) float32 (the
    model's raw output, in the NKHW layout). The input is converted to the model's channel
    order, value range and normalisation (:class:`ModelSettings`) on the way in. An ONNX model
    whose batch size is fixed at 1 is run image by image.
    """

    def __init__(self, path: PathLike, settings: ModelSettings, device: Union[str, torch.device] = "cpu"):
        super().__init__()
        self.path = Path(path)
        self.settings = settings
        self.runtime = _runtime_of(self.path, settings)
        label = display_path(self.path)
        if not self.path.is_file():
            raise ValueError(f"{label}: no such model file")
        lo, hi = settings.value_range
        scale = torch.tensor(settings.std).view(1, 3, 1, 1)
        # pixels p/255 = x in [0, 1] -> (lo + x (hi - lo) - mean) / std, as one affine map
        self.register_buffer("gain", (hi - lo) / scale, persistent=False)
        self.register_buffer("bias", (lo - torch.tensor(settings.mean).view(1, 3, 1, 1)) / scale, persistent=False)
        self.bgr = settings.channel_order == "BGR"
        self._session = None
        self.net: Optional[nn.Module] = None
        self.fixed_batch: Optional[int] = None
        if self.runtime == "onnx":
            self._open_onnx(label)
        else:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still works
                    self.net = torch.jit.load(str(self.path), map_location=torch.device(device))
            except Exception as err:  # corrupt, not TorchScript, a plain checkpoint
                raise ValueError(f"{label}: cannot be loaded as a TorchScript model ({type(err).__name__}); "
                                 "give a file saved with torch.jit.save (a plain checkpoint or state_dict "
                                 "holds no network)") from None
            self.net.eval()
        self.to(device)

    def _open_onnx(self, label: str) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ValueError("ONNX models need the package onnxruntime: pip install onnxruntime") from None
        options = ort.SessionOptions()
        options.log_severity_level = 3
        threads = torch.get_num_threads()
        options.intra_op_num_threads = max(1, threads)
        try:
            self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as err:
            raise ValueError(f"{label}: cannot be loaded as an ONNX model ({type(err).__name__}: "
                             f"{str(err).splitlines()[0][:200] if str(err) else ''})") from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"{label}: the model takes {len(inputs)} inputs; lmkviz feeds one image tensor")
        info = inputs[0]
        if info.type != "tensor(float)":
            raise ValueError(f"{label}: the model's input is {info.type}; lmkviz feeds float32 images")
        shape = list(info.shape)
        if len(shape) != 4:
            raise ValueError(f"{label}: the model's input has {len(shape)} dimensions; expected N x 3 x H x W")
        self._input_name = info.name
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None
        h, w = self.settings.input_size
        fixed = [(shape[i], want, name) for i, want, name in ((1, 3, "channels"), (2, h, "height"), (3, w, "width"))
                 if isinstance(shape[i], int) and shape[i] != want]
        if fixed:
            got, want, name = fixed[0]
            raise ValueError(f"{label}: the model's input {name} is {got}, the settings say {want}; "
                             "set the input size (and layout) to what the model takes")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        if self.bgr:
            x = x.flip(1)
        x = x * self.gain + self.bias
        if self._session is not None:
            array = x.detach().cpu().contiguous().numpy()
            if self.fixed_batch is not None and self.fixed_batch != len(array):
                if self.fixed_batch != 1:
                    raise ValueError(f"{display_path(self.path)}: the model takes batches of exactly "
                                     f"{self.fixed_batch} images")
                parts = [self._session.run(None, {self._input_name: array[i:i + 1]})[0] for i in range(len(array))]
                out = torch.from_numpy(np.concatenate(parts))
            else:
                out = torch.from_numpy(self._session.run(None, {self._input_name: array})[0])
            out = out.to(images.device)
        else:
            out = self.net(x)
            if isinstance(out, (tuple, list)):
                out = out[0]
        if out.ndim != 4:
            raise ValueError(f"{display_path(self.path)}: the model returned {out.ndim} dimensions "
                             f"{tuple(out.shape)}; lmkviz reads N x K x H x W heatmaps")
        if self.settings.output_layout == "NHWK":
            out = out.permute(0, 3, 1, 2)
        return out.float().contiguous()


class ImportedPredictor(Predictor):
    """A :class:`lmkviz.inference.Predictor` for an ONNX or TorchScript model (see the module
    docstring). Attributes as Predictor's: ``model`` (an :class:`ImportedModule`), ``codec``,
    ``loaded`` (``num_points`` of the scheme, ``indices``, ``scheme_name``, ``path``,
    ``model_name``), ``input_size``, ``flip_perm``, ``device``; plus ``settings``,
    ``runtime`` and ``sidecar`` (the settings as a sidecar dict, to save with the model)."""

    def __init__(self, path: PathLike, settings: Optional[ModelSettings] = None,
                 sidecar: Optional[PathLike] = None, device: str = "cpu", flip_test: bool = False,
                 threads: Optional[int] = None):
        from lmkviz.codecs import HeatmapCodec, codec_from_dict
        from lmkviz.data.schemes import flip_perm_for, scheme_for
        from lmkviz.devices import resolve_device

        path = Path(path)
        label = display_path(path)
        if not path.is_file():
            raise ValueError(f"{label}: no such model file" if not path.exists() else f"{label}: is not a file")
        if threads:
            torch.set_num_threads(threads)
        if settings is None:
            side = Path(sidecar) if sidecar is not None else find_sidecar(path)
            if side is None:
                raise ValueError(f"{label}: no sidecar {path.name}.json beside the model; give the settings "
                                 "(input size, normalisation, channel order, output layout, points)")
            settings = ModelSettings.from_sidecar(_read_json(side), display_path(side))
        self.device = resolve_device(device)
        self.model = ImportedModule(path, settings, self.device).eval()
        self.runtime = self.model.runtime
        self.channels_last = False
        with torch.inference_mode():
            probe = self.model(torch.zeros(1, 3, *settings.input_size, device=self.device))
        k, hh, hw = probe.shape[1:]
        if settings.num_points is not None and k != settings.num_points:
            raise ValueError(f"{label}: the model outputs {k} heatmaps of {hh} x {hw} (layout "
                             f"{settings.output_layout}), the settings say {settings.num_points} points")
        if settings.codec:
            try:
                codec = codec_from_dict(dict(settings.codec))
            except (TypeError, ValueError, KeyError) as err:
                raise ValueError(f"{label}: the codec in the settings is not valid ({err})") from None
            if not isinstance(codec, HeatmapCodec):
                raise ValueError(f"{label}: only heatmap codecs (heatmap, udp_heatmap) can read an imported "
                                 f"model, not {type(codec).__name__}")
        else:
            codec = HeatmapCodec(image_size=settings.input_size, heatmap_size=settings.heatmap_size or (hh, hw),
                                 encoding="binary" if settings.output == "logits" else "gaussian",
                                 sigma=settings.sigma)
        if tuple(codec.heatmap_size) != (hh, hw) or tuple(codec.image_size) != settings.input_size:
            raise ValueError(f"{label}: the model outputs {hh} x {hw} heatmaps for a {settings.input_size[0]} x "
                             f"{settings.input_size[1]} input, the settings say {codec.heatmap_size[0]} x "
                             f"{codec.heatmap_size[1]} for {codec.image_size[0]} x {codec.image_size[1]}")
        self.codec = codec
        self.input_size = codec.image_size[0]
        total = settings.scheme_points or (max(settings.indices) + 1 if settings.indices else k)
        indices = list(settings.indices) if settings.indices is not None else list(range(k))
        if len(indices) != k or any(not 0 <= i < total for i in indices):
            raise ValueError(f"{label}: the settings' indices ({len(indices)}) do not name {k} landmarks of a "
                             f"{total}-point scheme")
        scheme = scheme_for(total)
        self.flip_perm = None
        if flip_test:
            if settings.flip_perm is not None:
                self.flip_perm = list(settings.flip_perm)
            else:
                self.flip_perm = flip_perm_for(scheme, indices)  # ValueError when the scheme has no pairs
        self.names = [scheme.names[i] for i in indices]
        self.loaded = ckpt.LoadedCheckpoint(
            path=path, model=self.model, codec=codec, scheme_name=scheme.name, num_points=total, indices=indices,
            summary={}, config={"model": f"{path.name} ({self.runtime})"})
        # everything now known, e.g. to save as a sidecar beside the model
        self.settings = settings.replace(
            num_points=k, scheme_points=total, indices=tuple(indices), heatmap_size=tuple(codec.heatmap_size),
            codec=codec.to_dict(), sigma=float(getattr(codec, "sigma", settings.sigma)), runtime=self.runtime)
        self.sidecar = self.settings.to_sidecar(path.name, self.runtime)

    def describe(self) -> ckpt.CheckpointInfo:
        """What this model is, in the form of a checkpoint's :func:`lmkviz.checkpoint.describe`
        (model: the file name and runtime; no epoch or validation NME)."""
        codec = self.codec
        return ckpt.CheckpointInfo(
            path=str(self.loaded.path), model=f"{self.loaded.path.name} ({self.runtime})",
            scheme=self.loaded.scheme_name, num_points=int(self.loaded.num_points),
            indices=tuple(int(i) for i in self.loaded.indices), codec=getattr(codec, "codec_type", "heatmap"),
            encoding=getattr(codec, "encoding", None), sigma=float(getattr(codec, "sigma", self.settings.sigma)),
            input_size=tuple(int(v) for v in codec.image_size),
            heatmap_size=tuple(int(v) for v in codec.heatmap_size))



def _read_json(path: PathLike) -> Any:
    label = display_path(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise ValueError(f"{label}: cannot read the sidecar ({err.strerror or type(err).__name__})") from None
    if len(raw) > 16 << 20:
        raise ValueError(f"{label}: too large for a sidecar (over 16 MiB)")
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(f"{label}: the sidecar is not valid JSON") from None


def load_model(path: PathLike, settings: Optional[ModelSettings] = None, sidecar: Optional[PathLike] = None,
               device: str = "cpu", flip_test: bool = False, threads: Optional[int] = None):
    """An :class:`ImportedPredictor` for an ONNX or TorchScript heatmap model.

    settings: how to feed and read the model (default: the sidecar, ``sidecar`` or the file
    beside the model, see :func:`find_sidecar`). Raises ValueError saying what is missing or
    does not fit (no sidecar and no settings, an output that is not N x K x H x W, a point
    count or heatmap size other than the settings', a missing onnxruntime).
    """
    return ImportedPredictor(path, settings=settings, sidecar=sidecar, device=device, flip_test=flip_test,
                             threads=threads)


def _numbers(text: Any, count: int, name: str) -> tuple[float, ...]:
    """``count`` numbers from "0.485, 0.456, 0.406" (commas or spaces) or a sequence."""
    if isinstance(text, str):
        parts = [p for p in text.replace(",", " ").replace(";", " ").split() if p]
    else:
        parts = list(text)
    try:
        numbers = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        numbers = ()
    if len(numbers) == 1 and count > 1:
        numbers = numbers * count
    if len(numbers) != count:
        raise ValueError(f"{name}: give {count} numbers separated by commas (or one for all), got {text!r}")
    return numbers


def settings_from_form(input_height: int, input_width: int, channel_order: str = "RGB",
                       value_range: Any = (0.0, 1.0), mean: Any = (0.0, 0.0, 0.0), std: Any = (1.0, 1.0, 1.0),
                       output_layout: str = "NKHW", num_points: Optional[int] = None,
                       scheme_points: Optional[int] = None, output: str = "heatmaps",
                       sigma: float = 2.0) -> ModelSettings:
    """:class:`ModelSettings` from what a person types in a form: ``value_range``, ``mean`` and
    ``std`` as text ("0.485, 0.456, 0.406"; one number stands for all channels) or numbers;
    ``num_points`` the heatmaps the model outputs (None or 0: what it outputs),
    ``scheme_points`` the landmark scheme they belong to (None or 0: the same number).
    ValueError names the field to fix."""
    return ModelSettings(
        input_size=(int(input_height), int(input_width)), channel_order=channel_order,
        value_range=_numbers(value_range, 2, "value range"), mean=_numbers(mean, 3, "mean"),
        std=_numbers(std, 3, "std"), output_layout=output_layout, output=output,
        num_points=int(num_points) if num_points else None,
        scheme_points=int(scheme_points) if scheme_points else (int(num_points) if num_points else None),
        sigma=float(sigma))


def store_model(data: bytes, name: str, folder: PathLike, sidecar: Any = None,
                settings: Optional[ModelSettings] = None) -> Path:
    """Save an uploaded model and its sidecar in ``folder`` so that :func:`load_model` opens it.

    data: the model file's bytes; name: its file name (the suffix says ONNX or TorchScript,
    :data:`MODEL_SUFFIXES`). sidecar: the sidecar (bytes or str of JSON, or a dict) written
    by ``lmkviz export``, or ``settings`` when there is none (e.g. from
    :func:`settings_from_form`). Returns ``folder/<digest>/<name>`` with ``<name>.json``
    beside it; the digest covers the model and its settings, so the same upload lands on
    the same path and other settings on another. ValueError when the name, the sidecar or
    the settings are not usable (the model itself is checked when loaded)."""
    base = Path(str(name).replace("\\", "/")).name
    runtime = runtime_of_name(base)
    if not base or runtime is None:
        raise ValueError(f"{name!r}: a model file must end in {', '.join(MODEL_SUFFIXES)} (ONNX or TorchScript)")
    if not data:
        raise ValueError(f"{base}: the file is empty")
    if sidecar is not None:
        if isinstance(sidecar, (bytes, bytearray)):
            try:
                sidecar = json.loads(bytes(sidecar).decode("utf-8-sig"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise ValueError("the sidecar is not valid JSON: give the .json file `lmkviz export` wrote "
                                 "beside the model, or fill in the settings") from None
        elif isinstance(sidecar, str):
            try:
                sidecar = json.loads(sidecar)
            except json.JSONDecodeError:
                raise ValueError("the sidecar is not valid JSON") from None
        ModelSettings.from_sidecar(sidecar, "the sidecar")  # raises on a wrong one
        record = dict(sidecar)
        described = record.get("runtime")
        if described and described != runtime:
            raise ValueError(f"the sidecar describes {record.get('model_file') or 'another model'} ({described}), not "
                             f"{base} ({runtime}): upload the sidecar written with this model, or remove it and "
                             "fill in the settings")
        record["model_file"] = base
        record["runtime"] = runtime
    elif settings is not None:
        record = settings.to_sidecar(base, settings.runtime or runtime)
    else:
        raise ValueError(f"{base}: give its sidecar (the .json `lmkviz export` writes) or its settings")
    import hashlib

    text = json.dumps(record, indent=2, sort_keys=True)
    digest = hashlib.sha256(bytes(data) + text.encode("utf-8")).hexdigest()[:16]
    where = Path(folder) / digest
    where.mkdir(parents=True, exist_ok=True)
    path = where / base
    for target, payload in ((path, bytes(data)), (where / (base + ".json"), text.encode("utf-8"))):
        if not target.is_file() or target.read_bytes() != payload:
            partial = target.with_name(target.name + ".part")
            partial.write_bytes(payload)
            os.replace(partial, target)
    return path
