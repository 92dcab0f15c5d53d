"""lmkviz.images: the one image loader (datasets, uploads, `lmkviz predict`), its pixel limit
and its error messages."""

import io
import os

import numpy as np
import pytest
from PIL import Image

from lmkviz import cli, images
from lmkviz.data.folder import FolderSplit, read_image
from lmkviz.inference import load_image
from tests.helpers import png_header_only


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


BOMB = png_header_only(20000, 20000)  # 400 megapixels: above Pillow's own error threshold
BIG = png_header_only(11000, 11000)  # 121 megapixels: Pillow only warns; lmkviz's limit refuses it


@pytest.mark.parametrize("data", [BOMB, BIG], ids=["400MP", "121MP"])
def test_bombs_are_refused_with_a_clear_value_error_by_every_loader(tmp_path, data):
    path = tmp_path / "bomb.png"
    path.write_bytes(data)
    calls = [
        lambda: load_image(data, name="bomb.png"),  # the Upload page (through ui) and the CLI
        lambda: load_image(path),
        lambda: read_image(path),  # dataset samples
        lambda: images.image_size(path),  # dataset scanning
    ]
    for call in calls:
        with pytest.raises(ValueError) as err:  # not PIL.Image.DecompressionBombError
            call()
        message = str(err.value)
        assert "bomb.png" in message and "too large" in message
        assert f"{images.MAX_PIXELS / 1e6:.0f} megapixels" in message


def test_one_pixel_limit_guards_datasets_and_uploads(tmp_path, monkeypatch):
    path = tmp_path / "small.png"
    path.write_bytes(png_bytes(np.zeros((20, 30, 3), np.uint8)))
    assert read_image(path).shape == (20, 30, 3) and load_image(path).array.shape == (20, 30, 3)
    monkeypatch.setattr(images, "MAX_PIXELS", 599)
    for call in (lambda: read_image(path), lambda: load_image(path), lambda: images.image_size(path)):
        with pytest.raises(ValueError, match="small.png: .*too large"):
            call()
    monkeypatch.setattr(images, "MAX_PIXELS", 600)  # 20 x 30 = 600 pixels: allowed
    assert read_image(path).shape == (20, 30, 3) and images.image_size(path) == (20, 30)


def test_the_limit_lets_the_largest_phone_photos_through():
    assert 12000 * 9000 <= images.MAX_PIXELS < 20000 * 20000  # a 108 MP phone photo; the bomb above


def test_a_dataset_with_a_bomb_skips_it_with_the_reason(make_lapa_folder):
    data = make_lapa_folder(n_per_split=2, bad_files=False)
    (data.root / "train" / "images" / "bomb.png").write_bytes(BOMB)
    (data.root / "train" / "landmarks" / "bomb.txt").write_bytes(
        (data.root / "train" / "landmarks" / "train_000.txt").read_bytes())
    split = FolderSplit(data.root, "train", warn=False)
    assert split.names == data.good["train"]
    reasons = {os.path.basename(f): r for f, r in split.skipped}
    assert "too large" in reasons["bomb.png"]


def test_cli_predict_refuses_a_bomb_without_a_traceback(tmp_path, capsys):
    from tests.helpers import make_checkpoint

    checkpoint = make_checkpoint(tmp_path / "tiny.pt")
    (tmp_path / "bomb.png").write_bytes(BOMB)
    assert cli.main(["predict", "--checkpoint", str(checkpoint), str(tmp_path / "bomb.png")]) == 1
    err = capsys.readouterr().err
    assert "bomb.png" in err and "too large" in err


@pytest.mark.parametrize("data,phrase", [
    (b"", "empty"),
    (b"%PDF-1.4 not an image", "not an image"),
    (png_bytes(np.zeros((50, 50, 3), np.uint8))[:60], "corrupt or truncated"),
])
def test_errors_are_worded_the_same_for_files_and_uploads(tmp_path, data, phrase):
    path = tmp_path / "x.png"
    path.write_bytes(data)
    messages = []
    for call in (lambda: load_image(data, name=str(path)), lambda: load_image(path), lambda: read_image(path)):
        with pytest.raises(ValueError, match=phrase) as err:
            call()
        messages.append(str(err.value))
    assert len(set(messages)) == 1, messages


def test_missing_file_folder_and_symlink_loop(tmp_path):
    os.symlink("loop.jpg", tmp_path / "loop.jpg")
    (tmp_path / "folder.jpg").mkdir()
    for name, phrase in [("missing.jpg", "not found"), ("folder.jpg", "is a folder"),
                         ("loop.jpg", "symbolic link loop")]:
        for call in (read_image, load_image, images.image_size):
            with pytest.raises(ValueError, match=f"{name}: .*{phrase}"):
                call(tmp_path / name)


def test_messages_do_not_echo_file_contents(tmp_path):
    # Pillow's own messages quote header bytes ("Token too long in file header: SECRET...");
    # a message must say what is wrong with a file, never what the file says.
    secrets = [b"P6\n" + b"SECRET" * 40 + b"\n", b"P6\nSECRET 4\n255\n"]
    for i, data in enumerate(secrets):
        path = tmp_path / f"s{i}.ppm"
        path.write_bytes(data)
        for call in (lambda: load_image(data, name=path.name), lambda: read_image(path),
                     lambda: images.image_size(path)):
            with pytest.raises(ValueError) as err:
                call()
            assert "SECRET" not in str(err.value) and path.name in str(err.value)


def test_non_utf8_file_names_give_printable_messages(tmp_path):
    name = os.fsdecode(b"caf\xe9.jpg")
    (tmp_path / name).write_text("not an image")
    with pytest.raises(ValueError) as err:
        read_image(tmp_path / name)
    message = str(err.value)
    message.encode("utf-8")  # no lone surrogates: printable and serialisable anywhere
    assert "caf\\xe9.jpg" in message


def test_cli_predict_prints_non_utf8_file_names_under_a_strict_utf8_stdout(tmp_path):
    import subprocess
    import sys

    from tests.helpers import make_checkpoint

    checkpoint = make_checkpoint(tmp_path / "tiny.pt")
    face = os.path.join(os.fsencode(tmp_path), b"caf\xe9.png")
    with open(face, "wb") as f:
        f.write(png_bytes(np.full((64, 64, 3), 128, np.uint8)))
    result = subprocess.run([sys.executable, "-m", "lmkviz", "predict", "--checkpoint", str(checkpoint),
                             os.fsdecode(face)], capture_output=True, timeout=300,
                            env=dict(os.environ, PYTHONIOENCODING="utf-8:strict"),
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    stdout, stderr = result.stdout.decode("utf-8"), result.stderr.decode("utf-8")
    assert result.returncode == 0 and "Traceback" not in stderr, stderr
    assert "caf\\xe9.png: whole image; 68 landmarks" in stdout
