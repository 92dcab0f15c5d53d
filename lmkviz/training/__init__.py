"""Training: what a run is (:mod:`.config`), what it is built from (:mod:`.build`), the loop
(:mod:`.loop`), several processes (:mod:`.distributed`) and the learning-rate finder
(:mod:`.lr_find`).

    from lmkviz.training import PRESETS, TrainConfig, train
    path = train(PRESETS["quick-demo"].replace(epochs=3))     # a run folder (lmkviz.runs)

Run folders are :mod:`lmkviz.runs`, devices :mod:`lmkviz.devices`, losses
:mod:`lmkviz.losses`, validation :mod:`lmkviz.evaluation`.
"""

import importlib
import sys
import types

# Loaded on first use (PEP 562), so that ``lmkviz.training.config`` (read by the job list and
# the run folders) does not import the loop, the models and torchvision.
_LAZY = {
    "build_datasets": "build", "build_model": "build", "heatmap_sizes": "build", "make_codec": "build",
    "make_run_loss": "build",
    "PRESET_LABELS": "config", "PRESETS": "config", "TRAIN_ENCODING_LABELS": "config", "TRAIN_ENCODINGS": "config",
    "TrainConfig": "config",
    "Distributed": "distributed",
    **{name: "loop" for name in ("NonFiniteLoss", "ResumeError", "ResumePlan", "RunBusy", "StopFlag", "StopTraining",
                                 "Trainer", "TrainJob", "check_resume", "set_seed", "train", "train_step")},
    "suggest_lr": "lr_find",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"lmkviz.training.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | {"lr_find"})


class _Package(types.ModuleType):
    """``lmkviz.training.lr_find`` is the function, also once the submodule of the same name has
    been imported (the import system then binds the submodule on its package: ignored here)."""

    @property
    def lr_find(self):
        from lmkviz.training.lr_find import lr_find as function

        return function

    @lr_find.setter
    def lr_find(self, value) -> None:
        pass


sys.modules[__name__].__class__ = _Package


__all__ = [
    "TrainConfig", "PRESETS", "PRESET_LABELS", "TRAIN_ENCODINGS", "TRAIN_ENCODING_LABELS",
    "build_datasets", "build_model", "make_codec", "make_run_loss", "heatmap_sizes",
    "Distributed", "Trainer", "TrainJob", "StopFlag", "StopTraining", "NonFiniteLoss",
    "ResumeError", "ResumePlan", "RunBusy", "check_resume",
    "train", "train_step", "set_seed",
    "lr_find", "suggest_lr",
]
