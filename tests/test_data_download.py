import io
import socket
import tarfile
import time

import gdown
import pytest

from lmkviz.data import FolderSplit, download
from lmkviz.data.download import DownloadError, check_archive_size, download_lapa, extract_lapa


def _make_archive(path, make_lapa_folder, top="LaPa"):
    """A small .tgz holding a LaPa-layout folder under ``top/`` (or at the top when empty)."""
    data = make_lapa_folder("src", n_per_split=2, num_points=106, size=24, bad_files=False)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(data.root, arcname=top or ".")
    return path


@pytest.fixture
def plenty_of_space(monkeypatch):
    monkeypatch.setattr(download, "_free_bytes", lambda path: 10**13)


def test_offline_gives_a_plain_download_error(tmp_path, monkeypatch, plenty_of_space):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # keep gdown's cookie file out of the real home
    with pytest.raises(DownloadError, match="cannot reach Google Drive") as err:
        download_lapa(tmp_path / "data", quiet=True, retries=0, timeout=5)
    message = str(err.value)
    assert "Traceback" not in message and "run the download again" in message
    assert not (tmp_path / "data" / "LaPa").exists()


def test_connection_error_wrapped_by_gdown_retries(tmp_path, monkeypatch, plenty_of_space):
    import requests

    def wrapped(**kwargs):
        try:
            raise requests.exceptions.ConnectionError("Failed to resolve 'drive.google.com'")
        except requests.exceptions.ConnectionError as err:
            raise gdown.exceptions.DownloadError("Download failed after 3 retries: ...") from err

    monkeypatch.setattr(gdown, "download", wrapped)
    with pytest.raises(DownloadError, match="cannot reach Google Drive"):
        download_lapa(tmp_path, quiet=True)


def test_drive_quota_error_is_explained(tmp_path, monkeypatch, plenty_of_space):
    def refused(**kwargs):
        raise gdown.exceptions.FileURLRetrievalError("Too many users have viewed or downloaded this file recently.")

    monkeypatch.setattr(gdown, "download", refused)
    with pytest.raises(DownloadError, match="Google Drive refused the download.*Too many users"):
        download_lapa(tmp_path, quiet=True)


def test_html_page_instead_of_archive_fails_the_size_check(tmp_path, monkeypatch, plenty_of_space):
    def html(**kwargs):
        with open(kwargs["output"], "w") as f:
            f.write("<!DOCTYPE html><html><body>Quota exceeded</body></html>")
        return kwargs["output"]

    monkeypatch.setattr(gdown, "download", html)
    with pytest.raises(DownloadError, match="HTML page") as err:
        download_lapa(tmp_path, quiet=True)
    assert "0.0 MB" in str(err.value)
    assert not (tmp_path / "LaPa.tgz").exists()  # moved aside so the next run downloads again
    assert (tmp_path / "LaPa.tgz.invalid").exists()


def test_check_archive_size_accepts_the_expected_size(tmp_path):
    path = tmp_path / "a.tgz"
    path.write_bytes(b"\x1f\x8b" + b"\0" * 998)
    check_archive_size(path, expected=1000)
    check_archive_size(path, expected=1050)  # within 5 %
    with pytest.raises(DownloadError, match="too small"):
        check_archive_size(path, expected=2000)


def test_download_extracts_and_is_idempotent(tmp_path, monkeypatch, make_lapa_folder, plenty_of_space):
    archive = _make_archive(tmp_path / "built.tgz", make_lapa_folder)
    size = archive.stat().st_size
    monkeypatch.setattr(download, "LAPA_EXPECTED_SIZE", size)
    calls = []

    def fake_download(**kwargs):
        calls.append(kwargs)
        kwargs["progress"](size // 2, None)
        kwargs["progress"](size, size)
        with open(kwargs["output"], "wb") as f:
            f.write(archive.read_bytes())
        return kwargs["output"]

    monkeypatch.setattr(gdown, "download", fake_download)
    seen = []
    dest = tmp_path / "data"
    path = download_lapa(dest, quiet=True, progress=lambda done, total: seen.append((done, total)))
    assert path == dest / "LaPa"
    assert seen == [(size // 2, size), (size, size)]
    assert calls[0]["id"] == download.LAPA_FILE_ID and calls[0]["resume"] is True
    assert len(FolderSplit(path, "val")) == 2
    assert not (dest / ".LaPa.extracting").exists()
    assert download_lapa(dest, quiet=True) == path
    assert len(calls) == 1  # already extracted: nothing downloaded again


def test_existing_archive_is_used_without_network(tmp_path, monkeypatch, make_lapa_folder):
    dest = tmp_path / "data"
    dest.mkdir()
    archive = _make_archive(dest / "LaPa.tgz", make_lapa_folder, top="")
    monkeypatch.setattr(download, "LAPA_EXPECTED_SIZE", archive.stat().st_size)
    monkeypatch.setattr(gdown, "download", lambda **kw: pytest.fail("must not download"))
    path = download_lapa(dest, quiet=True, keep_archive=False)
    assert FolderSplit(path, "train").num_points == 106
    assert not archive.exists()


def test_progress_from_the_partial_file_with_older_gdown(tmp_path, monkeypatch, plenty_of_space):
    monkeypatch.setattr(download, "POLL_SECONDS", 0.02)
    monkeypatch.setattr(download, "LAPA_EXPECTED_SIZE", 1000)

    def old_gdown(url=None, output=None, quiet=False, id=None, resume=False):  # no progress option
        part = tmp_path / "LaPa.tgzABCDEFGH.part"
        part.write_bytes(b"x" * 400)
        time.sleep(0.3)
        raise gdown.exceptions.DownloadError("connection dropped")  # the partial file stays

    monkeypatch.setattr(gdown, "download", old_gdown)
    seen = []
    with pytest.raises(DownloadError, match=r"connection dropped.*partial download \(0 MB\) is kept.*resume"):
        download_lapa(tmp_path, quiet=True, progress=lambda done, total: seen.append((done, total)))
    assert seen and set(seen) == {(400, 1000)}


def test_not_enough_disk_space(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "_free_bytes", lambda path: 10**9)
    monkeypatch.setattr(gdown, "download", lambda **kw: pytest.fail("must not download"))
    with pytest.raises(DownloadError, match="not enough disk space"):
        download_lapa(tmp_path, quiet=True)


def test_extraction_refuses_unsafe_members(tmp_path):
    archive = tmp_path / "evil.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        payload = b"gotcha"
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(DownloadError, match="unsafe entry"):
        extract_lapa(archive, dest)
    assert not (tmp_path / "escaped.txt").exists()
    assert list(dest.iterdir()) == []


def test_extraction_of_corrupt_or_wrong_archives(tmp_path):
    corrupt = tmp_path / "corrupt.tgz"
    corrupt.write_bytes(b"\x1f\x8b\x08\x00" + b"not really gzip" * 10)
    with pytest.raises(DownloadError, match="corrupt or incomplete"):
        extract_lapa(corrupt, tmp_path / "a")
    other = tmp_path / "other.tgz"
    with tarfile.open(other, "w:gz") as tar:
        info = tarfile.TarInfo("readme.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(DownloadError, match="does not contain a dataset in the LaPa layout"):
        extract_lapa(other, tmp_path / "b")
    assert not (tmp_path / "b" / "LaPa").exists()
