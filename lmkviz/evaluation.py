"""The one evaluator: training validation, ``lmkviz evaluate``, the Compare page and the benchmarks.

    result = evaluate("runs/RUN/best.pt", "face68", "val")    # a checkpoint on a dataset split
    result.summary()        # {"n", "points", "nme": {decoder: %}, "fr10": {...}, "auc10": {...}}
    result.per_landmark()   # {decoder: (k,) mean error / inter-ocular distance}

What is measured, the same way everywhere:

* Dataset images are face crops (the LaPa layout). Each whole image is resized to
  the network's S x S input (:func:`evaluation_dataset`, the validation transform
  of training), so a non-square image is stretched on the way in.
* The network's output (heatmaps, or a SimCC head's x and y logits; optionally
  flip-averaged, :func:`predict_heatmaps`) is decoded by every decoder of the
  checkpoint's codec (``codec.decoders``: the five heatmap decoders, or SimCC's
  argmax, dark and softargmax) into input pixels and mapped back to each ORIGINAL
  image per axis with :func:`lmkviz.coords.rescale_batch`.
* NME = mean point error / inter-ocular distance of the full ground-truth point set,
  between the scheme's own outer eye corners (:attr:`LandmarkScheme.eye_corners`:
  36/45 for iBUG 68, 66/79 for LaPa 106), all in original pixels. FR@10 and AUC@10
  come from :mod:`lmkviz.metrics`.

The training loop logs ``val_nme`` from :func:`evaluate_model` on the same dataset
in fp32, so ``lmkviz evaluate --checkpoint RUN/best.pt --split val`` gives the NME
logged for the best epoch.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from lmkviz import coords, metrics
from lmkviz.decoding import flip_outputs
from lmkviz.encoding import HeatmapCodec
from lmkviz.losses import LossFunction

__all__ = ["Evaluation", "Evaluator", "SampleView", "applicable_decoders", "evaluate", "evaluate_model",
           "evaluation_dataset", "predict_heatmaps", "primary_decoder"]

Progress = Optional[Callable[[int, int], None]]


def primary_decoder(codec) -> str:
    """The decoder a run is judged by (best.pt, the Train page): the codec's
    ``primary_decoder`` ("dark" for Gaussian heatmaps, UDP's included, and SimCC;
    "topk" for binary maps, the H3R setup; "direct" for the direct-regression
    baseline, :class:`lmkviz.codecs.RegressionCodec`). ``codec`` may also be a training
    encoding name (:data:`lmkviz.training.config.TRAIN_ENCODINGS` or "regression")."""
    if isinstance(codec, str):
        return {"binary": "topk", "regression": "direct"}.get(codec, "dark")
    return codec.primary_decoder


def _is_pair(outputs) -> bool:
    return isinstance(outputs, (tuple, list))


def predict_heatmaps(model: nn.Module, images: torch.Tensor, *, flip_perm: Optional[Sequence[int]] = None,
                     logits: bool = False, amp: bool = False, channels_last: bool = False):
    """Run ``model`` on a batch: (N, 3, S, S) float on the model's device -> its output in float32:
    (N, K, h, w) heatmaps, or the pair ``(x_logits (N, K, W_x), y_logits (N, K, H_y))`` of a
    SimCC head (:class:`lmkviz.models.SimCCHead`).

    flip_perm: the flip test. The mirrored images are run too, their output is
        mirrored back (:func:`lmkviz.decoding.flip_outputs`: heatmap columns or SimCC
        x-bins reversed) and the landmarks reordered by ``flip_perm`` (a permutation of
        the K outputs, e.g. :func:`lmkviz.data.schemes.flip_perm_for`), and the two are
        averaged in the codec's output space: probabilities for ``logits`` (the result
        is the logit of the mean probability), the maps themselves otherwise; for SimCC
        the softmax distributions of each vector (the result is the log of the mean
        distribution, whose softmax is that mean; ``logits`` is not used).
    amp: bfloat16 autocast. channels_last: NHWC input layout.
    Returns the raw output (logits when ``logits``). The caller chooses no_grad /
    inference_mode and eval mode.
    """
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)

    def run(batch):
        out = model(batch)
        return tuple(o.float() for o in out) if _is_pair(out) else out.float()

    with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=amp):
        out = run(images)
        if flip_perm is not None and not _is_pair(out) and out.ndim != 4:
            raise ValueError("the flip test mirrors heatmaps; this model outputs points (direct regression), "
                             "evaluate it without the flip test")
        if flip_perm is not None:
            mirrored = flip_outputs(run(images.flip(-1)), flip_perm)
            if _is_pair(out):
                out = tuple(torch.logaddexp(torch.log_softmax(a, -1), torch.log_softmax(b, -1)) - math.log(2)
                            for a, b in zip(out, mirrored))
            elif logits:
                out = torch.logit((torch.sigmoid(out) + torch.sigmoid(mirrored)) / 2, eps=1e-6)
            else:
                out = (out + mirrored) / 2
    return out


def applicable_decoders(codec, decoders: Optional[Sequence[str]] = None) -> tuple:
    """The decoders to score a model of ``codec`` with: ``codec.decoders`` when
    ``decoders`` is None, else ``decoders`` checked against them (a ValueError names
    those that do not apply, e.g. "quarter" for a SimCC model)."""
    available = tuple(codec.decoders)
    if decoders is None:
        return available
    decoders = tuple(decoders)
    wrong = [m for m in decoders if m not in available]
    if wrong:
        kind = getattr(codec, "codec_type", type(codec).__name__)
        raise ValueError(f"decoder(s) {', '.join(wrong)} do not apply to a {kind} model; "
                         f"it decodes with {', '.join(available)}")
    return decoders


def evaluation_dataset(split: Any, input_size: int, limit: Optional[int] = None):
    """The dataset the evaluator scores: every image of a split reader resized to
    ``input_size`` x ``input_size`` (no augmentation), items carrying their original size
    and points; the first ``limit`` images when ``limit`` is a positive number."""
    from lmkviz.data.augment import AugmentConfig, build_transform
    from lmkviz.data.dataset import LandmarkDataset

    ds = LandmarkDataset(split, transform=build_transform(AugmentConfig(input_size=input_size), train=False))
    if limit:
        ds = torch.utils.data.Subset(ds, range(min(int(limit), len(ds))))
    return ds


@dataclass
class Evaluation:
    """A model scored on N images (every coordinate in ORIGINAL image pixels).

    names: N sample names. target: (N, k, 2) annotated points of the k predicted
    landmarks. pred: {decoder: (N, k, 2)}. confidence: (N, k) peak scores (sigmoid
    of the logit for binary models). nme: {decoder: (N,) per-image NME, a fraction}.
    norm: (N,) inter-ocular distances (of the full point set). indices: the k
    landmarks of the scheme. image_sizes: (N, 2) original (H, W). heatmaps: (N, k, h, w)
    float16 raw network output (flip-averaged with the flip test) when asked for (heatmap
    codecs). vectors: the same for a SimCC model, ``(x (N, k, W_x), y (N, k, H_y))`` float16
    logits (draw them with :meth:`lmkviz.codecs.SimCCCodec.probabilities` or
    ``pseudo_heatmaps``). loss: mean validation loss when asked for. codec: the model's
    codec; ``pred`` and ``nme`` hold one entry per decoder scored (by default every
    decoder of ``codec.decoders``).
    """

    names: list
    target: np.ndarray
    pred: dict
    confidence: np.ndarray
    nme: dict
    norm: np.ndarray
    indices: list
    image_sizes: np.ndarray
    flip_test: bool = False
    heatmaps: Optional[np.ndarray] = None
    loss: Optional[float] = None
    codec: Optional[Any] = None
    scheme_name: str = ""
    checkpoint: str = ""
    dataset: str = ""
    split: str = ""
    vectors: Optional[tuple] = None

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def decoders(self) -> list:
        """The decoders scored, in order (the keys of ``pred`` and ``nme``)."""
        return list(self.nme)

    @property
    def primary_decoder(self) -> Optional[str]:
        """The codec's primary decoder when it was scored, else the first decoder scored."""
        primary = getattr(self.codec, "primary_decoder", None)
        return primary if primary in self.nme else next(iter(self.nme), None)

    def mean_nme(self) -> dict:
        """{decoder: mean NME in %} (NaN when nothing could be scored)."""
        return {m: float(np.mean(e) * 100) if len(e) else float("nan") for m, e in self.nme.items()}

    def summary(self) -> dict:
        """{"n", "points", "nme": {dec: %}, "fr10": {dec: %}, "auc10": {dec: %}} (4 decimals)."""
        out = {"n": self.n, "points": len(self.indices), "nme": {}, "fr10": {}, "auc10": {}}
        for m, e in self.nme.items():
            s = metrics.summarize(torch.as_tensor(e, dtype=torch.float64))
            out["nme"][m] = round(s["nme"], 4)
            out["fr10"][m] = round(s["fr10"], 4)
            out["auc10"][m] = round(s["auc10"], 4)
        return out

    def per_landmark(self) -> dict:
        """{decoder: (k,) mean error of each landmark / inter-ocular distance, a fraction}."""
        return {m: np.nanmean(np.linalg.norm(p - self.target, axis=-1) / self.norm[:, None], axis=0)
                for m, p in self.pred.items()}

    def table(self, base: str = "argmax") -> list[dict]:
        """One row per decoder: {"decoder", "nme", "fr10", "auc10"} in % (:meth:`summary`) and
        "vs_base": the NME's change relative to decoder ``base`` in % (negative = better;
        None for ``base`` itself or when it is missing or zero)."""
        s = self.summary()
        reference = s["nme"].get(base)
        rows = []
        for m in self.nme:
            nme = s["nme"][m]
            change = 100 * (nme - reference) / reference if reference and m != base else None
            rows.append({"decoder": m, "nme": nme, "fr10": s["fr10"][m], "auc10": s["auc10"][m], "vs_base": change})
        return rows

    def best_decoder(self) -> str:
        """The decoder with the lowest mean NME (the first of equals; NaN counts last)."""
        means = self.mean_nme()
        return min(means, key=lambda m: means[m] if np.isfinite(means[m]) else np.inf)

    def ranked(self, decoder: str) -> np.ndarray:
        """Row numbers sorted by ``decoder``'s per-image NME, worst first (NaN last)."""
        e = np.asarray(self.nme[decoder], dtype=float)
        return np.argsort(np.where(np.isfinite(e), -e, np.inf), kind="stable")

    def row_at_rank(self, decoder: str, rank: int) -> int:
        """The row of the ``rank``-th worst image for ``decoder`` (rank 1 = the worst)."""
        return int(self.ranked(decoder)[int(rank) - 1])

    def image_nme(self, row: int) -> dict:
        """{decoder: NME of image ``row`` in %}."""
        return {m: float(e[row]) * 100 for m, e in self.nme.items()}

    def worst_landmark(self, row: int, decoder: str) -> int:
        """Position (0..k-1) of the landmark with the largest error of ``decoder`` in image
        ``row`` (0 when no landmark can be scored)."""
        errors = metrics.point_errors(self.pred[decoder][row][None], self.target[row][None])[0].numpy()
        return int(np.nanargmax(errors)) if np.isfinite(errors).any() else 0

    def positions_in(self, split: Any) -> np.ndarray:
        """(N,) the index in the split reader ``split`` of each row, found by name (an
        evaluation skips unreadable images, so rows and indices can differ); -1 when absent."""
        names = getattr(split, "names", None) or [split[i].name for i in range(len(split))]
        where = {name: i for i, name in enumerate(names)}
        return np.array([where.get(name, -1) for name in self.names], dtype=np.int64)

    def sample_view(self, row: int) -> "SampleView":
        """The network's view of image ``row`` (needs ``keep_heatmaps=True``): its heatmaps
        as scores and every point in network-input and heatmap pixels. For a SimCC model
        the maps are its pseudo-heatmaps (:meth:`lmkviz.codecs.SimCCCodec.pseudo_heatmaps`)
        at the input size, so "heatmap pixels" are input pixels (stride 1)."""
        simcc = self.vectors is not None and self.codec is not None and hasattr(self.codec, "pseudo_heatmaps")
        if not simcc and (self.heatmaps is None or self.codec is None or not hasattr(self.codec, "heatmap_size")):
            raise ValueError("this evaluation kept no heatmaps: evaluate with keep_heatmaps=True")
        size = torch.as_tensor(self.image_sizes[row:row + 1])
        if simcc:
            pair = tuple(torch.as_tensor(v[row:row + 1]).float() for v in self.vectors)
            maps = self.codec.pseudo_heatmaps(pair)[0]
            grid = tuple(self.codec.image_size)

            def to_grid(points: torch.Tensor) -> torch.Tensor:
                return points
        else:
            raw = torch.as_tensor(self.heatmaps[row]).float()
            maps = self.codec.display_maps(raw)
            grid = tuple(self.codec.heatmap_size)
            to_grid = self.codec.image_to_heatmap

        def to_input(points: np.ndarray) -> torch.Tensor:
            return coords.rescale_batch(torch.as_tensor(points, dtype=torch.float64)[None], size,
                                        self.codec.image_size)[0]

        target = to_input(self.target[row])
        pred = {m: to_input(p[row]) for m, p in self.pred.items()}
        return SampleView(
            maps=maps.numpy().astype(np.float32), input_size=tuple(self.codec.image_size),
            heatmap_size=grid, stride=1.0 if simcc else float(self.codec.stride),
            target=target.numpy(), pred={m: p.numpy() for m, p in pred.items()},
            target_hm=to_grid(target).numpy(),
            pred_hm={m: to_grid(p).numpy() for m, p in pred.items()})


@dataclass(frozen=True)
class SampleView:
    """One evaluated image as the network saw it (:meth:`Evaluation.sample_view`).

    maps: (k, h, w) heatmaps as scores (sigmoid of the logits for binary models).
    input_size: (H, W) of the network input; heatmap_size: (h, w); stride: input px per
    cell along x. target, pred[decoder]: (k, 2) in network-input px; target_hm,
    pred_hm[decoder]: the same in heatmap px.
    """

    maps: np.ndarray
    input_size: tuple
    heatmap_size: tuple
    stride: float
    target: np.ndarray
    pred: dict
    target_hm: np.ndarray
    pred_hm: dict

    def annotated(self, landmark: int) -> bool:
        """True when landmark position ``landmark`` (0..k-1) has an annotation in this image."""
        return bool(np.isfinite(self.target[landmark]).all())


class Evaluator:
    """Accumulates the scores of one model batch by batch (:func:`evaluate_model` drives it).

    model, codec: the network (in eval mode, on ``device``) and its codec (heatmap,
        UDP or SimCC, :mod:`lmkviz.codecs`).
    indices: the k landmarks the model predicts, of a scheme with K points.
    eye_corners: indices (into the K points) of the scheme's outer eye corners, or
        None (NME is then NaN). flip_perm: flip test (see :func:`predict_heatmaps`).
    decoders: the decoders to score; None: every one of ``codec.decoders``. A decoder
        that does not apply to the codec is a ValueError.
    loss_fn: also compute the training loss (:func:`lmkviz.losses.make_loss`) when given.
    keep_heatmaps: keep the raw output as float16 (SimCC: in ``Evaluation.vectors``).

    A sample whose name was already seen is left out: a dataset replaces an unreadable
    image by the next good one, which must not count twice.
    """

    def __init__(self, model: nn.Module, codec: HeatmapCodec, *, indices: Sequence[int],
                 eye_corners: Optional[Sequence[int]], device: torch.device, flip_perm: Optional[Sequence[int]] = None,
                 amp: bool = False, channels_last: bool = False, decoders: Optional[Sequence[str]] = None,
                 loss_fn: Optional[LossFunction] = None, keep_heatmaps: bool = False):
        self.model, self.codec, self.device = model, codec, torch.device(device)
        self.indices = [int(i) for i in indices]
        self.eye_corners = None if eye_corners is None else tuple(int(i) for i in eye_corners)
        self.flip_perm = None if flip_perm is None else [int(i) for i in flip_perm]
        self.amp, self.channels_last = amp, channels_last
        self.decoders = applicable_decoders(codec, decoders)
        self.loss_fn, self.keep_heatmaps = loss_fn, keep_heatmaps
        self._idx = torch.as_tensor(self.indices, dtype=torch.long)
        self._idx_dev = self._idx.to(self.device)
        self._seen: set = set()
        self._names: list = []
        self._parts: dict[str, list] = {k: [] for k in ("target", "norm", "sizes", "confidence", "heatmaps",
                                                        "x", "y")}
        self._pred: dict[str, list] = {m: [] for m in self.decoders}
        self._loss_sum, self._loss_n = 0.0, 0

    @torch.no_grad()
    def add(self, batch: dict) -> Optional[torch.Tensor]:
        """Score one collated batch of an :func:`evaluation_dataset` ({"image", "points",
        "name", "original_size", "original_points"}). Returns the raw output of the kept
        samples ((N, k, h, w) heatmaps or a SimCC pair, see :func:`predict_heatmaps`; None
        when all were seen before)."""
        names = list(batch["name"])
        keep = []
        for i, name in enumerate(names):
            if name not in self._seen:
                self._seen.add(name)
                keep.append(i)
        if not keep:
            return None
        rows = slice(None) if len(keep) == len(names) else torch.as_tensor(keep)
        images = batch["image"][rows].to(self.device, non_blocking=True)
        out = predict_heatmaps(self.model, images, flip_perm=self.flip_perm, logits=self.codec.outputs_logits,
                               amp=self.amp, channels_last=self.channels_last)
        if self.loss_fn is not None:
            target_in = batch["points"][rows].to(self.device)[:, self._idx_dev]
            loss = self.loss_fn(out, target_in)
            self._loss_sum += loss.item() * len(keep)
            self._loss_n += len(keep)
        sizes = batch["original_size"][rows].to(torch.int64)
        full = batch["original_points"][rows].to(torch.float64)
        self._names += [names[i] for i in keep]
        self._parts["sizes"].append(sizes.numpy())
        self._parts["target"].append(full[:, self._idx].numpy())
        if self.eye_corners is not None:
            self._parts["norm"].append(metrics.interocular(full, self.eye_corners).numpy())
        else:
            self._parts["norm"].append(np.full(len(keep), np.nan))
        confidence = None
        for m in self.decoders:
            points, conf = self.codec.decode(out, m, return_confidence=True)
            confidence = conf if confidence is None else confidence
            original = coords.rescale_batch(points.cpu().to(torch.float64), self.codec.image_size, sizes)
            self._pred[m].append(original.numpy())
        self._parts["confidence"].append(confidence.float().cpu().numpy())
        if self.keep_heatmaps and _is_pair(out):
            self._parts["x"].append(out[0].to(torch.float16).cpu().numpy())
            self._parts["y"].append(out[1].to(torch.float16).cpu().numpy())
        elif self.keep_heatmaps and out.ndim == 4:  # a regression model has no heatmaps
            self._parts["heatmaps"].append(out.to(torch.float16).cpu().numpy())
        return out

    def result(self, **meta: Any) -> Evaluation:
        """The :class:`Evaluation` of everything added (``meta``: scheme_name, checkpoint, dataset, split)."""
        k = len(self.indices)

        def cat(parts: list, empty_shape: tuple) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(empty_shape)

        target = cat(self._parts["target"], (0, k, 2))
        norm = cat(self._parts["norm"], (0,))
        pred = {m: cat(v, (0, k, 2)) for m, v in self._pred.items()}
        if self.eye_corners is None or not len(norm):
            nme = {m: np.full(len(norm), np.nan) for m in pred}
        else:
            nme = {m: metrics.nme(p, target, norm=norm).numpy() for m, p in pred.items()}
        return Evaluation(
            names=list(self._names), target=target, pred=pred,
            confidence=cat(self._parts["confidence"], (0, k)).astype(np.float32), nme=nme, norm=norm,
            indices=list(self.indices), image_sizes=cat(self._parts["sizes"], (0, 2)).astype(np.int64),
            flip_test=self.flip_perm is not None,
            heatmaps=np.concatenate(self._parts["heatmaps"]) if self.keep_heatmaps and self._parts["heatmaps"] else None,
            vectors=((np.concatenate(self._parts["x"]), np.concatenate(self._parts["y"]))
                     if self.keep_heatmaps and self._parts["x"] else None),
            loss=self._loss_sum / self._loss_n if self._loss_n else None, codec=self.codec, **meta)


def evaluate_model(model: nn.Module, codec: HeatmapCodec, dataset, *, indices: Sequence[int], scheme,
                   device: Union[str, torch.device] = "cpu", flip_perm: Optional[Sequence[int]] = None,
                   batch_size: int = 16, workers: int = 0, amp: bool = False, channels_last: bool = False,
                   decoders: Optional[Sequence[str]] = None, loss_fn: Optional[LossFunction] = None,
                   keep_heatmaps: bool = False, progress: Progress = None) -> Evaluation:
    """Score ``model`` on an :func:`evaluation_dataset` (see the module docstring).

    scheme: the dataset's :class:`~lmkviz.data.schemes.LandmarkScheme` (its eye corners
    normalise the NME). The model is put in eval mode. progress: callable(done, total)
    after each batch, in images. Other arguments: see :class:`Evaluator`.
    """
    device = torch.device(device)
    model.eval()
    evaluator = Evaluator(model, codec, indices=indices, eye_corners=scheme.eye_corners, device=device,
                          flip_perm=flip_perm, amp=amp, channels_last=channels_last, decoders=decoders,
                          loss_fn=loss_fn, keep_heatmaps=keep_heatmaps)
    total = len(dataset)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=max(1, min(int(batch_size), total)), shuffle=False, num_workers=workers,
        pin_memory=device.type == "cuda", persistent_workers=False)
    done = 0
    for batch in loader:
        evaluator.add(batch)
        done += len(batch["name"])
        if progress:
            progress(done, total)
    return evaluator.result(scheme_name=scheme.name)


def evaluate(
    checkpoint: Union[str, os.PathLike, Any],
    data: Union[str, os.PathLike],
    split: str = "test",
    *,
    limit: Optional[int] = None,
    flip_test: bool = False,
    batch_size: int = 16,
    decoders: Optional[Sequence[str]] = None,
    progress: Progress = None,
    device: str = "cpu",
    keep_heatmaps: bool = False,
    workers: int = 0,
) -> Evaluation:
    """Score a checkpoint on a dataset split with every decoder of its codec (or ``decoders``).

    checkpoint: a .pt path, "default", or a loaded :class:`lmkviz.inference.Predictor`
        (its model, codec and device are used; ``device`` is then ignored).
    data: a LaPa-layout folder, a discovered dataset name or "synthetic".
    limit: only the first N images. flip_test: average with the mirrored images
        (needs the scheme's flip permutation). keep_heatmaps: keep the raw heatmaps
        (float16) in the result. progress: callable(done, total).

    Raises ValueError when the dataset's point count differs from the checkpoint's,
    the scheme has no eye corners, or no image can be read.
    """
    from lmkviz.data import open_split, points_per_face, scheme_for
    from lmkviz.data.schemes import flip_perm_for
    from lmkviz.inference import Predictor

    predictor = checkpoint if isinstance(checkpoint, Predictor) else Predictor(checkpoint, device=device)
    loaded = predictor.loaded
    reader = open_split(data, split)
    if len(reader) == 0:
        raise ValueError(f"{data}/{split}: the split has no images")
    k = points_per_face(reader)
    if k != loaded.num_points:
        raise ValueError(
            f"the checkpoint predicts {loaded.scheme_name} landmarks ({loaded.num_points} "
            f"points) but {data} has {k} points per face; pick a matching dataset"
        )
    scheme = scheme_for(k)
    if scheme.eye_corners is None:
        raise ValueError(f"{data}: the {k}-point scheme has no eye corners for inter-ocular normalisation")
    flip_perm = flip_perm_for(scheme, loaded.indices) if flip_test else None
    dataset = evaluation_dataset(reader, predictor.input_size, limit=limit)
    result = evaluate_model(predictor.model, predictor.codec, dataset, indices=loaded.indices, scheme=scheme,
                            device=predictor.device, flip_perm=flip_perm, batch_size=batch_size, workers=workers,
                            channels_last=predictor.channels_last, decoders=decoders, keep_heatmaps=keep_heatmaps,
                            progress=progress)
    result.checkpoint, result.dataset, result.split = str(loaded.path), str(data), split
    return result
