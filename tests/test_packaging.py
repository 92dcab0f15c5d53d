"""Packaging: a non-editable install (a wheel) carries the shipped checkpoints and predicts
with ``--checkpoint default`` from any folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_lmkviz_package_is_listed_for_the_wheel():
    # The package list is written out (the weights folder is mapped into the package, which
    # automatic discovery cannot do): a new subpackage must be added to pyproject.toml.
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "lmkviz").rglob("__init__.py")
               if "__pycache__" not in p.parts}
    assert on_disk <= listed, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(on_disk - listed)}"
    assert PYPROJECT["tool"]["setuptools"]["package-dir"]["lmkviz.checkpoints"] == "checkpoints"
    assert PYPROJECT["tool"]["setuptools"]["package-data"]["lmkviz.checkpoints"] == ["*.pt"]


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_a_wheel_installed_into_a_fresh_venv_predicts_with_shipped_checkpoints(tmp_path):
    from PIL import Image
    from skimage import data

    # The build inputs, copied so that the checkout gets no build/ or *.egg-info. Both shipped
    # checkpoints (default.pt and fast-cpu.pt) must be found by name.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "lmkviz", src / "lmkviz", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "checkpoints", src / "checkpoints")

    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "-w", dist, src])
    (wheel,) = dist.glob("lmkviz-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "lmkviz/checkpoints/default.pt" in names and "lmkviz/checkpoints/fast-cpu.pt" in names
    assert not any("-run/" in n for n in names)  # the training logs stay in the project
    assert not any(n.endswith(".sh") for n in names)  # so does the training script
    assert "lmkviz/images.py" in names and "lmkviz/data/folder.py" in names

    # --system-site-packages: torch and friends come from this interpreter, nothing is
    # downloaded. Its site-packages may hold an editable install of lmkviz pointing at a
    # checkout; the venv's own site-packages comes first on sys.path (and -I drops the
    # current folder and PYTHONPATH), so the wheel's copy is the one imported: checked below.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv])
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", wheel])

    elsewhere = tmp_path / "elsewhere"  # a folder outside any checkout
    elsewhere.mkdir()
    Image.fromarray(data.astronaut()).save(elsewhere / "astronaut.jpg", quality=95)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LMKVIZ_DATA", "LMKVIZ_RUNS")}
    where = _run([python, "-I", "-c", "import lmkviz, lmkviz.paths as p; print(lmkviz.__file__); "
                  "print(p.DEFAULT_CHECKPOINT); print(p.IN_CHECKOUT)"], cwd=elsewhere, env=env)
    module, default, in_checkout = where.stdout.split("\n")[:3]
    venv_site = str(venv.resolve())
    assert module.startswith(venv_site), f"imported {module}, not the wheel's copy"
    assert default.startswith(venv_site) and default.endswith(os.path.join("lmkviz", "checkpoints", "default.pt"))
    assert in_checkout == "False"

    import json

    for name in ("default", "fast-cpu"):
        out = _run([python, "-I", "-m", "lmkviz", "predict", "--checkpoint", name, "astronaut.jpg", "--json"],
                   cwd=elsewhere, env=env)
        result = json.loads(out.stdout)
        assert (result["image"]["width"], result["image"]["height"]) == (512, 512), name
        assert len(result["points"]["dark"]) == 68 and result["checkpoint"] == f"{name}.pt", name
    missing = subprocess.run([str(python), "-I", "-m", "lmkviz", "predict", "--checkpoint", "third", "astronaut.jpg"],
                             cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1 and "shipped: default, fast-cpu" in missing.stderr
