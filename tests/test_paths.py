"""lmkviz.paths (the project folder, shipped checkpoints, printable paths) and what importing
lmkviz does to the process: nothing."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from lmkviz import checkpoint, paths

REPO = Path(__file__).resolve().parents[1]


def test_from_the_checkout_the_shipped_checkpoint_is_in_checkpoints():
    assert paths.IN_CHECKOUT and paths.PROJECT_ROOT == REPO
    assert paths.DEFAULT_CHECKPOINT == REPO / "checkpoints" / "default.pt"
    assert checkpoint.DEFAULT_CHECKPOINT == paths.DEFAULT_CHECKPOINT  # one definition, re-exported
    assert paths.shipped_checkpoints()["default"] == paths.DEFAULT_CHECKPOINT
    assert checkpoint.resolve("default") == paths.DEFAULT_CHECKPOINT
    assert paths.PROJECT_DATA == REPO / "data"


def test_the_installed_package_folder_comes_first(tmp_path, monkeypatch):
    installed, checkout = tmp_path / "site" / "lmkviz" / "checkpoints", tmp_path / "checkout" / "checkpoints"
    for folder in (installed, checkout):
        folder.mkdir(parents=True)
        (folder / "default.pt").write_bytes(b"x")
    (checkout / "extra.pt").write_bytes(b"x")
    (checkout / ".hidden.pt").write_bytes(b"x")
    monkeypatch.setattr(paths, "CHECKPOINT_DIRS", (installed, checkout))
    assert paths.shipped_checkpoint("default") == installed / "default.pt"
    assert paths.shipped_checkpoints() == {"default": installed / "default.pt", "extra": checkout / "extra.pt"}
    for name in ("../checkout/checkpoints/extra", "nope", "", ".hidden"):
        assert paths.shipped_checkpoint(name) is None


def test_display_path_makes_undecodable_names_printable():
    raw = os.fsdecode(b"/data/caf\xe9.jpg")  # how Linux hands Python a Latin-1 file name
    shown = paths.display_path(raw)
    assert shown == "/data/caf\\xe9.jpg" and shown.encode("utf-8")
    assert paths.display_path(Path("/data/café.jpg")) == "/data/café.jpg"  # valid UTF-8: unchanged
    assert paths.display_path(b"caf\xe9") == "caf\\xe9"


def _run(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_importing_lmkviz_changes_nothing_in_the_process():
    # Every lmkviz module is imported after its dependencies, with os.umask watched and the
    # environment compared: the library may not change the process (umask, environment
    # variables) as a side effect of being imported.
    code = """
        import importlib, os, pkgutil, sys
        import numpy, PIL.Image, torch, torchvision  # dependencies first: only lmkviz is judged
        calls = []
        real_umask = os.umask
        os.umask = lambda mask: (calls.append(mask), real_umask(mask))[1]
        before = dict(os.environ)
        import lmkviz
        names = [m.name for m in pkgutil.walk_packages(lmkviz.__path__, "lmkviz.")
                 if m.name != "lmkviz.__main__"]
        for name in names:
            importlib.import_module(name)
        changed = {k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k)}
        print(len(names), sorted(changed), calls)
        assert not calls, f"os.umask called at import: {calls}"
        assert not changed, f"environment changed at import: {sorted(changed)}"
    """
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    result = _run(code, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert int(result.stdout.split()[0]) >= 20  # the walk did import the package's modules


def test_the_app_package_sets_only_what_the_readme_names():
    code = """
        import os
        before = dict(os.environ)
        import ui
        changed = {k: os.environ.get(k) for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k)}
        print(changed)
        assert changed == {"OMP_WAIT_POLICY": "PASSIVE"}, changed
    """
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    result = _run(code, env)
    assert result.returncode == 0, result.stdout + result.stderr
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "OMP_WAIT_POLICY=PASSIVE" in readme.split("## Reliability and safety", 1)[1]
