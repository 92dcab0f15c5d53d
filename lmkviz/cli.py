"""Command-line interface: ``python -m lmkviz <command> ...`` (or ``lmkviz ...``).

Commands::

    lmkviz data check DIR [--json] [--quick]   validate a LaPa-layout dataset
    lmkviz data list                           list datasets found in data/ and $LMKVIZ_DATA
    lmkviz download lapa [--dest data]         download and unpack LaPa (106 points)

Adding a command: write ``_add_<name>(subparsers)`` that creates its parser and sets
``func`` (a function ``args -> exit code``) with ``set_defaults``, then register it
in :data:`COMMANDS`. Heavy imports (torch, gdown) go inside the command functions so
that every command starts quickly.

Exit codes: 0 success, 1 failure (message on stderr), 2 bad usage or not a dataset.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, Optional, Sequence

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


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
        _error(f"{args.dir} has the LaPa layout but no usable sample; see the skipped files above")
        return EXIT_FAILURE
    return EXIT_OK


def _data_list(args: argparse.Namespace) -> int:
    from lmkviz.data.folder import discover_datasets

    datasets = discover_datasets(args.extra)
    if args.json:
        print(json.dumps(
            [{"name": d.name, "path": str(d.path), "splits": d.splits, "points": d.num_points,
              "scheme": d.scheme_name} for d in datasets],
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
        print(f"{d.name:<{width}}  {d.num_points:>4} points ({d.scheme_name})  {splits}  {d.path}")
    return EXIT_OK


def _add_data(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser(
        "data",
        help="inspect landmark datasets",
        description="Inspect landmark datasets in the LaPa layout: "
                    "<root>/{train,val,test}/images/NAME.jpg and <root>/<split>/landmarks/NAME.txt.",
    )
    sub = data.add_subparsers(dest="data_command", metavar="{check,list}", required=True)

    check = sub.add_parser(
        "check",
        help="validate a dataset folder and list every unusable file",
        description="Validate a LaPa-layout dataset: count usable samples per split, report the number "
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


# --------------------------------------------------------------------------- main

COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "data": _add_data,
    "download": _add_download,
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
