"""Command-line interface: ``python -m lmkviz <command> ...`` (or ``lmkviz ...``).

Commands::

    lmkviz data check DIR [--json] [--quick]   validate a dataset folder (LaPa, COCO, CSV, .pts)
    lmkviz data list                           list datasets found in data/ and $LMKVIZ_DATA
    lmkviz data convert SRC DST --to FORMAT    convert a dataset folder (lapa, coco, pts, csv)
    lmkviz download lapa [--dest data]         download and unpack LaPa (106 points)
    lmkviz train [--preset P] [--data D ...]   train a model (or --resume RUN_DIR)
    lmkviz lr-find [--preset P] [--data D ...] learning-rate range test
    lmkviz evaluate --checkpoint C --data D    NME / FR@10 / AUC@10 per decoder
    lmkviz predict [--checkpoint C] INPUT...   landmarks of the face in photos, folders, videos
    lmkviz export CHECKPOINT --format F        ONNX or TorchScript model + JSON sidecar
    lmkviz runs {list,start,stop,resume,delete}  background training jobs

Adding a command: write ``_add_<name>(subparsers)`` that creates its parser and sets
``func`` (a function ``args -> exit code``) with ``set_defaults``, then register it
in :data:`COMMANDS`. Heavy imports (torch, gdown) go inside the command functions so
that every command starts quickly.

Exit codes: 0 success, 1 failure (message on stderr), 2 bad usage or not a dataset.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable, Optional, Sequence

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

RUNS_ROOT_HELP = "the folder of run folders (default: $LMKVIZ_RUNS, else runs)"


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


# --------------------------------------------------------------------------- data


def _data_check(args: argparse.Namespace) -> int:
    from lmkviz.data.folder import check_dataset, format_check_report

    try:
        report = check_dataset(args.dir, full=not args.quick)
    except ValueError as err:
        _error(str(err))
        return EXIT_USAGE
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_check_report(report))
        if args.quick:
            print("(quick check: image headers only; run without --quick to decode every image)")
    if sum(report["splits"].values()) == 0:
        _error(f"{args.dir} is a {report.get('format', 'lapa')} dataset folder but has no usable sample; "
               "see the skipped files above")
        return EXIT_FAILURE
    return EXIT_OK


def _data_list(args: argparse.Namespace) -> int:
    from lmkviz.data.folder import discover_datasets

    datasets = discover_datasets(args.extra)
    if args.json:
        print(json.dumps(
            [{"name": d.name, "path": str(d.path), "splits": d.splits, "points": d.num_points,
              "scheme": d.scheme_name, "format": d.format} for d in datasets],
            indent=2,
        ))
        return EXIT_OK
    if not datasets:
        print("No datasets found in data/ or $LMKVIZ_DATA. Run `python -m lmkviz download lapa` "
              "or set LMKVIZ_DATA to a folder holding LaPa-layout datasets (e.g. ../shared/datasets).")
        return EXIT_OK
    width = max(len(d.name) for d in datasets)
    for d in datasets:
        splits = "  ".join(f"{s} {n}" for s, n in d.splits.items())
        fmt = "" if d.format == "lapa" else f", {d.format}"
        print(f"{d.name:<{width}}  {d.num_points:>4} points ({d.scheme_name}{fmt})  {splits}  {d.path}")
    return EXIT_OK


def _data_convert(args: argparse.Namespace) -> int:
    from lmkviz.data.formats import convert, format_convert_report

    progress = None
    if args.progress or (not args.json and sys.stderr.isatty()):
        from tqdm import tqdm

        bars: dict = {}

        def progress(split, done, total):
            bar = bars.get(split) or bars.setdefault(split, tqdm(total=total, desc=split, unit="face", leave=False))
            bar.n = done
            bar.refresh()
    try:
        report = convert(args.src, args.dst, args.to, splits=args.split, progress=progress)
    except ValueError as err:
        _error(str(err))
        return EXIT_USAGE
    except OSError as err:
        _error(f"cannot write {args.dst}: {err.strerror or type(err).__name__}")
        return EXIT_FAILURE
    finally:
        for bar in (bars.values() if progress else ()):
            bar.close()
    print(json.dumps(report, indent=2) if args.json else format_convert_report(report))
    if sum(report["splits"].values()) == 0:
        _error(f"nothing was written: {args.src} has no usable face; see the skipped files above")
        return EXIT_FAILURE
    return EXIT_OK


def _add_data(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser(
        "data",
        help="inspect landmark datasets",
        description="Inspect and convert landmark datasets. A dataset folder is in the LaPa layout "
                    "(<root>/{train,val,test}/images/NAME.jpg and <root>/<split>/landmarks/NAME.txt), COCO "
                    "keypoints (<root>/<split>.json, images in <root>/<split>/), CSV (<root>/<split>.csv with rows "
                    "name,x0,y0,..., images in <root>/<split>/) or iBUG/300-W .pts (NAME.jpg beside NAME.pts in "
                    "<root>/<split>/, or in <root> itself as the split test); the format is detected.",
    )
    sub = data.add_subparsers(dest="data_command", metavar="{check,list,convert}", required=True)

    check = sub.add_parser(
        "check",
        help="validate a dataset folder and list every unusable file",
        description="Validate a dataset folder (any format of `lmkviz data --help`): count usable samples per "
                    "split, report the number "
                    "of points per face and every skipped file with its reason (missing partner file, "
                    "malformed landmark file, wrong point count, unreadable or truncated image). "
                    "Exit code 0 when the folder is a dataset with usable samples (even with skipped "
                    "files), 1 when no sample is usable, 2 when it is not a dataset.",
    )
    check.add_argument("dir", help="dataset folder holding train/, val/ and/or test/")
    check.add_argument("--json", action="store_true",
                       help='print {"splits": {...}, "points": K, "skipped": [...], "root": DIR} as JSON')
    check.add_argument("--quick", action="store_true",
                       help="read image headers only instead of decoding every image (faster, "
                            "misses truncated files)")
    check.set_defaults(func=_data_check)

    listing = sub.add_parser(
        "list",
        help="list the datasets found in data/ and $LMKVIZ_DATA",
        description="List LaPa-layout datasets in ./data, the project's data/ folder and every folder "
                    "of $LMKVIZ_DATA (separated by the OS path separator), checking each folder and its "
                    "immediate subfolders. Images are not opened.",
    )
    listing.add_argument("--extra", nargs="*", default=None, metavar="DIR", help="more folders to search")
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    listing.set_defaults(func=_data_list)

    conv = sub.add_parser(
        "convert",
        help="convert a dataset folder to another format",
        description="Read a dataset folder in any format lmkviz reads and write it to a new folder in the LaPa "
                    "layout, COCO keypoints, iBUG .pts or CSV. Image files are copied unchanged. Coordinates "
                    "follow each format's convention: LaPa and CSV use lmkviz's (pixel j spans [j, j+1), centre "
                    "j + 0.5), .pts files 1-based pixel indices (x_pts = x + 0.5), COCO 0-based pixel indices "
                    "(x_coco = x - 0.5); a round trip gives back the same values. Files the reader skips, and "
                    "faces with unlabelled points in a format without a mark for them (lapa, pts), are listed. "
                    "Exit code 0 when faces were written, 1 when none was, 2 for a source in no known format or "
                    "a destination that is not a new or empty folder.",
    )
    conv.add_argument("src", help="dataset folder to read")
    conv.add_argument("dst", help="new folder to write (must not exist or be empty)")
    conv.add_argument("--to", required=True, choices=("lapa", "coco", "pts", "csv"), help="format to write")
    conv.add_argument("--split", nargs="+", default=None, choices=("train", "val", "test"),
                      help="splits to convert (default: all the source has)")
    conv.add_argument("--json", action="store_true", help="print the report as JSON")
    conv.add_argument("--progress", action="store_true", help="progress bars on stderr even when it is not a terminal")
    conv.set_defaults(func=_data_convert)


# --------------------------------------------------------------------------- download


def _download_lapa(args: argparse.Namespace) -> int:
    from lmkviz.data.download import DownloadError, download_lapa

    try:
        path = download_lapa(dest=args.dest, quiet=args.quiet, keep_archive=not args.remove_archive)
    except DownloadError as err:
        _error(str(err))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        _error("interrupted; run the same command again to resume the download")
        return 130
    print(f"LaPa is ready in {path}")
    return EXIT_OK


def _add_download(subparsers: argparse._SubParsersAction) -> None:
    download = subparsers.add_parser(
        "download",
        help="download a dataset",
        description="Download public datasets.",
    )
    sub = download.add_subparsers(dest="download_command", metavar="{lapa}", required=True)
    lapa = sub.add_parser(
        "lapa",
        help="download LaPa (106 points, about 2.4 GB) from Google Drive",
        description="Download LaPa (22,168 faces with 106 landmarks, about 2.4 GB) from Google Drive with "
                    "gdown and extract it to DEST/LaPa. An interrupted download resumes from the partial "
                    "file in DEST; running the command again once the dataset is there does nothing.",
    )
    lapa.add_argument("--dest", default="data", help="folder for the archive and the extracted LaPa/ (default: data)")
    lapa.add_argument("--quiet", action="store_true", help="no progress bar")
    lapa.add_argument("--remove-archive", action="store_true", help="delete LaPa.tgz after a successful extraction")
    lapa.set_defaults(func=_download_lapa)


# --------------------------------------------------------------------------- train

_TRAIN_OPTIONS = {
    # flag: (config field, type, help)
    "--name": ("name", str, "run name (the folder is <runs root>/<timestamp>-<name>)"),
    "--data": ("data", "list", "training datasets: LaPa-layout folders, discovered names (see `lmkviz data list`) "
                               "or 'synthetic'; several are concatenated"),
    "--train-split": ("train_split", str, "split used for training (default train)"),
    "--val-data": ("val_data", str, "validation dataset (default: the first --data)"),
    "--val-split": ("val_split", str, "split used for validation (default val)"),
    "--init-from": ("init_from", str, "fine-tune: start from this checkpoint's weights (a .pt file or a shipped "
                                      "name such as 'default'; same architecture, landmarks and head)"),
    "--landmarks": ("landmarks", str, "landmark subset: all, blog5 (LaPa), a group (eyes, brows, nose, mouth, jaw) "
                                      "or indices such as '36,45,48-54'"),
    "--model": ("model", str, "architecture (see `lmkviz train --list-models`)"),
    "--encoding": ("encoding", str, "gaussian (sub-pixel, MSE), gaussian_int (integer centre, MSE), "
                                    "binary (randomized rounding, BCE), udp (sub-pixel Gaussian with UDP's "
                                    "corner-aligned scaling, MSE) or simcc (a SimCC head: x and y bins, KL loss)"),
    "--sigma": ("sigma", float, "Gaussian sigma in heatmap pixels (simcc: label smoothing in bins)"),
    "--simcc-ratio": ("simcc_ratio", float, "SimCC bins per input pixel (encoding simcc; default 2)"),
    "--pos-weight": ("pos_weight", float, "BCE weight of the positive cell (binary encoding)"),
    "--coord-loss": ("coord_loss", float, "weight of the coordinate loss (L1 in input pixels on the soft-argmax "
                                          "of the output, integral regression) added to the loss; 0 = off"),
    "--softargmax-temperature": ("softargmax_temperature", float,
                                 "soft-argmax temperature of the coordinate loss and the softargmax decoder "
                                 "(default: 0.5 for Gaussian maps, 1 for logits)"),
    "--input-size": ("input_size", int, "square network input in pixels"),
    "--heatmap-size": ("heatmap_size", int, "heatmap side (default: input size / model stride)"),
    "--epochs": ("epochs", int, "number of epochs"),
    "--batch-size": ("batch_size", int, "images per optimiser step (per process under torchrun)"),
    "--lr": ("lr", float, "learning rate (the peak of the one-cycle schedule)"),
    "--schedule": ("schedule", str, "onecycle or constant"),
    "--weight-decay": ("weight_decay", float, "AdamW weight decay"),
    "--loss": ("loss", str, "auto (mse for Gaussian maps, bce for binary maps, kl for simcc), mse, awing "
                            "(Adaptive Wing), bce or kl"),
    "--augment": ("augment", float, "augmentation strength in [0, 1]: scales every random change below (0 = none)"),
    "--framing": ("framing", str, "image (resize each training image whole) or face (a crop of --margin x the "
                                  "landmark box, moved like a face detector's box)"),
    "--margin": ("margin", float, "face crop side / landmark box side (framing face; default 1.7)"),
    "--rotation": ("rotation", float, "maximum rotation in degrees (default 30)"),
    "--scale-min": ("scale_min", float, "smallest zoom factor (default 0.75)"),
    "--scale-max": ("scale_max", float, "largest zoom factor (default 1.25)"),
    "--translate": ("translate", float, "maximum shift as a fraction of the side (default 0.1)"),
    "--color": ("color", float, "brightness/contrast/saturation jitter in [0, 1] (default 0.3)"),
    "--occlusion": ("occlusion", float, "probability of a random occluding rectangle (framing face)"),
    "--blur": ("blur", float, "probability of a Gaussian blur (framing face)"),
    "--device": ("device", str, "auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps"),
    "--seed": ("seed", int, "random seed"),
    "--workers": ("workers", int, "data-loading worker processes"),
    "--limit-train": ("limit_train", int, "use only the first N training images"),
    "--limit-val": ("limit_val", int, "use only the first N validation images"),
    "--log-every": ("log_every", int, "log a line every N steps"),
}


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """The TrainConfig override flags shared by train, runs start and lr-find."""
    for flag, (field, kind, text) in _TRAIN_OPTIONS.items():
        if kind == "list":
            parser.add_argument(flag, dest=field, nargs="+", default=None, help=text)
        else:
            parser.add_argument(flag, dest=field, type=kind, default=None, help=text)
    parser.add_argument("--no-amp", action="store_true", help="no bfloat16 autocast on CUDA")
    parser.add_argument("--no-flip", action="store_true", help="no random mirroring in training")
    parser.add_argument("--no-tensorboard", action="store_true",
                        help="no TensorBoard event files in the run folder (default: written when the tensorboard "
                             "package is installed; view with `tensorboard --logdir runs`)")
    parser.add_argument("--pretrained", nargs="?", const="yes", choices=("yes", "auto", "no"), default=None,
                        help="ImageNet weights for the encoder (U-Nets, effnet_lite0_fpn): yes = required "
                             "(fail when they cannot be had), auto = when available, no = from scratch")
    parser.add_argument("--model-option", action="append", default=None, metavar="KEY=VALUE",
                        help="an argument of the model's factory, e.g. frozen_blocks=3 (repeatable)")


def _train_config(args: argparse.Namespace):
    from lmkviz.training import PRESETS, TrainConfig

    if args.config:
        try:
            with open(args.config, encoding="utf-8") as f:
                config = TrainConfig.from_json(f.read())
        except OSError as err:
            raise ValueError(f"cannot read config file {args.config}: {err}") from None
    elif args.preset:
        config = PRESETS[args.preset]
    else:
        config = TrainConfig()
    changes = {}
    for flag, (field, kind, _) in _TRAIN_OPTIONS.items():
        value = getattr(args, field)
        if value is not None:
            changes[field] = tuple(value) if kind == "list" else value
    if args.no_amp:
        changes["amp"] = False
    if args.no_flip:
        changes["flip"] = False
    if args.no_tensorboard:
        changes["tensorboard"] = False
    if args.pretrained is not None:
        changes["pretrained"] = {"yes": True, "auto": "auto", "no": False}[args.pretrained]
    if args.model_option:
        changes["model_kwargs"] = {**config.model_kwargs, **_model_options(args.model_option)}
    return config.replace(**changes) if changes else config


def _model_options(items: list[str]) -> dict:
    """["frozen_blocks=3", "width=96"] -> {"frozen_blocks": 3, "width": 96} (numbers, true/false, text)."""
    options = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--model-option {item!r}: expected KEY=VALUE, e.g. frozen_blocks=3")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        options[key.strip()] = value
    return options


def _resume_changes(args: argparse.Namespace) -> dict:
    """The config flags given with --resume: only --epochs may change a run that resumes."""
    given = {field: getattr(args, field) for _, (field, _, _) in _TRAIN_OPTIONS.items()
             if getattr(args, field) is not None}
    others = sorted(f for f in given if f != "epochs")
    others += [name for name, on in (("preset", args.preset), ("config", args.config), ("no_amp", args.no_amp),
                                     ("no_flip", args.no_flip), ("pretrained", args.pretrained is not None),
                                     ("model_option", args.model_option)) if on]
    if others:
        raise ValueError(f"--resume continues a run with the settings it started with; only --epochs may be "
                         f"given with it (not: {', '.join(others)}). Start a new run to change the others")
    return given


def _train(args: argparse.Namespace) -> int:
    if args.list_models:
        from lmkviz.models import describe, list_models

        for name in list_models():
            print(describe(name))
        return EXIT_OK
    from lmkviz.runs import RunFolder

    lease = None
    try:
        if args.resume or args.queue:
            if args.resume:
                changes = _resume_changes(args)
                run = RunFolder(args.resume)
            else:
                if not args.run_dir:
                    raise ValueError("--queue needs --run-dir (it is used by background jobs)")
                run = RunFolder(args.run_dir)
            if not run.config_path.exists():
                raise ValueError(f"{run.path}: not a run folder (no config.json)")
            if args.queue:  # wait without torch loaded (see lmkviz.waiter)
                from lmkviz.waiter import wait_for_turn

                lease = wait_for_turn(run, stop_on_signal=True)
                if lease is None:
                    return EXIT_OK
            from lmkviz.training import train

            if args.resume:
                path = train(resume=args.resume, epochs=changes.get("epochs"))
            else:
                path = train(run.config(), run_dir=args.run_dir)
        else:
            from lmkviz.training import train

            path = train(_train_config(args), run_dir=args.run_dir, runs_root=args.runs_root)
    except ValueError as err:
        _error(str(err))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # recorded in status.json; one line here
        _error(f"training failed: {err}")
        return EXIT_FAILURE
    finally:
        if lease is not None:
            lease.release()
    if int(os.environ.get("RANK", "0")) != 0:
        return EXIT_OK  # under torchrun only rank 0 writes and reports the run's state
    status = RunFolder(path).status()
    state = status.get("state")
    print(f"{state}: {path}")
    if state == "failed" and status.get("error"):
        _error(str(status["error"]))
    return EXIT_OK if state in ("done", "stopped") else EXIT_FAILURE


def _add_train(subparsers: argparse._SubParsersAction) -> None:
    from lmkviz.training import PRESETS

    train = subparsers.add_parser(
        "train",
        help="train a landmark model (or resume a run)",
        description="Train a heatmap regression model. Writes <runs root>/<timestamp>-<name>/ (runs root: "
                    "--runs-root, else $LMKVIZ_RUNS, else runs) with config.json, "
                    "status.json, metrics.jsonl, train.log, last.pt (every epoch) and best.pt (best "
                    "validation NME). Start from defaults, --preset or --config FILE.json, then override "
                    "single fields with the flags below. Multi-GPU: torchrun --nproc_per_node N -m lmkviz "
                    "train ...",
    )
    train.add_argument("--config", help="a config.json to start from (e.g. of an earlier run)")
    train.add_argument("--preset", choices=sorted(PRESETS), help="a preset to start from")
    _add_config_flags(train)
    train.add_argument("--run-dir", help="write into this folder instead of a new one under --runs-root")
    train.add_argument("--runs-root", default=None, help=RUNS_ROOT_HELP)
    train.add_argument("--resume", metavar="RUN_DIR",
                       help="continue the run in RUN_DIR from its last.pt, with the settings it started with "
                            "(--epochs N may extend a run with the constant schedule)")
    train.add_argument("--queue", action="store_true",
                       help="wait until the device is free (one job per device); used by background jobs")
    train.add_argument("--list-models", action="store_true", help="list the architectures and exit")
    train.set_defaults(func=_train)


# --------------------------------------------------------------------------- lr-find


def _lr_find(args: argparse.Namespace) -> int:
    from lmkviz.runs import RunFolder, new_run_dir

    lease = None
    try:
        if args.queue:
            if not args.run_dir:
                raise ValueError("--queue needs --run-dir (it is used by background jobs)")
            from lmkviz.waiter import wait_for_turn

            run = RunFolder(args.run_dir)
            if not run.config_path.exists():
                raise ValueError(f"{run.path}: not a run folder (no config.json)")
            lease = wait_for_turn(run, stop_on_signal=True)
            if lease is None:
                return EXIT_OK
            config = run.config()
        else:
            config = _train_config(args)
            run = RunFolder(args.run_dir or new_run_dir(f"lrfind-{config.name}", args.runs_root))
        from lmkviz.training import lr_find

        result = lr_find(config, run.path, steps=args.steps, start_lr=args.start_lr, end_lr=args.end_lr)
    except ValueError as err:
        _error(str(err))
        return EXIT_USAGE
    except Exception as err:
        _error(f"learning-rate finder failed: {err}")
        return EXIT_FAILURE
    finally:
        if lease is not None:
            lease.release()
    suggested = result["suggested"]
    print(f"suggested learning rate: {suggested:.3g}" if suggested else "no suggestion (too few steps)")
    print(f"curve: {run.path / 'lr_find.json'}")
    return EXIT_OK


def _add_lr_find(subparsers: argparse._SubParsersAction) -> None:
    from lmkviz.training import PRESETS

    p = subparsers.add_parser(
        "lr-find",
        help="learning-rate range test (like fastai's lr_find)",
        description="Train a fresh model for a few mini-batches with an exponentially growing learning rate "
                    "and record the loss; suggests the rate at the steepest descent. Takes the same flags as "
                    "train. Writes lr_find.json into a run folder.",
    )
    p.add_argument("--config", help="a config.json to start from")
    p.add_argument("--preset", choices=sorted(PRESETS), help="a preset to start from")
    _add_config_flags(p)
    p.add_argument("--steps", type=int, default=100, help="number of mini-batches (default 100)")
    p.add_argument("--start-lr", type=float, default=1e-6, help="first learning rate")
    p.add_argument("--end-lr", type=float, default=1.0, help="last learning rate")
    p.add_argument("--run-dir", help="write into this folder")
    p.add_argument("--runs-root", default=None, help=RUNS_ROOT_HELP)
    p.add_argument("--queue", action="store_true", help="wait for the device (used by background jobs)")
    p.set_defaults(func=_lr_find)


# --------------------------------------------------------------------------- evaluate


def _evaluate(args: argparse.Namespace) -> int:
    from lmkviz.checkpoint import CheckpointError
    from lmkviz.evaluation import evaluate

    progress = None
    if not args.json and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=0, desc="evaluating", unit="img")

        def progress(done, total):
            bar.total = total
            bar.n = done
            bar.refresh()
    try:
        result = evaluate(args.checkpoint, args.data, args.split, limit=args.limit, flip_test=args.flip,
                          device=args.device, progress=progress)
    except (CheckpointError, ValueError) as err:
        _error(str(err))
        return EXIT_FAILURE
    summary = result.summary()
    if args.json:
        print(json.dumps(summary))
        return EXIT_OK
    print(f"{result.checkpoint} on {args.data} [{args.split}]: {summary['n']} images, {summary['points']} points"
          + (", flip test" if args.flip else ""))
    print(f"{'decoder':<10} {'NME %':>8} {'FR@10 %':>8} {'AUC@10 %':>9}")
    for m in summary["nme"]:
        print(f"{m:<10} {summary['nme'][m]:>8.3f} {summary['fr10'][m]:>8.2f} {summary['auc10'][m]:>9.2f}")
    return EXIT_OK


def _add_evaluate(subparsers: argparse._SubParsersAction) -> None:
    ev = subparsers.add_parser(
        "evaluate",
        help="score a checkpoint on a dataset split with every decoder",
        description="Score a checkpoint on a LaPa-layout dataset split: inter-ocular NME (in %, between the "
                    "scheme's outer eye corners), failure rate FR@10 and AUC@10 for each decoder of the "
                    "checkpoint's codec (heatmaps: argmax, quarter, topk, dark, softargmax; SimCC: argmax, dark, "
                    "softargmax). Dataset images are face crops: each is resized whole to the "
                    "network input and the points are scored in the original image's pixels, as training "
                    "validation does (so --split val on a run's best.pt gives the NME it logged).",
    )
    ev.add_argument("--checkpoint", default="default", help="a .pt file or 'default' (the shipped checkpoint)")
    ev.add_argument("--data", required=True, help="dataset folder, discovered name or 'synthetic'")
    ev.add_argument("--split", default="test", help="split to score (default test)")
    ev.add_argument("--limit", type=int, default=None, help="only the first N images")
    ev.add_argument("--flip", action="store_true", help="flip test: average with the mirrored image's heatmaps")
    ev.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    ev.add_argument("--json", action="store_true",
                    help='print one JSON object {"n", "points", "nme", "fr10", "auc10"} (percent)')
    ev.set_defaults(func=_evaluate)


# --------------------------------------------------------------------------- predict


def _predict(args: argparse.Namespace) -> int:
    from lmkviz.batch import BatchWriter, collect_inputs, count_items, format_summary, predict_batch, result_record
    from lmkviz.checkpoint import CheckpointError
    from lmkviz.evaluation import applicable_decoders, primary_decoder

    try:
        if args.model:
            from lmkviz.imported import load_model

            predictor = load_model(args.model, device=args.device, flip_test=args.flip)
        else:
            from lmkviz.inference import Predictor

            predictor = Predictor(args.checkpoint, device=args.device, flip_test=args.flip)
        decoders = applicable_decoders(predictor.codec, args.decoders)
    except (CheckpointError, ValueError) as err:
        _error(str(err))
        return EXIT_FAILURE
    if args.frame_step < 1:
        _error("--frame-step must be 1 or more")
        return EXIT_USAGE
    inputs, failures = collect_inputs(args.inputs)
    early = list(failures)  # paths that do not exist: reported first
    writing = args.out is not None or args.coco is not None
    bar = None
    if args.progress or (sys.stderr.isatty() and (writing or len(inputs) > 1 or any(i.kind == "video" for i in inputs))):
        from tqdm import tqdm

        bar = tqdm(total=count_items(inputs, args.frame_step), unit="img", desc="predicting", file=sys.stderr,
                   dynamic_ncols=True)
    try:
        writer = BatchWriter(args.out, args.out_format, args.coco, decoder=args.coco_decoder,
                             primary=primary_decoder(predictor.codec)) if writing else None
    except OSError as err:
        _error(f"cannot write to {args.out}: {err.strerror or type(err).__name__}")
        return EXIT_FAILURE
    records = []
    total = len(failures)
    try:
        for result in predict_batch(inputs, predictor, decoders, frame_step=args.frame_step):
            total += 1
            if bar is not None:
                bar.update(1)
            if not result.ok:
                failures.append(result)
            if writer is not None:
                writer.write(result)
                continue
            records.append(result_record(result))
            if not args.json and result.ok:
                _print_prediction(result, bar)
    except KeyboardInterrupt:
        return 130
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
    if args.json and not writing:
        records = [result_record(f) for f in early] + records
        print(json.dumps(records if len(records) != 1 else records[0], indent=None))
    if writing:
        where = " and ".join(x for x in (f"{len(writer.written)} file(s) in {args.out}" if args.out else "",
                                          f"COCO results in {args.coco}" if args.coco else "") if x)
        print(f"wrote {where}")
    if failures and (writing or not args.json or total > 1):
        print(format_summary(total, failures), file=sys.stderr)
    return EXIT_OK if not failures else EXIT_FAILURE


def _print_prediction(result, bar) -> None:
    """The text report of one prediction (notes on stderr)."""
    pred = result.prediction
    write = bar.write if bar is not None else print
    for note in pred.notes:
        print(f"warning: {result.label}: {note}", file=sys.stderr)
    face = "whole image" if pred.face is None else "face at " + ", ".join(f"{v:.0f}" for v in pred.face.as_list())
    lines = [f"{result.label}: {face}; {len(pred.indices)} landmarks ({pred.scheme_name})"]
    for m, pts in pred.points.items():
        lines.append(f"  {m}: " + " ".join(f"({x:.1f},{y:.1f})" for x, y in pts))
    write("\n".join(lines))


def _add_predict(subparsers: argparse._SubParsersAction) -> None:
    from lmkviz.decoding import DECODERS

    pr = subparsers.add_parser(
        "predict",
        help="find landmarks in photos, folders of photos and videos",
        description="Detect the face (OpenCV Haar cascade; the whole image with a warning if none), crop it "
                    "like the training data, run the model and report the landmarks in the original image's "
                    "pixels for each decoder. Inputs are photos, folders (their photos and videos) and videos "
                    "(every frame, or every --frame-step-th). EXIF orientation is respected; grey, RGBA, 16-bit "
                    "and huge images are handled. Without --out or --coco the landmarks are printed (--json: one "
                    "JSON object per image). An input that fails is reported at the end and the others go on; "
                    "the exit code is then 1.",
    )
    pr.add_argument("inputs", nargs="+", metavar="INPUT", help="photos (jpg, png, webp, ...), folders or videos "
                                                               "(mp4, avi, mov, mkv, ...)")
    pr.add_argument("--checkpoint", default="default", help="a .pt file or 'default' (the shipped checkpoint)")
    pr.add_argument("--model", default=None,
                    help="an ONNX or TorchScript heatmap model instead of a checkpoint, with its sidecar MODEL.json "
                         "beside it (see `lmkviz export`)")
    pr.add_argument("--decoders", nargs="+", default=None, choices=DECODERS,
                    help="decoders to report (default: every decoder of the model's codec)")
    pr.add_argument("--flip", action="store_true", help="flip test: average with the mirrored crop")
    pr.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    pr.add_argument("--json", action="store_true",
                    help="print JSON: one object per image or frame (a list for several), format lmkviz-prediction "
                         "version 1 as described in the README")
    pr.add_argument("--out", default=None, metavar="DIR",
                    help="write one file per photo or frame into DIR (NAME.json, or NAME.csv with --out-format csv)")
    pr.add_argument("--out-format", default="json", choices=("json", "csv"),
                    help="format of the files in --out: json (the --json object) or csv (decoder, landmark, name, "
                         "x, y, confidence)")
    pr.add_argument("--coco", default=None, metavar="FILE",
                    help="write a COCO keypoint results file (a list of {image_id, file_name, keypoints, score, "
                         "bbox}; keypoints as COCO's 0-based pixel indices)")
    pr.add_argument("--coco-decoder", default=None, choices=DECODERS,
                    help="decoder of the --coco file (default: the model's primary decoder, dark or topk)")
    pr.add_argument("--frame-step", type=int, default=1, help="predict every N-th video frame (default 1)")
    pr.add_argument("--progress", action="store_true",
                    help="a progress bar on stderr even when it is not a terminal (default: on a terminal)")
    pr.set_defaults(func=_predict)


# --------------------------------------------------------------------------- export


def _export(args: argparse.Namespace) -> int:
    from lmkviz.checkpoint import CheckpointError
    from lmkviz.export import export_checkpoint
    from lmkviz.paths import display_path

    try:
        result = export_checkpoint(args.checkpoint, args.format, out=args.out)
    except CheckpointError as err:
        _error(str(err))
        return EXIT_FAILURE
    except ValueError as err:
        _error(str(err))
        return EXIT_FAILURE
    except OSError as err:
        _error(f"cannot write {args.out or 'the model'}: {err.strerror or type(err).__name__}")
        return EXIT_FAILURE
    if args.json:
        print(json.dumps({"model": str(result.model_path), "sidecar": str(result.sidecar_path), **result.sidecar}))
    else:
        side = result.sidecar
        print(f"model:   {display_path(result.model_path)} ({args.format})")
        print(f"sidecar: {display_path(result.sidecar_path)}")
        print(f"input:   N x 3 x {side['input']['size'][0]} x {side['input']['size'][1]} float32, RGB in [0, 1] "
              f"(normalisation inside the model)")
        print(f"output:  N x {len(side['scheme']['indices'])} x {side['output']['heatmap_size'][0]} x "
              f"{side['output']['heatmap_size'][1]} {side['output']['values']} ({side['scheme']['name']})")
    return EXIT_OK


def _add_export(subparsers: argparse._SubParsersAction) -> None:
    ex = subparsers.add_parser(
        "export",
        help="export a checkpoint as an ONNX or TorchScript model with a JSON sidecar",
        description="Write the checkpoint's network as an ONNX (torch.onnx dynamo exporter; needs the packages onnx "
                    "and onnxscript) or TorchScript (traced) model with a free batch size, and a sidecar "
                    "MODEL.json beside it (the model file's name plus .json) holding what another program needs: "
                    "input size, channel order RGB, values in [0, 1] with the normalisation inside the model, "
                    "output layout N x K x H x W, heatmap size, codec, scheme, landmark names and the flip "
                    "permutation. `lmkviz predict --model MODEL` and the library's lmkviz.imported.load_model read "
                    "the pair back.",
    )
    ex.add_argument("checkpoint", help="a .pt checkpoint or a shipped name such as 'default'")
    ex.add_argument("--format", required=True, choices=("onnx", "torchscript"), help="model format to write")
    ex.add_argument("--out", default=None,
                    help="model file to write (default: beside the checkpoint, best.onnx or best.torchscript.pt for "
                         "best.pt; in the current folder for a shipped checkpoint)")
    ex.add_argument("--json", action="store_true", help="print the paths and the sidecar as JSON")
    ex.set_defaults(func=_export)


# --------------------------------------------------------------------------- runs


def _runs(args: argparse.Namespace) -> int:
    from lmkviz import jobs
    from lmkviz.runs import runs_root

    try:
        if args.runs_command == "list":
            runs = jobs.list_runs(args.runs_root)
            if args.json:
                print(json.dumps([{"run": str(r.path), "state": r.state, "epoch": r.epoch,
                                   "epochs": r.config.epochs if r.config else None, "progress": r.progress,
                                   "eta_s": r.eta_s, "error": r.error} for r in runs]))
                return EXIT_OK
            if not runs:
                print(f"no runs in {args.runs_root or runs_root()}/")
            for r in runs:
                epochs = r.config.epochs if r.config else "?"
                eta = f" eta {int(r.eta_s)}s" if r.eta_s else ""
                err = f" ({r.error})" if r.error and r.state in ("failed", "broken") else ""
                print(f"{r.name:<40} {r.state:<8} epoch {r.epoch}/{epochs} {r.progress:>4.0%}{eta}{err}")
        elif args.runs_command == "start":
            path = jobs.start(_train_config(args), args.runs_root)
            print(f"started {path}")
        elif args.runs_command == "stop":
            print(f"{args.run}: {jobs.stop(args.run)}")
        elif args.runs_command == "resume":
            print(f"resumed {jobs.resume(args.run)}")
        elif args.runs_command == "delete":
            jobs.delete(args.run)
            print(f"deleted {args.run}")
    except ValueError as err:
        _error(str(err))
        return EXIT_FAILURE
    return EXIT_OK


def _add_runs(subparsers: argparse._SubParsersAction) -> None:
    from lmkviz.training import PRESETS

    runs = subparsers.add_parser(
        "runs",
        help="list and control background training runs",
        description="Training runs live in <runs root>/<timestamp>-<name>/ (runs root: --runs-root, else "
                    "$LMKVIZ_RUNS, else runs). Background jobs are separate processes "
                    "that keep running when the app or terminal closes; one job runs per device, later ones "
                    "wait in the queue.",
    )
    runs.add_argument("--runs-root", default=None, help=RUNS_ROOT_HELP)
    sub = runs.add_subparsers(dest="runs_command", metavar="{list,start,stop,resume,delete}", required=True)
    listing = sub.add_parser("list", help="list runs with their state and progress")
    listing.add_argument("--json", action="store_true", help="print JSON")
    start = sub.add_parser("start", help="start a training run in the background (same flags as train)")
    start.add_argument("--config", help="a config.json to start from")
    start.add_argument("--preset", choices=sorted(PRESETS), help="a preset to start from")
    _add_config_flags(start)
    for name, text in (("stop", "stop a job (graceful, then kill)"), ("resume", "resume a stopped or failed run"),
                       ("delete", "delete a run folder")):
        p = sub.add_parser(name, help=text)
        p.add_argument("run", help="the run folder")
    runs.set_defaults(func=_runs)


# --------------------------------------------------------------------------- main

COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "data": _add_data,
    "download": _add_download,
    "train": _add_train,
    "lr-find": _add_lr_find,
    "evaluate": _add_evaluate,
    "predict": _add_predict,
    "export": _add_export,
    "runs": _add_runs,
}
"""Top-level command name -> function that adds its parser (see the module docstring)."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command of :data:`COMMANDS`."""
    from lmkviz import __version__

    parser = argparse.ArgumentParser(
        prog="lmkviz",
        description="lmkviz: heatmap-based facial landmark regression, explained and explorable. "
                    "Run `streamlit run app.py` for the explorer.",
    )
    parser.add_argument("--version", action="version", version=f"lmkviz {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}", required=True)
    for add in COMMANDS.values():
        add(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return int(exc.code or 0) if isinstance(exc.code, int) or exc.code is None else EXIT_USAGE
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
