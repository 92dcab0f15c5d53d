"""Imports the first render of a page does not need stay out of it (cold starts on a busy CPU)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def loaded_after(code: str, modules: tuple) -> list:
    probe = f"import sys; {code}; print(sorted(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return eval(out.strip())  # a printed list of module names


def test_the_job_list_and_run_configs_need_neither_torchvision_nor_the_training_loop():
    """The home page and the Train page's job list read run folders: lmkviz.jobs and
    lmkviz.training.config (validated presets included) import no torchvision (whose ops
    import torch._dynamo: seconds on 2 busy cores), no model and no training loop."""
    heavy = ("torchvision", "lmkviz.training.loop", "lmkviz.training.build", "lmkviz.models", "lmkviz.data.augment")
    assert loaded_after("import lmkviz.jobs; from lmkviz.training.config import PRESETS; "
                        "[c.augment_config() for c in PRESETS.values()]", heavy) == []
    assert loaded_after("from lmkviz.training import PRESETS, TrainConfig", heavy) == []


def test_the_training_package_still_gives_every_name():
    import lmkviz.training as training
    from lmkviz.data import augment, augment_config

    for name in training.__all__:
        assert getattr(training, name) is not None, name
    assert training.train.__module__ == "lmkviz.training.loop"
    assert augment.AugmentConfig is augment_config.AugmentConfig
    assert set(dir(training)) >= set(training.__all__)


def test_point_models_are_architectures():
    from lmkviz import models, names

    assert models.POINT_MODELS is names.POINT_MODELS
    assert set(names.POINT_MODELS) <= set(models.ARCHITECTURES)
    assert all(models.outputs_points(m) for m in names.POINT_MODELS)


def test_lr_find_is_the_function_even_after_its_submodule_was_imported():
    """``from lmkviz.training.lr_find import ...`` (the Train page does it) binds the submodule on
    the package; ``from lmkviz.training import lr_find`` must still give the function."""
    code = ("from lmkviz.training.lr_find import lr_suggestions; from lmkviz.training import lr_find; "
            "print(callable(lr_find) and lr_find.__name__ == 'lr_find')")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
