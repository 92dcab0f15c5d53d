"""lmkviz.settings: where the settings file is, kept dataset folders, and discovery listing them."""

from __future__ import annotations

import json
import sys

import pytest

from lmkviz import settings
from lmkviz.data import discover_datasets


def test_home_is_lmkviz_home_else_the_users_config_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("LMKVIZ_HOME", str(tmp_path / "h"))
    assert settings.settings_path() == tmp_path / "h" / "settings.json"
    monkeypatch.delenv("LMKVIZ_HOME")
    if sys.platform.startswith(("win", "darwin")):
        pytest.skip("the XDG rule is the Linux one")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert settings.home() == tmp_path / "cfg" / "lmkviz"


def test_kept_folders_are_stored_once_absolute_and_can_be_forgotten(lmkviz_home, tmp_path, monkeypatch):
    assert settings.kept_datasets() == []
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    settings.keep_dataset("a")
    settings.keep_dataset(tmp_path / "a")  # the same folder again
    settings.keep_dataset(tmp_path / "b")
    assert settings.kept_datasets() == [str(tmp_path / "a"), str(tmp_path / "b")]
    stored = json.loads((lmkviz_home / "settings.json").read_text())
    assert stored["datasets"] == [str(tmp_path / "a"), str(tmp_path / "b")] and stored["version"] == 1
    assert settings.forget_dataset(tmp_path / "a") == [str(tmp_path / "b")]
    assert settings.kept_datasets() == [str(tmp_path / "b")]
    assert (tmp_path / "a").is_dir()  # forgetting never touches the folder


def test_a_damaged_settings_file_is_reported_and_never_overwritten(lmkviz_home, tmp_path):
    lmkviz_home.mkdir()
    path = lmkviz_home / "settings.json"
    path.write_text("{not json")
    assert settings.kept_datasets() == []  # the dataset list still works
    with pytest.raises(settings.SettingsError, match="settings.json is not valid JSON"):
        settings.kept_datasets(strict=True)
    with pytest.raises(settings.SettingsError, match="fix it or delete it"):
        settings.keep_dataset(tmp_path)
    assert path.read_text() == "{not json"


def test_discovery_lists_kept_folders(make_lapa_folder, monkeypatch, tmp_path):
    monkeypatch.setenv("LMKVIZ_DATA", str(tmp_path / "nothing_here"))
    folder = make_lapa_folder("deep/down/mine", n_per_split=2, bad_files=False)
    monkeypatch.chdir(tmp_path)
    assert "mine" not in [d.name for d in discover_datasets()]
    settings.keep_dataset(folder.root)
    found = {d.name: d for d in discover_datasets()}
    assert found["mine"].splits == {"train": 2, "val": 2, "test": 2}
    settings.forget_dataset(folder.root)
    assert "mine" not in [d.name for d in discover_datasets()]
