"""lmkviz.training.estimate: measured throughput, earlier runs, the estimate of a run's duration."""

from __future__ import annotations

import time

import pytest

from lmkviz.training import PRESETS, TrainConfig
from lmkviz.training import estimate as est


def test_the_estimate_adds_startup_training_and_validation():
    config = TrainConfig(epochs=3, batch_size=16, device="cpu")
    tp = est.Throughput(images_per_s=10.0, source="timed", detail="", measured_at=0.0, load_s=0.05)
    result = est.estimate(config, train_images=100, val_images=20, throughput=tp, startup_s=15.0)
    assert result.train_s == pytest.approx(3 * 96 * (0.1 + 0.05))  # whole batches: 6 x 16 of 100 images
    assert result.val_s == pytest.approx(3 * 20 * (est.VALIDATION_COST / 10 + 0.05))
    assert result.total_s == pytest.approx(15 + result.train_s + result.val_s)
    assert result.per_epoch_s == pytest.approx((result.train_s + result.val_s) / 3)


def test_timing_counts_images_per_second_of_real_steps(monkeypatch):
    """The rate is images / seconds of the timed steps (after a warm-up step), on the config's input."""
    from lmkviz.training import loop

    seen = []

    def slow_step(model, optimizer, batch, codec, indices, config, device, **kwargs):
        seen.append(tuple(batch["image"].shape))
        time.sleep(0.02 * len(batch["image"]))
        return batch["image"].sum()

    monkeypatch.setattr(loop, "train_step", slow_step)
    config = TrainConfig(model="hrnet18_small", input_size=64, batch_size=4, device="cpu", limit_train=8)
    tp = est.time_training(config, steps=2, load_samples=2)
    assert tp.source == "timed" and tp.images_per_s == pytest.approx(50, rel=0.3)
    assert seen[0] == (1, 3, 64, 64) and all(s == (4, 3, 64, 64) for s in seen[1:]) and len(seen) == 3
    assert tp.load_s > 0  # synthetic faces are drawn: loading costs something


def test_a_slow_model_is_timed_with_fewer_images(monkeypatch):
    from lmkviz.training import loop

    seen = []

    def slower(model, optimizer, batch, *args, **kwargs):
        seen.append(len(batch["image"]))
        time.sleep(0.4 * len(batch["image"]))
        return batch["image"].sum()

    monkeypatch.setattr(loop, "train_step", slower)
    config = TrainConfig(model="hrnet18_small", input_size=64, batch_size=32, device="cpu")
    tp = est.time_training(config, steps=3, load_samples=0, step_s=1.0)
    assert seen[0] == 1 and max(seen[1:]) <= 2 and len(seen) <= 3  # about a second per timed step
    assert tp.images_per_s == pytest.approx(2.5, rel=0.3)


def test_a_real_timing_of_the_quick_demo_is_plausible():
    tp = est.time_training(PRESETS["quick-demo"].replace(device="cpu"), steps=1, load_samples=1)
    assert 0.05 < tp.images_per_s < 10_000 and "hrnet18_small at 128 px" in tp.detail


def test_measurements_are_cached_per_model_size_batch_and_device(lmkviz_home):
    a = PRESETS["quick-demo"].replace(device="cpu")
    key = est.throughput_key(a)
    assert key == "hrnet18_small|128|8|cpu"
    assert est.throughput_key(a.replace(batch_size=4)) != key
    assert est.throughput_key(a.replace(input_size=256)) != key
    assert est.throughput_key(a.replace(model_kwargs={"x": 1})) != key
    assert est.cached_throughput(key) is None
    tp = est.Throughput(images_per_s=12.5, source="timed", detail="d", measured_at=1.0, load_s=0.01)
    est.store_throughput(key, tp)
    assert est.cached_throughput(key) == tp
    (lmkviz_home / "throughput.json").write_text("garbage")
    assert est.cached_throughput(key) is None
    est.store_throughput(key, tp)  # a damaged cache is replaced
    assert est.cached_throughput(key) == tp


def test_earlier_runs_of_the_same_model_and_size_give_their_logged_rate():
    config = TrainConfig(model="hrnet18_small", input_size=128, device="cpu")
    epochs = [{"epoch": e, "images_per_s": v, "time": 100.0 + e} for e, v in enumerate([30.0, 40.0, 35.0], 1)]
    runs = [
        (config.replace(input_size=256), epochs, "newest-but-256"),
        (config.replace(model="hrnet18"), epochs, "other-model"),
        (config.replace(epochs=3), [{"epoch": 1}], "no-epoch-done"),
        (config, epochs, "match"),
        (config, [{"epoch": 1, "images_per_s": 1.0}], "older-match"),
    ]
    tp = est.past_throughput(runs, config)
    assert tp.images_per_s == pytest.approx(35.0) and tp.source == "run" and "match" in tp.detail
    assert est.past_throughput(runs[:3], config) is None


def test_heavy_cpu_runs_get_a_warning_light_ones_do_not():
    heavy = PRESETS["blog-hrnet"].replace(device="cpu")
    slow = est.Throughput(images_per_s=1.0, source="timed", detail="", measured_at=0.0)
    text = est.cpu_warning(heavy, est.estimate(heavy, 1000, 200, slow))
    assert text and "GPU" in text and "128 px" in text and "hrnet18_small" in text
    light = PRESETS["quick-demo"].replace(device="cpu")
    fast = est.Throughput(images_per_s=40.0, source="timed", detail="", measured_at=0.0)
    assert est.cpu_warning(light, est.estimate(light, 128, 32, fast)) is None


@pytest.mark.parametrize("seconds,text", [(7, "7 s"), (43, "45 s"), (130, "2 min"), (3600 * 3 + 1200, "3 h 20 min"),
                                          (3600 * 50, "2 days 2 h"), (float("inf"), "?")])
def test_durations_read_as_a_person_says_them(seconds, text):
    assert est.format_duration(seconds) == text
