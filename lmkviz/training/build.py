"""From a :class:`~lmkviz.training.config.TrainConfig` to the objects a run needs:
datasets, the model and its codec."""

from __future__ import annotations

import torch
from torch import nn

from lmkviz.encoding import HeatmapCodec
from lmkviz.training.config import REGRESSION, TrainConfig

__all__ = ["UNET_STRIDES", "build_datasets", "build_model", "make_codec", "make_run_loss", "heatmap_sizes"]

UNET_STRIDES = (1, 2, 4)
"""The output strides a U-Net can be built with (HRNets are fixed at their own stride)."""


def build_datasets(config: TrainConfig):
    """(train_dataset, val_dataset, scheme, indices) for a config.

    Both datasets yield full point sets (the subset ``indices`` is taken in the loop,
    after flips). The training set applies the framing and augmentation of the config
    (:meth:`TrainConfig.augment_config`); the
    validation set is :func:`lmkviz.evaluation.evaluation_dataset` (resize only, with
    the original size and points of each image), the one ``lmkviz evaluate`` uses.
    """
    from lmkviz.data import LandmarkDataset, open_split, points_per_face
    from lmkviz.data.augment import build_transform
    from lmkviz.data.schemes import parse_subset, scheme_for
    from lmkviz.evaluation import evaluation_dataset

    train_splits = [open_split(d, config.train_split) for d in config.data]
    val_split = open_split(config.val_data or config.data[0], config.val_split)
    k = points_per_face(train_splits[0])
    for d, s in zip(config.data[1:], train_splits[1:]):
        if points_per_face(s) != k:
            raise ValueError(f"dataset {d!r} has {points_per_face(s)} points per face, but {config.data[0]!r} has {k}")
    if points_per_face(val_split) != k:
        raise ValueError(f"validation data has {points_per_face(val_split)} points per face, training data {k}")
    scheme = scheme_for(k)
    indices = parse_subset(scheme, config.landmarks)
    aug = config.augment_config()
    train_tf = build_transform(aug, flip_perm=scheme.flip_perm, train=config.augment > 0 or aug.framing == "face")
    parts = [LandmarkDataset(s, transform=train_tf) for s in train_splits]
    train_ds = parts[0] if len(parts) == 1 else torch.utils.data.ConcatDataset(parts)
    if config.limit_train:
        train_ds = torch.utils.data.Subset(train_ds, range(min(config.limit_train, len(train_ds))))
    val_ds = evaluation_dataset(val_split, config.input_size, limit=config.limit_val)
    if len(train_ds) == 0 or len(val_ds) == 0:
        raise ValueError("training or validation split is empty; check the dataset with `lmkviz data check`")
    return train_ds, val_ds, scheme, indices


def make_codec(config: TrainConfig, stride: int):
    """The codec of a run (a :mod:`lmkviz.codecs` class), from its ``encoding``.

    Heatmap encodings and "udp": input_size -> heatmap_size (default input_size /
    stride), :class:`~lmkviz.codecs.HeatmapCodec` or (udp, sub-pixel Gaussians)
    :class:`~lmkviz.codecs.UDPHeatmapCodec`. "simcc": a
    :class:`~lmkviz.codecs.SimCCCodec` of input_size at ``simcc_ratio`` (``stride``
    unused). "regression" (no heatmaps): a :class:`~lmkviz.codecs.RegressionCodec`
    of input_size (``stride`` unused). ``softargmax_temperature`` becomes the codec's
    soft-argmax temperature.
    """
    from lmkviz.codecs import RegressionCodec, SimCCCodec, UDPHeatmapCodec

    if config.encoding == REGRESSION:
        return RegressionCodec(image_size=config.input_size)
    temperature = config.softargmax_temperature
    if config.encoding == "simcc":
        return SimCCCodec(image_size=config.input_size, ratio=config.simcc_ratio, sigma=config.sigma,
                          temperature=temperature)
    hm = config.heatmap_size or max(1, config.input_size // stride)
    if config.encoding == "udp":
        return UDPHeatmapCodec(image_size=config.input_size, heatmap_size=hm, encoding="gaussian",
                               sigma=config.sigma, temperature=temperature)
    return HeatmapCodec(image_size=config.input_size, heatmap_size=hm, encoding=config.encoding, sigma=config.sigma,
                        temperature=temperature)


def make_run_loss(config: TrainConfig, codec):
    """The loss of a run (:func:`lmkviz.losses.make_loss`): the config's ``loss``,
    ``pos_weight`` and ``coord_loss``, the soft-argmax temperature of ``codec``
    (:func:`make_codec` sets it from ``softargmax_temperature``). The one function
    training steps, the learning-rate finder and validation all use."""
    from lmkviz.losses import make_loss

    return make_loss(codec, config.loss, config.pos_weight, coord_loss=config.coord_loss)


def heatmap_sizes(model: str, input_size: int) -> list[int]:
    """Heatmap sides ``model`` can output for ``input_size`` inputs, finest first.

    U-Nets: input_size / s for each stride s of :data:`UNET_STRIDES` dividing it;
    other models: input_size / their fixed stride.
    """
    if model.startswith("unet"):
        return [input_size // s for s in UNET_STRIDES if input_size % s == 0]
    from lmkviz import models

    return [max(1, input_size // models.describe(model).stride)]


def build_model(config: TrainConfig, num_points: int) -> tuple[nn.Module, dict]:
    """The model for a config and the kwargs that rebuild it from a checkpoint.

    The "simcc" encoding puts a SimCC head on the model (``head="simcc"`` with the
    input size and ratio, see :func:`lmkviz.models.create`); the head options are
    set from the encoding, never from ``model_kwargs``.
    """
    from lmkviz import models

    kwargs = dict(config.model_kwargs)
    given = sorted(set(kwargs) & {"head", "input_size", "simcc_ratio"})
    if given:
        raise ValueError(f"model_kwargs: {', '.join(given)} follow from the encoding; "
                         "choose the head with encoding (simcc for a SimCC head) and simcc_ratio")
    if config.model.startswith("unet") and config.heatmap_size:
        stride = config.input_size // config.heatmap_size
        if stride * config.heatmap_size != config.input_size or stride not in UNET_STRIDES:
            raise ValueError(
                f"heatmap_size {config.heatmap_size} with input_size {config.input_size} needs stride "
                f"{config.input_size / config.heatmap_size:g}; U-Nets support strides "
                + ", ".join(map(str, UNET_STRIDES))
            )
        kwargs["stride"] = stride
    if config.encoding == REGRESSION and config.heatmap_size:
        raise ValueError(f"{config.model} regresses (x, y) directly: it has no heatmaps, so heatmap_size must be "
                         "left empty")
    if config.encoding == "simcc":
        kwargs.update(head="simcc", input_size=int(config.input_size), simcc_ratio=float(config.simcc_ratio))
    net = models.create(config.model, num_points, pretrained=config.pretrained and not config.init_from, **kwargs)
    if config.init_from:
        load_initial_weights(net, config, num_points)
    if config.heatmap_size and config.input_size // net.stride != config.heatmap_size:
        raise ValueError(
            f"model {config.model} outputs {config.input_size // net.stride} px heatmaps for "
            f"{config.input_size} px inputs (stride {net.stride}), not {config.heatmap_size}; "
            "change heatmap_size or input_size"
        )
    return net, kwargs


def load_initial_weights(net, config, num_points: int) -> None:
    """Fine-tuning: copy the weights of ``config.init_from`` (a checkpoint file or a shipped
    name) into ``net``, in place. A checkpoint of another architecture, landmark count or
    head is a ValueError that says which."""
    from lmkviz import checkpoint as ckpt

    source = str(config.init_from)
    try:
        data = ckpt.load(source, model=config.model, num_points=num_points, map_location="cpu")
    except (OSError, ValueError) as err:
        raise ValueError(f"init_from: {err}") from None
    state = data["state_dict"]
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        head = "SimCC" if config.encoding == "simcc" else "heatmap"
        raise ValueError(
            f"init_from {source}: its layers are not this model's ({config.model} with a {head} head): "
            f"{len(missing)} missing, {len(unexpected)} unexpected, e.g. {(missing or unexpected)[0]}; "
            "fine-tuning needs the same architecture, landmarks and encoding head")
    wrong = [k for k, v in state.items() if tuple(v.shape) != tuple(expected[k].shape)]
    if wrong:
        raise ValueError(
            f"init_from {source}: {len(wrong)} tensors have other shapes than this model's, e.g. {wrong[0]} "
            f"{tuple(state[wrong[0]].shape)} instead of {tuple(expected[wrong[0]].shape)} (other model options?)")
    net.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
