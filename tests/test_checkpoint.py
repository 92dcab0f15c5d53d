import pickle

import pytest
import torch

from lmkviz import checkpoint as ckpt
from tests.helpers import make_checkpoint


def test_round_trip_rebuilds_the_same_model(tmp_path):
    path = make_checkpoint(tmp_path / "a.pt")
    loaded = ckpt.load_for_inference(path)
    assert loaded.num_points == 68 and loaded.indices == list(range(68))
    assert loaded.codec.image_size == (64, 64) and loaded.codec.heatmap_size == (16, 16)
    again = ckpt.load_for_inference(path)
    x = torch.rand(1, 3, 64, 64)
    torch.testing.assert_close(loaded.model(x), again.model(x))


def test_loads_with_weights_only(tmp_path):
    path = make_checkpoint(tmp_path / "a.pt")
    data = torch.load(path, weights_only=True)
    assert data["format"] == ckpt.FORMAT


@pytest.mark.parametrize("content,phrase", [
    (b"", "empty"),
    (b"hello, I am text", "cannot be read"),
    (b"PK\x03\x04garbage", "cannot be read"),
])
def test_corrupt_files_are_clear_errors(tmp_path, content, phrase):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(ckpt.CheckpointError, match=phrase):
        ckpt.load(path)


def test_truncated_checkpoint(tmp_path):
    path = make_checkpoint(tmp_path / "a.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ckpt.CheckpointError, match="corrupt, truncated"):
        ckpt.load(path)


def test_plain_state_dict_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "sd.pt"
    torch.save({"conv.weight": torch.zeros(3)}, path)
    with pytest.raises(ckpt.CheckpointError, match="not an lmkviz checkpoint"):
        ckpt.load(path)


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": ckpt.FORMAT, "payload": Evil()}, path)
    with pytest.raises(ckpt.CheckpointError, match="refusing to load"):
        ckpt.load(path)


def test_mismatched_architecture_and_point_count(tmp_path):
    path = make_checkpoint(tmp_path / "a.pt")
    with pytest.raises(ckpt.CheckpointError, match="architecture 'hrnet18_small', not 'hrnet18'"):
        ckpt.load(path, model="hrnet18")
    with pytest.raises(ckpt.CheckpointError, match="predicts 68 points, not 5"):
        ckpt.load(path, num_points=5)
    data = torch.load(path, weights_only=True)
    data["model"]["name"] = "unet_resnet18_small"  # weights of another architecture
    torch.save(data, tmp_path / "b.pt")
    with pytest.raises(ckpt.CheckpointError, match="weights do not match"):
        ckpt.load_for_inference(tmp_path / "b.pt")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="no such checkpoint"):
        ckpt.load(tmp_path / "nope.pt")
    with pytest.raises(ckpt.CheckpointError, match="is a folder"):
        ckpt.load(tmp_path)


def test_export_half_drops_training_state_and_stays_close(tmp_path):
    src = make_checkpoint(tmp_path / "a.pt")
    data = torch.load(src, weights_only=True)
    data["training_state"] = {"epoch": 3}
    torch.save(data, src)
    ckpt.export(src, tmp_path / "small.pt", half=True)
    small = torch.load(tmp_path / "small.pt", weights_only=True)
    assert "training_state" not in small
    assert all(v.dtype == torch.float16 for v in small["state_dict"].values() if v.is_floating_point())
    a, b = ckpt.load_for_inference(src), ckpt.load_for_inference(tmp_path / "small.pt")
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(a.model(x), b.model(x), atol=5e-2, rtol=5e-2)


def test_atomic_write_gives_normal_permissions(tmp_path):
    import os

    from lmkviz.checkpoint import atomic_write_bytes

    atomic_write_bytes(tmp_path / "f.bin", b"x")
    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "f.bin").stat().st_mode & 0o777 == 0o666 & ~umask


def test_atomic_write_leaves_no_temp_files(tmp_path):
    ckpt.atomic_write_bytes(tmp_path / "x.bin", b"1234")
    ckpt.atomic_write_bytes(tmp_path / "x.bin", b"56")
    assert (tmp_path / "x.bin").read_bytes() == b"56"
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


# ----------------------------------------------------------------- refused files: lmkviz's own words


class RunsCode:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


class SomeObject:
    pass


UNSAFE_ADVICE = ("weights_only", "add_safe_globals", "False", "trust")


@pytest.mark.parametrize("payload", [RunsCode(), SomeObject(), eval], ids=["os.system", "custom class", "eval"])
def test_a_pickle_with_code_is_refused_in_lmkvizs_own_words(tmp_path, payload):
    path = tmp_path / "evil.pt"
    torch.save({"format": ckpt.FORMAT, "version": ckpt.VERSION, "payload": payload}, path)
    with pytest.raises(ckpt.CheckpointError) as err:
        ckpt.load(path)
    message = str(err.value)
    assert message.startswith(f"{path}: refusing to load")
    assert "will not load" in message and "arbitrary code" in message
    for phrase in UNSAFE_ADVICE:  # torch's text suggests turning the safety check off
        assert phrase not in message, phrase


@pytest.mark.parametrize("content", [b"hello, I am text\n", b"PK\x03\x04garbage", b"\x80\x02}q\x00."])
def test_unreadable_files_name_the_file_and_pass_on_no_torch_text(tmp_path, content):
    path = tmp_path / "notes.pt"
    path.write_bytes(content)
    with pytest.raises(ckpt.CheckpointError) as err:
        ckpt.load(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and ("cannot be read" in message or "not an lmkviz" in message)
    assert not any(phrase in message for phrase in UNSAFE_ADVICE)


@pytest.mark.parametrize("entry,value", [
    ("codec", {"image_size": [64, 64], "heatmap_size": [16, 16], "encoding": "gaussian", "sigma": 2.0,
               "bogus": 1}),
    ("codec", {"image_size": "large"}),
    ("codec", [1, 2, 3]),
    ("scheme", {"name": "ibug68", "indices": ["a"]}),
    ("model", {"name": "hrnet18_small", "num_points": "many"}),
])
def test_bogus_entries_give_a_checkpoint_error_naming_the_file(tmp_path, entry, value):
    path = make_checkpoint(tmp_path / "a.pt")
    data = torch.load(path, weights_only=True)
    data[entry] = value
    torch.save(data, tmp_path / "bogus.pt")
    with pytest.raises(ckpt.CheckpointError) as err:
        ckpt.load_for_inference(tmp_path / "bogus.pt")
    assert str(err.value).startswith(f"{tmp_path / 'bogus.pt'}: ") and entry in str(err.value)


# ----------------------------------------------------------------- atomic writes


def test_atomic_write_follows_the_umask_of_the_moment(tmp_path):
    import os

    old = os.umask(0o027)  # changed after lmkviz.checkpoint was imported
    try:
        ckpt.atomic_write_bytes(tmp_path / "f.bin", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "f.bin").stat().st_mode & 0o777 == 0o640


def test_atomic_write_syncs_the_folder_after_the_rename(tmp_path, monkeypatch):
    import os
    import stat

    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        return real_fsync(fd)

    def replace(src, dst):
        events.append("replace")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    ckpt.atomic_write_bytes(tmp_path / "x.bin", b"data")
    assert events == ["fsync file", "replace", "fsync dir"]  # the new name itself reaches the disk


def test_atomic_write_temp_files_keep_their_name_pattern(tmp_path, monkeypatch):
    import os

    seen = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (seen.append(os.path.basename(src)), real_replace(src, dst)))
    ckpt.atomic_write_bytes(tmp_path / "last.pt", b"1")
    (name,) = seen
    assert name.startswith(".last.pt.") and name.endswith(".tmp")  # what a clean-up of orphans looks for


# ----------------------------------------------------------------- shipped checkpoints by name


def test_shipped_checkpoints_are_found_by_name(tmp_path, monkeypatch):
    from lmkviz import paths

    shipped = tmp_path / "checkpoints"
    shipped.mkdir()
    make_checkpoint(shipped / "second.pt")
    monkeypatch.setattr(paths, "CHECKPOINT_DIRS", (tmp_path / "not_installed", shipped))
    assert ckpt.resolve("second") == shipped / "second.pt"
    assert ckpt.load_for_inference("second").num_points == 68
    assert ckpt.resolve(tmp_path / "elsewhere.pt") == tmp_path / "elsewhere.pt"  # a path stays a path
    with pytest.raises(ckpt.CheckpointError, match="nope: no such checkpoint file.*shipped: second"):
        ckpt.load("nope")


# ----------------------------------------------------------------- format version and describe


@pytest.mark.parametrize("version", [2, 0, None])
def test_another_format_version_is_refused_naming_the_version(tmp_path, version):
    path = make_checkpoint(tmp_path / "a.pt")
    data = torch.load(path, weights_only=True)
    data["version"] = version
    torch.save(data, tmp_path / "other.pt")
    for read in (ckpt.load, ckpt.load_for_inference, ckpt.describe):
        with pytest.raises(ckpt.CheckpointError) as err:
            read(tmp_path / "other.pt")
        message = str(err.value)
        assert message.startswith(f"{tmp_path / 'other.pt'}: ")
        assert f"version {version} is not supported" in message and f"version {ckpt.VERSION}" in message


def test_describe_reads_the_summary_without_building_the_model(tmp_path, monkeypatch):
    from lmkviz import models

    path = make_checkpoint(tmp_path / "a.pt", input_size=64, encoding="binary", indices=[36, 45, 30])
    data = torch.load(path, weights_only=True)
    data["summary"] = {"epoch": 7, "val_nme": {"argmax": 6.5, "dark": 5.25, "topk": float("nan")}}
    torch.save(data, path)

    def no_model(*args, **kwargs):
        raise AssertionError("describe must not build the model")

    monkeypatch.setattr(models, "create", no_model)
    info = ckpt.describe(path)
    assert (info.model, info.scheme, info.num_points, info.indices) == ("hrnet18_small", "ibug68", 68, (36, 45, 30))
    assert info.is_subset
    assert (info.codec, info.encoding, info.input_size, info.heatmap_size) == ("heatmap", "binary", (64, 64), (16, 16))
    assert info.epoch == 7 and info.best_val_nme() == ("dark", 5.25)
    assert info.path == str(path)


def test_describe_of_an_untrained_full_checkpoint(tmp_path):
    info = ckpt.describe(make_checkpoint(tmp_path / "a.pt", input_size=64))
    assert not info.is_subset and info.indices == tuple(range(68))
    assert info.encoding == "gaussian" and info.sigma == pytest.approx(2.0)
    assert info.epoch == 0 and info.best_val_nme() is None


def test_a_checkpoint_says_when_it_was_trained_and_old_ones_say_nothing(tmp_path):
    """The home page shows the training date stored in the checkpoint, never the file's time."""
    import os
    from datetime import datetime, timedelta, timezone

    path = make_checkpoint(tmp_path / "new.pt", input_size=64)
    stamp = torch.load(path, weights_only=True)["summary"]["trained_at"]
    made = datetime.fromisoformat(stamp)
    assert made.tzinfo is not None and abs(datetime.now(timezone.utc) - made) < timedelta(minutes=5)
    os.utime(path, (0, 0))  # a copy or a clone changes the file time, not the training date
    assert ckpt.describe(path).trained_at == stamp
    ckpt.export(path, tmp_path / "shipped.pt")  # exporting keeps it
    assert ckpt.describe(tmp_path / "shipped.pt").trained_at == stamp

    data = torch.load(path, weights_only=True)
    data["summary"] = {"epoch": 3, "trained_at": "2026-01-02T03:04:05+00:00"}  # a summary that has one keeps it
    torch.save(data, path)
    assert ckpt.describe(path).trained_at == "2026-01-02T03:04:05+00:00"
    for old in ({"epoch": 3}, {"epoch": 3, "trained_at": "yesterday"}, {"epoch": 3, "trained_at": 5}):
        data["summary"] = old
        torch.save(data, path)
        assert ckpt.describe(path).trained_at is None
