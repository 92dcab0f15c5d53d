"""The one evaluator: NME in original image pixels with the scheme's own eye corners, the flip
test written once, kept heatmaps, and the agreement between training validation and
``lmkviz evaluate``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from lmkviz import cli, coords
from lmkviz.data import LAPA106, IBUG68, open_split
from lmkviz.encoding import HeatmapCodec
from lmkviz.evaluation import (
    evaluate,
    evaluate_model,
    evaluation_dataset,
    predict_heatmaps,
    primary_decoder,
)
from lmkviz.runs import RunFolder
from lmkviz.training import train
from tests.helpers import make_checkpoint, tiny_config

S = 64  # network input side of these tests


class Oracle(nn.Module):
    """A "model" that returns the heatmaps it was given, batch after batch."""

    def __init__(self, maps: torch.Tensor):
        super().__init__()
        self.maps = maps
        self.pos = 0
        self.weight = nn.Parameter(torch.zeros(()))  # a parameter, like any model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.maps[self.pos:self.pos + len(x)]
        self.pos += len(x)
        return out


def oracle_for(dataset, codec: HeatmapCodec, shift: tuple[float, float]) -> Oracle:
    """Heatmaps whose points are each image's ORIGINAL annotation moved by ``shift`` original
    pixels, drawn in the network input (so the evaluator must map them back per axis)."""
    maps = []
    for i in range(len(dataset)):
        item = dataset[i]
        moved = item["original_points"].double() + torch.tensor(shift, dtype=torch.float64)
        on_input = coords.rescale_batch(moved[None], item["original_size"][None], S)
        maps.append(codec.encode(on_input.float())[0])
    return Oracle(torch.cat(maps))


def score(folder, scheme, shift, split="val"):
    codec = HeatmapCodec(image_size=S, heatmap_size=S, encoding="gaussian", sigma=2.0)
    dataset = evaluation_dataset(open_split(folder.root, split), S)
    model = oracle_for(dataset, codec, shift)
    return evaluate_model(model, codec, dataset, indices=range(scheme.num_points), scheme=scheme, batch_size=2)


def test_nme_is_measured_in_the_original_pixels_of_non_square_images(make_lapa_folder):
    # 40 x 100 images are squashed into 64 x 64: x by 0.64, y by 1.6
    folder = make_lapa_folder(n_per_split=3, size=40, width=100, margin=6, bad_files=False, splits=("val",))
    result = score(folder, IBUG68, shift=(3.0, -4.0))  # 5 original pixels off, every point
    assert result.image_sizes.tolist() == [[40, 100]] * 3
    reader = open_split(folder.root, "val")
    truth = np.stack([reader[i].points for i in range(3)]).astype(np.float64)
    np.testing.assert_allclose(result.target, truth)
    iod = np.linalg.norm(truth[:, 36] - truth[:, 45], axis=-1)
    np.testing.assert_allclose(result.norm, iod)
    # DARK reads the sub-pixel Gaussians back: every point 5 px from its annotation
    errors = np.linalg.norm(result.pred["dark"] - result.target, axis=-1)
    np.testing.assert_allclose(errors, 5.0, atol=0.05)
    np.testing.assert_allclose(result.nme["dark"], 5.0 / iod, rtol=0.01)
    assert result.summary()["nme"]["dark"] == pytest.approx(100 * np.mean(5.0 / iod), rel=0.01)


def test_nme_uses_the_eye_corners_of_the_scheme_lapa106(make_lapa_folder):
    folder = make_lapa_folder(n_per_split=3, num_points=106, size=80, width=60, margin=8, bad_files=False,
                              splits=("val",))
    result = score(folder, LAPA106, shift=(2.0, 0.0))
    reader = open_split(folder.root, "val")
    truth = np.stack([reader[i].points for i in range(3)]).astype(np.float64)
    assert LAPA106.eye_corners == (66, 79)
    iod = np.linalg.norm(truth[:, 66] - truth[:, 79], axis=-1)  # not 36/45: brow points in LaPa-106
    np.testing.assert_allclose(result.norm, iod)
    np.testing.assert_allclose(result.nme["dark"], 2.0 / iod, rtol=0.02)
    per_landmark = result.per_landmark()["dark"]
    np.testing.assert_allclose(per_landmark, np.mean(2.0 / iod), rtol=0.05)


def test_unreadable_images_are_not_counted_twice(make_lapa_folder):
    folder = make_lapa_folder(n_per_split=3, bad_files=True, splits=("train",))
    codec = HeatmapCodec(image_size=S, heatmap_size=S // 4, encoding="gaussian", sigma=1.0)
    dataset = evaluation_dataset(open_split(folder.root, "train"), S)
    model = nn.Conv2d(3, 68, 4, stride=4)
    with pytest.warns(UserWarning, match="skipping"):
        result = evaluate_model(model, codec, dataset, indices=range(68), scheme=IBUG68, batch_size=4)
    # the truncated JPEG is replaced by the next good image by the dataset: scored once only
    assert sorted(result.names) == folder.good["train"]


def test_predict_heatmaps_flip_test_averages_probabilities_for_logits():
    torch.manual_seed(0)
    model = nn.Conv2d(3, 2, 3, padding=1).eval()
    x = torch.rand(2, 3, 8, 8)
    perm = [1, 0]
    with torch.no_grad():
        plain, mirrored = model(x), model(x.flip(-1)).flip(-1)[:, perm]
        gauss = predict_heatmaps(model, x, flip_perm=perm)
        logits = predict_heatmaps(model, x, flip_perm=perm, logits=True)
    torch.testing.assert_close(gauss, (plain + mirrored) / 2)
    torch.testing.assert_close(torch.sigmoid(logits), (torch.sigmoid(plain) + torch.sigmoid(mirrored)) / 2)


def test_primary_decoder_rule():
    assert primary_decoder("binary") == "topk"
    assert primary_decoder("gaussian") == primary_decoder("gaussian_int") == "dark"


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.pt")


def test_kept_heatmaps_are_the_predictors_output(tiny_ckpt, make_lapa_folder):
    from lmkviz.inference import Predictor

    folder = make_lapa_folder(n_per_split=3, size=48, width=72, bad_files=False, splits=("val",))
    predictor = Predictor(tiny_ckpt)
    result = evaluate(predictor, folder.root, "val", keep_heatmaps=True)
    assert result.heatmaps.dtype == np.float16 and result.heatmaps.shape == (3, 68, 16, 16)
    dataset = evaluation_dataset(open_split(folder.root, "val"), 64)
    raw = predictor.heatmaps(torch.stack([dataset[i]["image"] for i in range(3)]))
    np.testing.assert_allclose(result.heatmaps.astype(np.float32), raw.numpy(), rtol=2e-3, atol=2e-3)
    # decoded on the kept maps and mapped back: the evaluation's own points
    dark = predictor.codec.decode(raw, "dark").double()
    np.testing.assert_allclose(result.pred["dark"], coords.rescale_batch(dark, 64, result.image_sizes).numpy(),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(result.confidence.shape, (3, 68))


def test_flip_test_of_the_evaluator_matches_the_predictor(tiny_ckpt, make_lapa_folder):
    from lmkviz.inference import Predictor

    folder = make_lapa_folder(n_per_split=2, bad_files=False, splits=("val",))
    plain = evaluate(tiny_ckpt, folder.root, "val", keep_heatmaps=True)
    flipped = evaluate(tiny_ckpt, folder.root, "val", keep_heatmaps=True, flip_test=True)
    assert flipped.flip_test and not plain.flip_test
    dataset = evaluation_dataset(open_split(folder.root, "val"), 64)
    images = torch.stack([dataset[i]["image"] for i in range(2)])
    expected = Predictor(tiny_ckpt, flip_test=True).heatmaps(images)
    np.testing.assert_allclose(flipped.heatmaps.astype(np.float32), expected.numpy(), rtol=2e-3, atol=2e-3)
    assert not np.allclose(flipped.heatmaps, plain.heatmaps, atol=1e-3)


def test_validation_nme_equals_lmkviz_evaluate_on_best_pt(tmp_path, make_lapa_folder, capsys):
    """The NME logged for the best epoch is what `lmkviz evaluate` gives for best.pt, on
    non-square images (so the scale back to original pixels matters)."""
    folder = make_lapa_folder(n_per_split=5, size=48, width=96, bad_files=False, splits=("train", "val"))
    config = tiny_config(data=(str(folder.root),), epochs=2, limit_train=4, limit_val=None, augment=0.0)
    path = train(config, runs_root=tmp_path / "runs", progress_bar=False)
    best = torch.load(path / "best.pt", weights_only=True)["summary"]["epoch"]
    _, epochs = RunFolder(path).history()
    logged = next(r for r in epochs if r["epoch"] == best)["val_nme"]
    capsys.readouterr()
    code = cli.main(["evaluate", "--checkpoint", str(path / "best.pt"), "--data", str(folder.root),
                     "--split", "val", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 5
    for decoder, value in logged.items():
        assert abs(out["nme"][decoder] - value) < 0.01, (decoder, out["nme"][decoder], value)


# ----------------------------------------------------------------------------- what the Compare page reads


def test_sample_view_puts_the_kept_heatmaps_and_points_in_the_network_input(tiny_ckpt, make_lapa_folder):
    from lmkviz.inference import Predictor

    folder = make_lapa_folder(n_per_split=3, size=48, width=72, bad_files=False, splits=("val",))
    predictor = Predictor(tiny_ckpt)
    result = evaluate(predictor, folder.root, "val", keep_heatmaps=True)
    view = result.sample_view(1)
    dataset = evaluation_dataset(open_split(folder.root, "val"), 64)
    item = dataset[1]
    raw = predictor.heatmaps(item["image"][None])
    # the points the decoder reads from the maps, in input px: no second network run needed
    np.testing.assert_allclose(view.pred["dark"], predictor.codec.decode(raw, "dark")[0].numpy(), atol=2e-2)
    np.testing.assert_allclose(view.target, item["points"].numpy(), atol=1e-4)  # the resized annotation
    assert view.input_size == (64, 64) and view.heatmap_size == (16, 16) and view.stride == 4
    np.testing.assert_allclose(view.target_hm, item["points"].numpy() / 4, atol=1e-4)
    np.testing.assert_allclose(view.maps, raw[0].numpy(), atol=2e-3)  # Gaussian maps: scores as they are
    assert view.annotated(0) and view.annotated(67)
    # the original image is 72 x 48: x is scaled by 64/72, y by 64/48
    assert view.pred["argmax"][5] == pytest.approx(result.pred["argmax"][1][5] * [64 / 72, 64 / 48], abs=1e-4)


def test_binary_sample_view_shows_probabilities(tmp_path, make_lapa_folder):
    folder = make_lapa_folder(n_per_split=2, size=64, bad_files=False, splits=("val",))
    ckpt = make_checkpoint(tmp_path / "bin.pt", encoding="binary")
    result = evaluate(ckpt, folder.root, "val", keep_heatmaps=True)
    view = result.sample_view(0)
    np.testing.assert_allclose(view.maps, torch.sigmoid(torch.as_tensor(result.heatmaps[0]).float()).numpy(),
                               atol=1e-6)
    assert view.maps.min() >= 0 and view.maps.max() <= 1
    with pytest.raises(ValueError, match="keep_heatmaps=True"):
        evaluate(ckpt, folder.root, "val").sample_view(0)


def test_table_ranking_and_per_image_errors():
    from lmkviz.evaluation import Evaluation

    target = np.zeros((3, 2, 2))
    target[:, 1, 0] = 10  # eye corners 10 px apart
    pred = {"argmax": target + [[[1, 0]], [[2, 0]], [[4, 0]]], "dark": target + [[[0.5, 0]], [[3, 0]], [[0, 1]]]}
    pred["dark"][1, 1] += [0, 4]  # image b: landmark 1 is 5 px off, landmark 0 3 px
    nme = {m: np.linalg.norm(p - target, axis=-1).mean(1) / 10 for m, p in pred.items()}
    result = Evaluation(names=["a", "b", "c"], target=target, pred=pred, confidence=np.ones((3, 2)), nme=nme,
                        norm=np.full(3, 10.0), indices=[0, 1], image_sizes=np.full((3, 2), 64))
    rows = {r["decoder"]: r for r in result.table()}
    # per image: argmax 10, 20, 40 %; DARK 5, 40, 10 %
    assert rows["argmax"]["nme"] == pytest.approx(70 / 3, abs=1e-4) and rows["argmax"]["vs_base"] is None
    assert rows["dark"]["nme"] == pytest.approx(55 / 3, abs=1e-4)
    assert rows["dark"]["vs_base"] == pytest.approx(100 * (55 - 70) / 70, abs=0.01)
    assert result.best_decoder() == "dark"
    assert result.ranked("argmax").tolist() == [2, 1, 0] and result.ranked("dark").tolist() == [1, 2, 0]
    assert result.image_nme(1) == pytest.approx({"argmax": 20.0, "dark": 40.0})
    assert result.worst_landmark(1, "dark") == 1 and result.worst_landmark(1, "argmax") == 0
    split = type("Split", (), {"names": ["x", "c", "a"]})()
    assert result.positions_in(split).tolist() == [2, -1, 1]


# ----------------------------------------------------------------------------- what the numbers say (issue 14)


def made_up(errors: dict, n: int = 20, k: int = 68, per_landmark=None, **meta):
    """An Evaluation of ``n`` images whose per-image NME is ``errors[decoder]`` (fractions, a
    number or an (n,) array) and, when given, whose (k,) mean landmark errors are
    ``per_landmark[decoder]`` (fractions of the 10 px inter-ocular distance)."""
    from lmkviz.evaluation import Evaluation

    target = np.zeros((n, k, 2))
    pred, nme = {}, {}
    for m, e in errors.items():
        per = np.full(k, 0.05) if per_landmark is None else np.asarray(per_landmark[m], float)
        pred[m] = target.copy()
        pred[m][..., 0] = per * 10  # each landmark off by per * 10 px along x
        nme[m] = np.broadcast_to(np.asarray(e, float), (n,)).copy()
    return Evaluation(names=[f"i{j}" for j in range(n)], target=target, pred=pred, confidence=np.ones((n, k)),
                      nme=nme, norm=np.full(n, 10.0), indices=list(range(k)), image_sizes=np.full((n, 2), 64),
                      codec=HeatmapCodec(image_size=128, heatmap_size=32), **meta)


def test_the_summary_is_written_from_the_numbers():
    from lmkviz.evaluation import grade, summary_text

    good = summary_text(made_up({"argmax": 0.054, "dark": 0.041}))
    assert good.startswith("**Good.**") and "**DARK**" in good and "4.10 %" in good
    assert "24 % below argmax (5.40 %)" in good and "4 input px apart" in good
    assert summary_text(made_up({"argmax": 0.08, "dark": 0.07})).startswith("**Rough.**")
    # 16 % NME, FR@10 91 %: a model out of its domain
    failing = np.r_[np.full(18, 0.17), np.full(2, 0.06)]
    text = summary_text(made_up({"argmax": failing + 0.005, "dark": failing}))
    assert text.startswith("**The model fails on most of these faces.**")
    assert "90 % of the 20 images fail" in text and "cannot repair that" in text
    assert "below argmax" not in text  # no claim that the decoder choice matters here
    poor = np.r_[np.full(7, 0.12), np.full(13, 0.05)]  # 35 % failures
    assert summary_text(made_up({"argmax": poor, "dark": poor - 0.001})).startswith("**Poor.**")
    assert grade(4.9, 0) == "good" and grade(5.1, 0) == "rough" and grade(4.0, 30) == "poor"
    assert grade(8.1, 0) == "poor" and grade(float("nan"), 0) == "poor"


def test_domain_note_compares_training_and_evaluated_data():
    from lmkviz.evaluation import domain_note

    def note(train, dataset, split="val", train_split="train"):
        return domain_note(made_up({"dark": 0.1}, train_data=tuple(train), train_split=train_split,
                                   dataset=dataset, split=split))

    synthetic = note(["synthetic"], "../shared/datasets/face68")
    assert synthetic.startswith("**Different data.**") and "**synthetic**" in synthetic and "**face68**" in synthetic
    assert "drawn faces" in synthetic
    assert "photos in training" in note(["../shared/datasets/face68"], "synthetic")
    assert "another dataset" in note(["data/LaPa"], "/elsewhere/face68/")
    assert note(["../shared/datasets/face68", "../shared/datasets/ytf68"], "/somewhere/else/face68") is None
    assert note(["synthetic"], "synthetic") is None
    assert note(["synthetic"], "synthetic", split="train").startswith("**Training images.**")
    assert note([], "face68") is None  # a checkpoint without its config: nothing to say


def test_landmark_caption_names_the_worst_landmarks_and_groups_from_the_data():
    from lmkviz.evaluation import group_errors, landmark_caption, landmark_groups

    per = np.full(68, 0.03)
    per[[21, 22]] = [0.09, 0.085]  # the inner brow ends
    per[[48, 54]] = [0.08, 0.075]  # the mouth corners
    per[:17] = 0.02  # an easy jaw
    evaluation = made_up({"dark": 0.04}, per_landmark={"dark": per})
    caption = landmark_caption(evaluation, "dark", IBUG68)
    assert "landmarks 21 (right brow inner end, 9.0 %), 22 (left brow inner end, 8.5 %), 48 (right mouth corner, 8.0 %)" in caption
    groups = group_errors(evaluation, "dark", IBUG68)
    assert groups["jaw"] == pytest.approx(2.0) and groups["brows"] == pytest.approx((8 * 3 + 9 + 8.5) / 10)
    assert "hardest: brows" in caption and "easiest: jaw" in caption
    assert "Jaw points are usually the hardest" not in caption
    assert list(landmark_groups(IBUG68, range(68))) == ["jaw", "brows", "nose", "eyes", "mouth"]
    assert landmark_groups(IBUG68, [48, 36, 30, 45]) == {"nose": [2], "eyes": [1, 3], "mouth": [0]}


def test_runs_table_and_curves_score_each_checkpoint_with_the_chosen_decoder():
    from lmkviz.evaluation import runs_curves, runs_table

    a = made_up({"argmax": 0.06, "dark": 0.05}, train_data=("synthetic",))
    b = made_up({"argmax": 0.04, "dark": 0.045}, train_data=("../shared/datasets/face68", "x/ytf68"), flip_test=True)
    rows = runs_table({"run a": a, "run b": b})  # each one's best decoder
    assert [(r["checkpoint"], r["decoder"], r["nme"]) for r in rows] == [("run a", "dark", 5.0), ("run b", "argmax", 4.0)]
    assert rows[1]["trained on"] == "face68 + ytf68" and rows[1]["flip"] is True and rows[0]["images"] == 20
    assert [r["nme"] for r in runs_table({"a": a, "b": b}, "dark")] == [5.0, 4.5]
    curves = runs_curves({"a": a, "b": b}, "dark")
    assert curves["b"] is b.nme["dark"] and curves["a"] is a.nme["dark"]
