"""The user's lmkviz settings: a small JSON file that outlives the app, the browser and the checkout.

The file is ``settings.json`` in lmkviz's home folder (:func:`home`):

* ``$LMKVIZ_HOME`` when that environment variable is set (one folder per project,
  a test or a shared machine), else
* the user's configuration folder: ``%APPDATA%\\lmkviz`` on Windows,
  ``~/Library/Application Support/lmkviz`` on macOS, ``$XDG_CONFIG_HOME/lmkviz``
  (default ``~/.config/lmkviz``) elsewhere.

What it holds::

    {"version": 1,
     "datasets": ["/data/faces/my68", ...]}   # folders kept in the dataset list

``datasets`` are dataset folders a person checked and chose to keep (the Dataset
browser's "Add a folder"); :func:`lmkviz.data.discover_datasets` lists them with the
folders found in ``data/`` and ``$LMKVIZ_DATA``. The file is written atomically
(:func:`lmkviz.checkpoint.atomic_write_bytes`). A file that cannot be read is never
overwritten: changing the settings then raises :class:`SettingsError` naming it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Union

__all__ = ["HOME_ENV", "SettingsError", "home", "settings_path", "load", "save", "kept_datasets",
           "keep_dataset", "forget_dataset"]

HOME_ENV = "LMKVIZ_HOME"
"""Environment variable naming lmkviz's home folder (settings and caches)."""

VERSION = 1
PathLike = Union[str, os.PathLike]


class SettingsError(ValueError):
    """The settings file cannot be read or written (the message names it and says what to do)."""


def home() -> Path:
    """lmkviz's home folder: ``$LMKVIZ_HOME``, else the user's configuration folder + ``lmkviz``."""
    env = os.environ.get(HOME_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "lmkviz"


def settings_path() -> Path:
    """The settings file: ``home() / "settings.json"``."""
    return home() / "settings.json"


def load() -> dict:
    """The settings ({} when there is no file yet).

    Raises :class:`SettingsError` when the file exists but is not a JSON object.
    """
    path = settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise SettingsError(f"cannot read the settings file {path} ({err.strerror or err})") from None
    try:
        data = json.loads(text)
    except ValueError as err:
        raise SettingsError(f"the settings file {path} is not valid JSON ({err}); fix it or delete it "
                            "(it only lists kept dataset folders)") from None
    if not isinstance(data, dict):
        raise SettingsError(f"the settings file {path} must hold a JSON object; fix it or delete it")
    return data


def save(data: dict) -> Path:
    """Write the settings atomically; returns the file's path."""
    from lmkviz.checkpoint import atomic_write_bytes

    path = settings_path()
    text = json.dumps({"version": VERSION, **data}, indent=2, ensure_ascii=False) + "\n"
    try:
        atomic_write_bytes(path, text.encode("utf-8"))
    except OSError as err:
        raise SettingsError(f"cannot write the settings file {path} ({err.strerror or err}); set "
                            f"{HOME_ENV} to a folder you can write to") from None
    return path


def _clean_path(path: PathLike) -> str:
    return str(Path(os.path.abspath(Path(path).expanduser())))


def kept_datasets(strict: bool = False) -> list[str]:
    """The dataset folders kept in the settings (absolute paths, in the order they were kept).

    strict: raise :class:`SettingsError` for an unreadable file; by default such a file
    counts as no kept folder (the dataset list then still works).
    """
    try:
        data = load()
    except SettingsError:
        if strict:
            raise
        return []
    folders = data.get("datasets", [])
    if not isinstance(folders, list):
        if strict:
            raise SettingsError(f"the settings file {settings_path()}: \"datasets\" must be a list of folders")
        return []
    return [str(f) for f in folders if isinstance(f, str) and f.strip()]


def keep_dataset(path: PathLike) -> list[str]:
    """Keep a dataset folder in the list (stored as an absolute path; once). Returns the kept folders."""
    data = load()
    folders = kept_datasets(strict=True)
    clean = _clean_path(path)
    if clean not in folders:
        folders.append(clean)
    data["datasets"] = folders
    save(data)
    return folders


def forget_dataset(path: PathLike) -> list[str]:
    """Remove a kept folder (the folder itself is not touched). Returns the kept folders."""
    data = load()
    clean = _clean_path(path)
    folders = [f for f in kept_datasets(strict=True) if f not in (str(path), clean)]
    data["datasets"] = folders
    save(data)
    return folders
