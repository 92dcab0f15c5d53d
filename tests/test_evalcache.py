"""Evaluations cached on disk by checkpoint content, data, split, n and options."""

import numpy as np
import pytest

from lmkviz import evalcache, evaluation
from tests.helpers import make_checkpoint


@pytest.fixture
def counted(monkeypatch):
    """evaluation.evaluate, counting its calls."""
    calls = []
    real = evaluation.evaluate

    def evaluate(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate", evaluate)
    return calls


def test_second_evaluation_comes_from_disk_with_the_same_values(tmp_path, counted):
    ckpt = make_checkpoint(tmp_path / "a.pt")
    first, hit1 = evalcache.cached_evaluate(ckpt, "synthetic", "test", limit=3, keep_heatmaps=True, root=tmp_path / "c")
    again, hit2 = evalcache.cached_evaluate(ckpt, "synthetic", "test", limit=3, keep_heatmaps=True, root=tmp_path / "c")
    assert (hit1, hit2) == (False, True) and len(counted) == 1
    assert again.names == first.names and again.indices == first.indices
    for m in first.pred:
        np.testing.assert_array_equal(again.pred[m], first.pred[m])
        np.testing.assert_array_equal(again.nme[m], first.nme[m])
    np.testing.assert_array_equal(again.heatmaps, first.heatmaps)
    assert again.table() == first.table()
    assert again.codec.to_dict() == first.codec.to_dict()
    view, view0 = again.sample_view(1), first.sample_view(1)
    np.testing.assert_array_equal(view.pred_hm["dark"], view0.pred_hm["dark"])


def test_the_key_is_the_checkpoint_content_and_the_request(tmp_path, counted):
    root = tmp_path / "c"
    ckpt = make_checkpoint(tmp_path / "a.pt", seed=0)
    evalcache.cached_evaluate(ckpt, "synthetic", "test", limit=2, root=root)
    # the same bytes under another name: from disk
    copy = tmp_path / "copy.pt"
    copy.write_bytes(ckpt.read_bytes())
    assert evalcache.cached_evaluate(copy, "synthetic", "test", limit=2, root=root)[1] is True
    # new weights at the same path (a retrained best.pt), more images, another split, the flip test: computed
    make_checkpoint(ckpt, seed=1)
    assert evalcache.cached_evaluate(ckpt, "synthetic", "test", limit=2, root=root)[1] is False
    assert evalcache.cached_evaluate(ckpt, "synthetic", "test", limit=3, root=root)[1] is False
    assert evalcache.cached_evaluate(ckpt, "synthetic", "val", limit=2, root=root)[1] is False
    assert evalcache.cached_evaluate(ckpt, "synthetic", "test", limit=2, flip_test=True, root=root)[1] is False
    assert len(counted) == 5


def test_changed_annotations_and_damaged_files_are_evaluated_again(tmp_path, counted):
    from tests.conftest import build_lapa_folder

    root = tmp_path / "c"
    data = build_lapa_folder(tmp_path / "lapa", n_per_split=3, size=64, bad_files=False).root
    ckpt = make_checkpoint(tmp_path / "a.pt")
    evalcache.cached_evaluate(ckpt, str(data), "test", limit=3, root=root)
    assert evalcache.cached_evaluate(ckpt, str(data), "test", limit=3, root=root)[1] is True
    label = sorted((data / "test" / "landmarks").iterdir())[0]
    lines = label.read_text().splitlines()
    lines[1] = "1.5 2.5"
    label.write_text("\n".join(lines) + "\n")
    assert evalcache.cached_evaluate(ckpt, str(data), "test", limit=3, root=root)[1] is False
    for f in (root / "evaluations").glob("*.npz"):
        f.write_bytes(b"not an npz")
    result, hit = evalcache.cached_evaluate(ckpt, str(data), "test", limit=3, root=root)
    assert hit is False and result.n == 3 and len(counted) == 3


def test_the_cache_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LMKVIZ_CACHE", str(tmp_path / "x"))
    assert evalcache.cache_root() == tmp_path / "x"
    monkeypatch.delenv("LMKVIZ_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert evalcache.cache_root() == tmp_path / "xdg" / "lmkviz"
