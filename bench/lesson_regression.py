"""Direct (x, y) regression against heatmaps, same data, same budget: the lesson's first step.

Trains two models from scratch on the synthetic faces with one TrainConfig that differs
only in the model and its targets:

* ``resnet18_regression``: ResNet-18 + a linear layer regressing the 68 (x, y) (L1 loss);
* ``unet_resnet18`` at stride 4: the *same* ResNet-18 encoder with a U-Net decoder that
  paints 32 x 32 Gaussian heatmaps (sigma 1.5 cells, MSE), read with DARK.

The shipped ``lmkviz/assets/lesson_regression.json`` was made by running this script with its
defaults (8 epochs, 400 training and 60 validation faces, 6 stored faces) on 2 CPU cores; the
file records those settings and both training times.

Both see the same images in the same order, for the same epochs, batch size and
learning-rate schedule. Prints a table of validation NME per epoch and writes
``lmkviz/assets/lesson_regression.json`` (the Lesson page shows it without training):
per-epoch NME of both, the training time, and both models' points on the first few
validation faces (synthetic "val" samples 0.., so the page can draw them again).

    python bench/lesson_regression.py                  # what made the shipped file (about 35 min on 2 busy cores)
    python bench/lesson_regression.py --epochs 2 --train 64 --out smoke.json   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmkviz.runs import RunFolder  # noqa: E402
from lmkviz.training import TrainConfig, train  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "lmkviz" / "assets" / "lesson_regression.json"

MODELS = {
    "regression": dict(model="resnet18_regression", encoding="regression"),
    "heatmap": dict(model="unet_resnet18", encoding="gaussian", sigma=1.5, heatmap_size=32),
}
DECODER = {"regression": "direct", "heatmap": "dark"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--train", type=int, default=400, help="synthetic training faces (of 1000)")
    parser.add_argument("--val", type=int, default=60, help="synthetic validation faces (of 200)")
    parser.add_argument("--samples", type=int, default=6, help="validation faces whose points are stored")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    common = dict(data=("synthetic",), input_size=128, epochs=args.epochs, batch_size=16, lr=2e-3,
                  schedule="onecycle", augment=0.3, flip=False, pretrained=False, limit_train=args.train,
                  limit_val=args.val, workers=0, log_every=20, preview=args.samples, seed=0)
    result: dict = {"what": "validation NME (% of the inter-ocular distance) of two models trained from scratch "
                            "on synthetic faces with the same data, epochs, batch size and learning-rate schedule",
                    "settings": {k: v for k, v in common.items() if k != "data"}, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, changes in MODELS.items():
            config = TrainConfig(name=f"lesson-{kind}", **common, **changes)
            start = time.time()
            run = RunFolder(train(config, run_dir=Path(tmp) / kind, progress_bar=False))
            seconds = time.time() - start
            _, epochs = run.history()
            decoder = DECODER[kind]
            preview = run.preview()
            result["models"][kind] = {
                "model": config.model, "encoding": config.encoding, "decoder": decoder,
                "nme": [round(float(e["val_nme"][decoder]), 3) for e in epochs],
                "train_seconds": round(seconds, 1),
                "points": preview[f"pred_{decoder}"].round(2).tolist(),
                "sample_nme": [round(float(v) * 100, 3) for v in preview[f"nme_{decoder}"]],
            }
            if "target" not in result:
                result["target"] = preview["target"].round(2).tolist()
                result["samples"] = list(range(len(preview["target"])))
    print(f"{'epoch':>5} | {'regression NME %':>16} | {'heatmap NME %':>13}")
    for i, (a, b) in enumerate(zip(result["models"]["regression"]["nme"], result["models"]["heatmap"]["nme"]), 1):
        print(f"{i:>5} | {a:>16.2f} | {b:>13.2f}")
    for kind, entry in result["models"].items():
        print(f"{kind}: {entry['model']}, {entry['train_seconds']:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
