"""What a training form offers, read from the library itself: the losses an encoding accepts,
a model's options, whether it has ImageNet weights, the data a preset needs, and how runs
differ.

Everything here is derived from :class:`~lmkviz.training.config.TrainConfig`'s own
validation, the model factories of :data:`lmkviz.models.ARCHITECTURES` and
:data:`~lmkviz.training.config.PRESETS`, so that a new encoding, loss, model option or
preset appears in the Train page without a change there.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any, Optional, Sequence

from lmkviz.training.config import LOSSES, PRESETS, TrainConfig

__all__ = ["losses_for", "model_options", "model_option_help", "has_pretrained_weights", "preset_data",
           "config_differences", "COMPARE_SKIP"]

_HANDLED_ELSEWHERE = {"num_points", "pretrained", "stride"}
"""Factory arguments a form sets through other fields: the point count (the landmarks),
pretrained (its own field) and a U-Net's stride (the heatmap size)."""


def losses_for(encoding: str) -> list[str]:
    """The losses of :data:`~lmkviz.training.config.LOSSES` that ``encoding`` accepts ("auto"
    first), as :class:`TrainConfig` validates them."""
    out = []
    for loss in LOSSES:
        try:
            TrainConfig(encoding=encoding, loss=loss)
        except ValueError:
            continue
        out.append(loss)
    return out


def model_options(name: str) -> dict[str, Any]:
    """{option: default} of a model's factory arguments a user may set (e.g. ``{"width": 64,
    "frozen_blocks": 0}`` for ``effnet_lite0_fpn``); {} for a model without any."""
    from lmkviz import models

    factory = models.ARCHITECTURES[name]
    return {p.name: p.default for p in inspect.signature(factory).parameters.values()
            if p.name not in _HANDLED_ELSEWHERE and p.default is not inspect.Parameter.empty}


def model_option_help(name: str, option: str) -> str:
    """What an option of :func:`model_options` does, from the docstrings of the model's factory
    and of the class it returns ("" when they do not say)."""
    from lmkviz import models

    factory = models.ARCHITECTURES[name]
    texts = [inspect.getdoc(factory) or ""]
    returned = inspect.signature(factory).return_annotation
    cls = getattr(models, returned, None) if isinstance(returned, str) else returned
    if inspect.isclass(cls):
        texts.append(inspect.getdoc(cls) or "")
    for text in texts:
        # "option: what it does ..." up to the next "name:" entry or a blank line
        match = re.search(rf"(?:^|[\s.;,])({re.escape(option)}):\s*(.+?)(?=\n\s*\n|\n\s*\w+(?: and \w+)?:\s|\Z)",
                          text, flags=re.S)
        if match:
            found = " ".join(match.group(2).split())
            return re.split(r"(?<=\.)\s+[a-z_]+:\s", found)[0]  # "width: decoder channels. pretrained: ..."
    return ""


def has_pretrained_weights(name: str) -> bool:
    """Whether a model's encoder can start from ImageNet weights (``pretrained`` True or "auto"):
    the U-Nets (ResNet-18) and ``effnet_lite0_fpn``; the HRNets are trained from scratch."""
    from lmkviz import models

    factory = models.ARCHITECTURES[name]
    return not factory.__module__.endswith(".hrnet")


def preset_data(name: str) -> Optional[tuple[str, ...]]:
    """The training datasets a preset is made for (e.g. ``("face68", "ytf68")``), or None when
    it works on any dataset (its data is the default, synthetic faces): a form then keeps the
    dataset a person chose."""
    data = PRESETS[name].data
    return None if tuple(data) == tuple(TrainConfig().data) else tuple(data)


COMPARE_SKIP = ("name",)
"""Fields :func:`config_differences` leaves out: the run's name, which tells runs apart anyway."""


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items())) or "—"
    return "—" if value is None else value


def config_differences(configs: Sequence[Optional[TrainConfig]], all_fields: bool = False) -> dict[str, list]:
    """{field: [value of each config]} of the :class:`TrainConfig` fields whose values are not all
    the same (every field with ``all_fields``), in the dataclass's order; values are plain
    (lists and dicts as text, None as "—"). A missing config (an unreadable run) gives "?".
    """
    names = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in COMPARE_SKIP]
    out = {}
    for field in names:
        values = [_plain(getattr(c, field)) if c is not None else "?" for c in configs]
        if all_fields or len({repr(v) for v in values}) > 1:
            out[field] = values
    return out
