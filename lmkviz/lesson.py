"""The numbers behind the Lesson page: the blog post's argument, one small experiment per step.

No Streamlit here; every function returns plain numbers and arrays in the lmkviz
convention (pixel ``j`` spans ``[j, j + 1)``, centre ``j + 0.5``).

1. Direct regression against heatmaps: :func:`load_regression_comparison` reads
   ``lmkviz/assets/lesson_regression.json`` (written by ``bench/lesson_regression.py``:
   ``resnet18_regression`` and a U-Net on the same ResNet-18, same data and budget).
2. A heatmap per landmark: :func:`lmkviz.labs.encode_sample` on :func:`lesson_face`.
3. Sigma's trade-off: :func:`sigma_tradeoff` (what an all-zero output costs against how
   precisely a noisy blob can be read).
4. and 5. The blog's rounding and randomized rounding: :mod:`lmkviz.labs`
   (:data:`BLOG_IMAGE`, :data:`BLOG_POINT`).
6. Top-k: :func:`rounding_map` (what a network trained on random rounding learns) and
   :func:`topk_demo`.
7. HRNet against U-Net: :func:`feature_strides` (a forward pass with hooks).
8. and 9. DARK and the flip test on the lesson's model (:data:`LESSON_CHECKPOINT`): :func:`face_view`.
10. The whole pipeline on a dataset: :func:`lmkviz.evaluation.evaluate` and that model's
    training history (:func:`model_history`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from lmkviz import paths

REGRESSION_RESULTS = paths.PACKAGE_DIR / "assets" / "lesson_regression.json"
"""Direct regression against heatmaps, trained by ``bench/lesson_regression.py``."""

LESSON_CHECKPOINT = "fast-cpu"
"""The shipped checkpoint the lesson runs (``checkpoints/fast-cpu.pt``): the small HRNet at
128 px with 32 x 32 maps, quick on a CPU, whose coarse grid shows what decoding is for."""

LESSON_RUN = paths.PROJECT_ROOT / "checkpoints" / f"{LESSON_CHECKPOINT}-run"
"""That model's run folder (config, metrics.jsonl) in a checkout."""

BLOG_IMAGE = (2500, 2500)
BLOG_POINT = (1822.0, 412.0)
"""The blog's rounding example: a point at (1822, 412) in a 2500 x 2500 image."""

LESSON_INPUT = 128
"""Input side of the lesson's faces (its model's and the regression experiment's)."""


# --------------------------------------------------------------------------- faces


def lesson_face(index: int = 0, size: int = LESSON_INPUT, dataset: str = "synthetic",
                split: str = "val") -> tuple[np.ndarray, np.ndarray]:
    """One face as the networks see it: (image (S, S, 3) uint8, points (K, 2) in its px).

    ``dataset`` "synthetic" (always there) or any name :func:`lmkviz.data.open_split`
    knows; the image is resized whole to ``size`` (the evaluation transform).
    """
    from lmkviz.data import open_split
    from lmkviz.labs import network_input

    reader = open_split(dataset, split)
    sample = reader[int(index) % len(reader)]
    return network_input(sample.image, sample.points, size)


def lesson_dataset(names: Sequence[str]) -> str:
    """The dataset the lesson's real-face steps use: "face68" when it is among ``names``
    (datasets found in data/ and $LMKVIZ_DATA), else "synthetic"."""
    return "face68" if "face68" in names else "synthetic"


# --------------------------------------------------------------------------- 1. regression


@dataclass(frozen=True)
class RegressionComparison:
    """Direct regression and heatmaps trained the same way (see ``bench/lesson_regression.py``).

    nme: {"regression", "heatmap"} -> validation NME (%) per epoch. models, decoders,
    seconds: per kind. target: (n, K, 2) true points of synthetic "val" faces 0..n-1 in
    input px (:data:`LESSON_INPUT`); points: {kind: (n, K, 2)} the models' points there.
    sample_nme: {kind: (n,)} NME (%) of each of those faces. settings: the shared config.
    """

    nme: dict
    models: dict
    decoders: dict
    seconds: dict
    target: np.ndarray
    points: dict
    sample_nme: dict
    settings: dict

    KINDS = ("regression", "heatmap")

    @property
    def epochs(self) -> list[int]:
        return list(range(1, len(self.nme["regression"]) + 1))

    def final(self, kind: str) -> float:
        """Validation NME (%) after the last epoch."""
        return float(self.nme[kind][-1])

    def better(self) -> str:
        """The kind with the lower final NME."""
        return min(self.KINDS, key=self.final)

    def ratio(self) -> float:
        """How many times larger the worse final NME is than the better one."""
        a, b = sorted(self.final(k) for k in self.KINDS)
        return b / a

    def minutes(self, kind: str) -> float:
        """Training time of ``kind`` in minutes."""
        return self.seconds[kind] / 60

    def errors(self, kind: str, sample: int) -> np.ndarray:
        """(K,) distance in input px between ``kind``'s points and the truth on face ``sample``."""
        return np.linalg.norm(self.points[kind][sample] - self.target[sample], axis=-1)


def load_regression_comparison(path: Optional[Path] = None) -> RegressionComparison:
    """Read the results of ``bench/lesson_regression.py`` (default :data:`REGRESSION_RESULTS`).

    ValueError (saying how to make it) when the file is missing or not such a result.
    """
    path = Path(path) if path is not None else REGRESSION_RESULTS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        models = data["models"]
        kinds = RegressionComparison.KINDS
        return RegressionComparison(
            nme={k: [float(v) for v in models[k]["nme"]] for k in kinds},
            models={k: models[k]["model"] for k in kinds},
            decoders={k: models[k]["decoder"] for k in kinds},
            seconds={k: float(models[k]["train_seconds"]) for k in kinds},
            target=np.asarray(data["target"], dtype=np.float64),
            points={k: np.asarray(models[k]["points"], dtype=np.float64) for k in kinds},
            sample_nme={k: np.asarray(models[k]["sample_nme"], dtype=np.float64) for k in kinds},
            settings=dict(data["settings"]))
    except FileNotFoundError:
        raise ValueError(f"{paths.display_path(path)} is missing: run `python bench/lesson_regression.py` "
                         "to train the two models and write it") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{paths.display_path(path)} is not a result of bench/lesson_regression.py "
                         f"({type(err).__name__}: {err}); run it again") from None


# --------------------------------------------------------------------------- 3. sigma


def empty_map_loss(sigma: float, heatmap_size: int) -> float:
    """The MSE of predicting an all-zero map against one Gaussian target (peak 1, ``sigma``
    cells) on a ``heatmap_size`` square map: the mean of the target's squares. The smaller,
    the less a network loses by painting nothing at all."""
    cells = np.arange(heatmap_size) + 0.5
    centre = heatmap_size / 2
    g = np.exp(-((cells - centre) ** 2) / (2 * float(sigma) ** 2))
    return float((np.outer(g, g) ** 2).mean())


def sigma_tradeoff(sigmas: Sequence[float], heatmap_size: int = 32, image_size: int = LESSON_INPUT,
                   noise: float = 0.05, n: int = 256, seed: int = 0) -> dict:
    """Both sides of choosing sigma (heatmap cells), for sub-pixel Gaussian targets.

    Returns {"x": sigmas, "empty_loss": [...] (:func:`empty_map_loss`), "argmax": [...],
    "dark": [...]}: the mean round-trip error in image px of each decoder on maps with
    Gaussian noise of std ``noise`` (a stand-in for an imperfect network), n points each
    (:func:`lmkviz.labs.roundtrip`).
    """
    from lmkviz.labs import roundtrip, torch_threads

    out = {"x": [float(s) for s in sigmas], "empty_loss": [], "argmax": [], "dark": []}
    with torch_threads(1):
        for s in sigmas:
            out["empty_loss"].append(empty_map_loss(s, heatmap_size))
            result = roundtrip(image_size, heatmap_size, float(s), "gaussian", noise=noise, n=n, seed=seed)
            out["argmax"].append(result.mean["argmax"])
            out["dark"].append(result.mean["dark"])
    return out


# --------------------------------------------------------------------------- 6. top-k


def rounding_map(point_hm: Sequence[float], size: int) -> np.ndarray:
    """(size, size) map of the probabilities randomized rounding gives each cell for one
    point (heatmap px): what a network trained on many random binary targets learns to
    output (sigmoid of its logits), four non-zero cells around the point."""
    from lmkviz.labs import rounding_probabilities

    out = np.zeros((size, size), dtype=np.float64)
    for col, row, p in rounding_probabilities(tuple(point_hm), (size, size)):
        out[row, col] += p
    return out


def topk_demo(point_hm: Sequence[float], size: int, k: int, noise: float = 0.0,
              seed: int = 0) -> tuple[np.ndarray, dict]:
    """:func:`rounding_map` plus noise (std ``noise``, clipped to [0, 1]: probabilities), and
    what argmax and top-k (value-weighted, local, ``k`` cells) read from it:
    (map (size, size), {"argmax": (x, y), "topk": (x, y)} heatmap px)."""
    from lmkviz.decoding import decode
    from lmkviz.labs import add_noise, torch_threads

    with torch_threads(1):
        maps = torch.as_tensor(rounding_map(point_hm, size))[None, None]
        maps = add_noise(maps, noise, seed).clamp(0, 1)
        found = {m: decode(maps, m, k=int(k), logits=False)[0, 0].tolist() for m in ("argmax", "topk")}
    return maps[0, 0].numpy(), found


# --------------------------------------------------------------------------- 7. resolutions


@dataclass(frozen=True)
class LayerResolution:
    """One convolution met during a forward pass: its ``order`` of execution, module
    ``name``, output ``stride`` (input side / output side) and output ``channels``."""

    order: int
    name: str
    stride: float
    channels: int


def feature_strides(model: str, input_size: int = 64, **kwargs) -> list[LayerResolution]:
    """Every convolution of architecture ``model`` in the order a forward pass runs them,
    with the resolution it works at (a forward pass on one ``input_size`` image with hooks;
    untrained weights, only shapes matter). ``kwargs`` go to :func:`lmkviz.models.create`."""
    from torch import nn

    from lmkviz import models

    net = models.create(model, 1, pretrained=False, **kwargs).eval()
    seen: list[LayerResolution] = []

    def hook(name):
        def record(module, inputs, output):
            if isinstance(output, torch.Tensor) and output.ndim == 4:
                seen.append(LayerResolution(len(seen), name, input_size / output.shape[-1], int(output.shape[1])))
        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in net.named_modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, input_size, input_size))
    finally:
        for h in handles:
            h.remove()
    return seen


def stride_summary(layers: Sequence[LayerResolution]) -> dict:
    """{stride: share of the convolutions working at it} and the finest stride of the last
    convolution: {"share": {...}, "last": stride, "always_fine": bool}. ``always_fine``:
    the finest resolution of the net stays in use throughout (each quarter of the forward
    pass runs a convolution at it)."""
    strides = np.array([layer.stride for layer in layers])
    finest_after_stem = strides[strides >= 4].min() if (strides >= 4).any() else strides.min()
    quarters = np.array_split(strides, 4)
    share = {float(s): float(np.mean(strides == s)) for s in np.unique(strides)}
    return {"share": share, "last": float(strides[-1]),
            "always_fine": bool(all((q <= finest_after_stem).any() for q in quarters if len(q)))}


# --------------------------------------------------------------------------- 8. and 9. the lesson's model


@dataclass(frozen=True)
class FaceView:
    """The lesson's model on one face (all in the network input's pixels).

    maps: (K, h, w) heatmaps (scores); points: {decoder: (K, 2)}; stride: input px per
    heatmap cell. With a flip view: ``mirrored`` {decoder: (K, 2)} the mirrored image's
    points mapped back, ``maps`` and ``points`` then the flip-averaged ones.
    """

    maps: np.ndarray
    points: dict
    stride: float
    mirrored: Optional[dict] = None

    def to_heatmap(self, points) -> np.ndarray:
        """(..., 2) input px -> heatmap px."""
        return np.asarray(points, dtype=np.float64) / self.stride


def face_view(model, codec, image: np.ndarray, flip_perm: Optional[Sequence[int]] = None) -> FaceView:
    """Run ``model`` (with its heatmap ``codec``) on an (S, S, 3) uint8 network input.

    flip_perm: also the flip test (:func:`lmkviz.evaluation.predict_heatmaps`): the
    result's maps and points are then the averaged ones, and ``mirrored`` holds what
    the mirrored image alone gives once mapped back.
    """
    from lmkviz.decoding import flip_heatmaps
    from lmkviz.evaluation import predict_heatmaps

    batch = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().div(255)
    with torch.inference_mode():
        model.eval()
        out = predict_heatmaps(model, batch, flip_perm=flip_perm, logits=codec.outputs_logits)
        mirrored = None
        if flip_perm is not None:
            back = flip_heatmaps(model(batch.flip(-1)).float(), flip_perm)
            mirrored = {m: codec.decode(back, m)[0].numpy() for m in codec.decoders}
        points = {m: codec.decode(out, m)[0].numpy() for m in codec.decoders}
    maps = torch.sigmoid(out) if codec.outputs_logits else out
    return FaceView(maps=maps[0].numpy(), points=points, stride=float(codec.stride), mirrored=mirrored)


def point_errors(points: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(K,) Euclidean distances between (K, 2) points and the (K, 2) truth (NaN where missing)."""
    return np.linalg.norm(np.asarray(points, float) - np.asarray(target, float), axis=-1)


def mean_error(points: np.ndarray, target: np.ndarray) -> float:
    """Mean of :func:`point_errors` over the landmarks that have both."""
    errors = point_errors(points, target)
    return float(np.nanmean(errors)) if np.isfinite(errors).any() else math.nan


# --------------------------------------------------------------------------- 10. the model's training run


def model_history(run_dir: Optional[Path] = None) -> list[dict]:
    """The lesson model's epoch records (``val_nme`` per decoder, ...) from its run folder
    (default :data:`LESSON_RUN`) through :class:`lmkviz.runs.RunFolder`; [] when absent."""
    from lmkviz.runs import RunFolder

    folder = RunFolder(LESSON_RUN if run_dir is None else run_dir)
    return folder.history()[1]


def best_in_table(rows: Sequence[dict], column: str = "nme") -> str:
    """The decoder of the row of :meth:`lmkviz.evaluation.Evaluation.table` with the lowest ``column``."""
    return min(rows, key=lambda r: r[column] if math.isfinite(r[column]) else math.inf)["decoder"]


def flip_effect(rows: Sequence[dict], decoder: str = "dark") -> dict:
    """What the flip test did to ``decoder`` in rows with a "flip" flag (Compare-table rows of
    both runs): {"plain", "flip" (NME %), "change" (% of plain, negative = better), "n"}."""
    plain = next(r for r in rows if r["decoder"] == decoder and not r["flip"])
    flipped = next(r for r in rows if r["decoder"] == decoder and r["flip"])
    change = 100 * (flipped["nme"] - plain["nme"]) / plain["nme"] if plain["nme"] else math.nan
    return {"plain": plain["nme"], "flip": flipped["nme"], "change": change, "n": plain.get("n")}


def decoder_summary(rows: Sequence[dict]) -> dict:
    """The best decoder without the flip test and what it gains over argmax: {"best", "best_nme",
    "argmax_nme", "gain" (% less error than argmax), "best_flip_nme" (the best with the flip test)}."""
    plain = [r for r in rows if not r.get("flip")]
    flipped = [r for r in rows if r.get("flip")]
    best = best_in_table(plain)
    best_nme = next(r["nme"] for r in plain if r["decoder"] == best)
    argmax = next((r["nme"] for r in plain if r["decoder"] == "argmax"), math.nan)
    return {"best": best, "best_nme": best_nme, "argmax_nme": argmax,
            "gain": 100 * (argmax - best_nme) / argmax if argmax else math.nan,
            "best_flip_nme": min((r["nme"] for r in flipped), default=math.nan)}


def empty_loss_ratio(wide: float, narrow: float, heatmap_size: int = 32) -> float:
    """How many times more an all-zero output loses against a ``wide`` blob than a ``narrow`` one."""
    return empty_map_loss(wide, heatmap_size) / empty_map_loss(narrow, heatmap_size)


# --------------------------------------------------------------------------- answers read from the data
# The right option of a data-driven question, from what the step measured (the pages show the
# options; these rules pick the one the numbers support).


def regression_answer(comparison) -> int:
    """The right option of step 1, from the results: 0 regression, 1 heatmaps, 2 about the same
    (final NMEs within 15 % of each other)."""
    if comparison.ratio() < 1.15:
        return 2
    return 1 if comparison.better() == "heatmap" else 0


def architecture_answer(layers: dict) -> int:
    """0 U-Net, 1 HRNet, 2 both: which networks keep their finest resolution in use throughout."""
    unet, hrnet = (stride_summary(seq)["always_fine"] for seq in layers.values())
    return 2 if unet and hrnet else (1 if hrnet else 0)


def flip_answer(effect: dict) -> int:
    """0 a little lower, 1 about half, 2 not lower."""
    if not effect["change"] < 0:
        return 2
    return 1 if effect["change"] <= -35 else 0


def decoder_answer(summary: dict) -> int:
    """0 under 10 %, 1 from 10 to 40 %, 2 over 40 % of argmax's error removed."""
    return 0 if summary["gain"] < 10 else (1 if summary["gain"] <= 40 else 2)
