"""Training: what a run is (:mod:`.config`), what it is built from (:mod:`.build`), the loop
(:mod:`.loop`), several processes (:mod:`.distributed`) and the learning-rate finder
(:mod:`.lr_find`).

    from lmkviz.training import PRESETS, TrainConfig, train
    path = train(PRESETS["quick-demo"].replace(epochs=3))     # a run folder (lmkviz.runs)

Run folders are :mod:`lmkviz.runs`, devices :mod:`lmkviz.devices`, losses
:mod:`lmkviz.losses`, validation :mod:`lmkviz.evaluation`.
"""

from lmkviz.training.build import build_datasets, build_model, heatmap_sizes, make_codec, make_run_loss
from lmkviz.training.config import PRESET_LABELS, PRESETS, TRAIN_ENCODING_LABELS, TRAIN_ENCODINGS, TrainConfig
from lmkviz.training.distributed import Distributed
from lmkviz.training.loop import (
    NonFiniteLoss,
    ResumeError,
    ResumePlan,
    RunBusy,
    StopFlag,
    StopTraining,
    Trainer,
    TrainJob,
    check_resume,
    set_seed,
    train,
    train_step,
)
from lmkviz.training.lr_find import lr_find, suggest_lr

__all__ = [
    "TrainConfig", "PRESETS", "PRESET_LABELS", "TRAIN_ENCODINGS", "TRAIN_ENCODING_LABELS",
    "build_datasets", "build_model", "make_codec", "make_run_loss", "heatmap_sizes",
    "Distributed", "Trainer", "TrainJob", "StopFlag", "StopTraining", "NonFiniteLoss",
    "ResumeError", "ResumePlan", "RunBusy", "check_resume",
    "train", "train_step", "set_seed",
    "lr_find", "suggest_lr",
]
