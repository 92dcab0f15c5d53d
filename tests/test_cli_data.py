import json
import os
import subprocess
import sys

import pytest

from lmkviz import cli
from lmkviz.data import download

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_data_check_text_lists_every_skipped_file(make_lapa_folder, capsys):
    data = make_lapa_folder(n_per_split=2, size=32)
    assert cli.main(["data", "check", str(data.root)]) == 0
    out = capsys.readouterr().out
    assert "Points per face: 68" in out
    assert "train        2 samples" in out and "val          2 samples" in out
    for name, phrase in data.bad.items():
        line = next(line for line in out.splitlines() if name in line)
        assert phrase in line and line.lstrip().startswith("[train]")


def test_data_check_json(make_lapa_folder, capsys):
    data = make_lapa_folder(n_per_split=2, size=32)
    assert cli.main(["data", "check", str(data.root), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= {"splits", "points", "skipped"}
    assert report["splits"] == {"train": 2, "val": 2, "test": 2}
    assert report["points"] == 68
    assert {os.path.basename(s["file"]) for s in report["skipped"]} == set(data.bad)
    assert all(set(s) == {"split", "file", "reason"} for s in report["skipped"])

    assert cli.main(["data", "check", str(data.root), "--json", "--quick"]) == 0
    quick = json.loads(capsys.readouterr().out)
    assert quick["splits"]["train"] == 3  # the truncated JPEG is only caught by decoding


def test_data_check_not_a_dataset_exits_2(tmp_path, capsys):
    assert cli.main(["data", "check", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "not a dataset in the LaPa layout" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert cli.main(["data", "check", str(tmp_path / "missing"), "--json"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_data_check_without_usable_samples_exits_1(tmp_path, capsys):
    (tmp_path / "ds" / "train" / "images").mkdir(parents=True)
    (tmp_path / "ds" / "train" / "landmarks").mkdir(parents=True)
    (tmp_path / "ds" / "train" / "images" / "a.jpg").write_text("not an image")
    (tmp_path / "ds" / "train" / "landmarks" / "a.txt").write_text("1\n1 2\n")
    assert cli.main(["data", "check", str(tmp_path / "ds")]) == 1
    captured = capsys.readouterr()
    assert "a.jpg: not an image" in captured.out and "no usable sample" in captured.err


def test_data_list(make_lapa_folder, monkeypatch, tmp_path, capsys):
    make_lapa_folder("sets/alpha", num_points=106, n_per_split=1, bad_files=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LMKVIZ_DATA", str(tmp_path / "sets"))
    assert cli.main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "alpha" in out and "106 points (lapa106)" in out and "train 1" in out
    assert cli.main(["data", "list", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    alpha = next(e for e in entries if e["name"] == "alpha")
    assert alpha["splits"] == {"train": 1, "val": 1, "test": 1} and alpha["points"] == 106


def test_data_list_without_datasets_says_what_to_do(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LMKVIZ_DATA", raising=False)
    monkeypatch.setattr("lmkviz.paths.PROJECT_DATA", tmp_path / "none")
    assert cli.main(["data", "list"]) == 0
    assert "No datasets found" in capsys.readouterr().out


def test_download_error_exits_1_without_traceback(monkeypatch, capsys):
    def fail(**kwargs):
        raise download.DownloadError("cannot reach Google Drive (no network connection)")

    monkeypatch.setattr(download, "download_lapa", fail)
    assert cli.main(["download", "lapa", "--dest", "somewhere", "--quiet"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == "error: cannot reach Google Drive (no network connection)"
    assert "Traceback" not in captured.err


def test_download_passes_options(monkeypatch, tmp_path, capsys):
    seen = {}

    def ok(**kwargs):
        seen.update(kwargs)
        return tmp_path / "LaPa"

    monkeypatch.setattr(download, "download_lapa", ok)
    assert cli.main(["download", "lapa", "--dest", str(tmp_path), "--remove-archive"]) == 0
    assert seen == {"dest": str(tmp_path), "quiet": False, "keep_archive": False}
    assert "LaPa is ready" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--help"], ["data", "--help"], ["data", "check", "--help"],
                                  ["data", "list", "--help"], ["download", "lapa", "--help"]])
def test_help_texts(argv, capsys):
    assert cli.main(argv) == 0
    assert "usage: lmkviz" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    assert cli.main([]) == 2
    assert cli.main(["data"]) == 2
    assert cli.main(["nonsense"]) == 2
    assert "usage:" in capsys.readouterr().err


def test_python_dash_m_entry_point(make_lapa_folder):
    data = make_lapa_folder(n_per_split=1, bad_files=False)
    result = subprocess.run(
        [sys.executable, "-m", "lmkviz", "data", "check", str(data.root), "--json", "--quick"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["splits"] == {"train": 1, "val": 1, "test": 1}


@pytest.mark.shared_data
def test_check_shared_face68(shared_datasets, capsys):
    assert cli.main(["data", "check", str(shared_datasets / "face68"), "--json", "--quick"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["splits"] == {"train": 1056, "val": 100, "test": 51}
    assert report["points"] == 68 and report["skipped"] == []


def test_data_check_survives_odd_names_and_links_under_a_strict_utf8_stdout(make_lapa_folder):
    data = make_lapa_folder(n_per_split=1, bad_files=False)
    train = data.root / "train"
    os.symlink("loop.jpg", train / "images" / "loop.jpg")
    (train / "landmarks" / "loop.txt").write_text("1\n1 2\n")
    with open(os.path.join(os.fsencode(train / "images"), b"caf\xe9.jpg"), "wb") as f:
        f.write(b"not an image")
    env = dict(os.environ, PYTHONIOENCODING="utf-8:strict")
    for extra in ([], ["--json"]):
        result = subprocess.run([sys.executable, "-m", "lmkviz", "data", "check", str(data.root), *extra],
                                cwd=REPO_ROOT, capture_output=True, env=env, timeout=120)
        stdout, stderr = result.stdout.decode("utf-8"), result.stderr.decode("utf-8")
        assert result.returncode == 0 and "Traceback" not in stderr, stderr
        assert "caf\\xe9.jpg" in (stdout if not extra else json.loads(stdout)["skipped"][0]["file"])
        assert "symbolic link loop" in stdout
