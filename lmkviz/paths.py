"""Where lmkviz's own files are: the project folder and the shipped checkpoints.

Two layouts are supported:

* **source checkout** (``git clone``, or ``pip install -e .``): the ``lmkviz`` package
  sits in the project folder next to ``checkpoints/``, ``data/`` and ``app.py``;
* **installed wheel** (``pip install .``): the weights ``checkpoints/*.pt`` travel inside
  the package as ``lmkviz/checkpoints/`` (``pyproject.toml`` maps the subpackage
  ``lmkviz.checkpoints`` to the top-level ``checkpoints/`` folder); there is no project
  folder.

Every module asks this one for these places; nothing else computes them from ``__file__``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

PathLike = Union[str, os.PathLike]

PACKAGE_DIR = Path(__file__).resolve().parent
"""The ``lmkviz`` package folder."""

PROJECT_ROOT = PACKAGE_DIR.parent
"""The folder holding the ``lmkviz`` package: the project checkout when run from source
(see :data:`IN_CHECKOUT`), ``site-packages`` when installed."""

IN_CHECKOUT = (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "app.py").is_file()
"""True when lmkviz runs from a project checkout (source or editable install)."""

PROJECT_DATA: Optional[Path] = PROJECT_ROOT / "data" if IN_CHECKOUT else None
"""The checkout's ``data/`` folder (searched for datasets), or None when installed."""

CHECKPOINT_DIRS = (PACKAGE_DIR / "checkpoints", PROJECT_ROOT / "checkpoints")
"""Where shipped checkpoints are looked for, in order: inside the installed package, then
the checkout's ``checkpoints/`` folder."""

CHECKPOINT_SUFFIX = ".pt"


def shipped_checkpoint(name: str) -> Optional[Path]:
    """The shipped checkpoint ``name`` (``"default"`` -> ``.../checkpoints/default.pt``), or
    None when no folder of :data:`CHECKPOINT_DIRS` has it."""
    if not name or os.sep in name or "/" in name or name.startswith("."):
        return None
    for folder in CHECKPOINT_DIRS:
        path = folder / f"{name}{CHECKPOINT_SUFFIX}"
        if path.is_file():
            return path
    return None


def shipped_checkpoints() -> dict[str, Path]:
    """{name: path} of every shipped checkpoint (``checkpoints/NAME.pt``), first folder wins."""
    found: dict[str, Path] = {}
    for folder in CHECKPOINT_DIRS:
        try:
            paths = sorted(folder.glob(f"*{CHECKPOINT_SUFFIX}"))
        except OSError:
            continue
        for path in paths:
            if path.is_file() and not path.name.startswith("."):
                found.setdefault(path.stem, path)
    return found


DEFAULT_CHECKPOINT: Path = shipped_checkpoint("default") or PROJECT_ROOT / "checkpoints" / "default.pt"
"""The shipped model (``--checkpoint default``); where it should be when it is missing."""


def display_path(path: PathLike) -> str:
    """``path`` as text that prints and serialises anywhere (terminal, JSON, Streamlit).

    File names that are not valid UTF-8 (``b"caf\\xe9.jpg"``) reach Python with lone
    surrogates, which a strict UTF-8 stream or Streamlit cannot encode; their bytes are
    shown as ``\\xNN`` escapes instead (``"caf\\\\xe9.jpg"``). Use the original ``path``,
    not this text, to open the file.
    """
    text = os.fspath(path)
    if isinstance(text, bytes):
        return text.decode("utf-8", "backslashreplace")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    return text
