"""Shared page furniture: page config, dataset/sample pickers, cached data access, status.

Pages stay thin: they call these functions for widgets and caches, :mod:`lmkviz`
for the work and :mod:`lmkviz.viz` for figures. Cached functions take plain
values (paths, names, numbers) so that their cache keys are cheap and stable.

Environment: ``LMKVIZ_DATA`` (extra dataset folders, see
:func:`lmkviz.data.discover_datasets`) and ``LMKVIZ_RUNS`` (the runs folder,
default ``runs``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np
import streamlit as st

from lmkviz import paths

APP_TITLE = "lmkviz"
REPO_ROOT = Path(__file__).resolve().parents[1]  # the app's folder (app.py, pages/), not lmkviz's
SYNTHETIC = "synthetic"
DEFAULT_CHECKPOINT = paths.DEFAULT_CHECKPOINT  # the shipped model (one definition: lmkviz.paths)

PAGES = (
    ("app.py", "Home", ":material/home:"),
    ("pages/0_Lesson.py", "Lesson", ":material/school:"),
    ("pages/1_Dataset_browser.py", "Dataset browser", ":material/photo_library:"),
    ("pages/2_Encoding_lab.py", "Encoding lab", ":material/science:"),
    ("pages/3_Train.py", "Train", ":material/model_training:"),
    ("pages/4_Compare_decoders.py", "Compare decoders", ":material/compare:"),
    ("pages/5_Upload_a_face.py", "Upload a face", ":material/add_a_photo:"),
)
"""(script, label, icon) of every page, in menu order; pages not written yet are skipped.
Material icons ship with Streamlit, so they render in every browser (emoji need a font)."""

_ADDED_KEY = "lmkviz_added_datasets"


def setup_page(title: str, icon: str = ":material/target:", layout: str = "wide") -> None:
    """``st.set_page_config``, the sidebar menu and a title; call first on every page.

    icon: an emoji or a Streamlit material icon such as ``":material/science:"``.
    The menu lists every page in :data:`PAGES` with its proper name (Streamlit's own
    menu is switched off in ``.streamlit/config.toml``, as it would call the home page
    "app"). A page waits here for the background warm-up of imports (:mod:`ui.warmup`).
    """
    from ui import warmup

    st.set_page_config(page_title=f"{title} · {APP_TITLE}", page_icon=icon, layout=layout)
    if not warmup.wait(timeout=0):
        with st.spinner("Loading PyTorch and the model code (once per server)…"):
            warmup.wait()
    with st.sidebar:
        sidebar_menu()
        figure_format_picker()
    st.title(f"{icon} {title}")


def sidebar_menu() -> None:
    """Links to every existing page, then a divider (call inside ``st.sidebar``)."""
    from streamlit.errors import StreamlitAPIException

    try:
        page_links()
    except StreamlitAPIException:
        return  # a page run on its own (e.g. AppTest.from_file on it) knows no other pages
    st.divider()


FIGURE_FORMATS = {"PNG": "png", "SVG": "svg"}
_FIGURE_FORMAT_KEY = "lmkviz_figure_format"
FIGURE_PNG_SCALE = 3
"""PNG downloads are drawn at 3x the on-screen size (a 700 px wide chart becomes 2100 px)."""


def figure_format_picker() -> None:
    """The sidebar choice of the file type that every figure's camera button downloads."""
    st.segmented_control("Figure downloads", list(FIGURE_FORMATS), default="PNG", key=_FIGURE_FORMAT_KEY,
                         help="Every chart has a camera button (top right, on hover) that saves it for slides: "
                              f"PNG at {FIGURE_PNG_SCALE}x the screen resolution, or SVG (vector, any size).")


def figure_config(name: str, *, interactive: bool = False) -> dict:
    """Plotly config for ``st.plotly_chart(fig, config=...)``: a camera button on hover that
    downloads the figure as ``<name>.png`` (3x resolution) or ``<name>.svg`` (the sidebar's
    choice); ``interactive`` also keeps the zoom reset button."""
    label = st.session_state.get(_FIGURE_FORMAT_KEY) or "PNG"
    fmt = FIGURE_FORMATS.get(label, "png")
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-") or "figure"
    buttons = ["toImage", "resetScale2d"] if interactive else ["toImage"]
    return {"displaylogo": False, "displayModeBar": "hover", "modeBarButtons": [buttons],
            "toImageButtonOptions": {"format": fmt, "filename": f"lmkviz-{safe}",
                                     "scale": FIGURE_PNG_SCALE if fmt == "png" else 1}}


def session_token() -> str:
    """A random token naming this browser session (kept in its session state): tells a job
    started here from one started in another tab or by another person on the same server."""
    import secrets

    key = "lmkviz_session_token"
    if key not in st.session_state:
        st.session_state[key] = secrets.token_hex(8)
    return st.session_state[key]


def runs_root() -> Path:
    """The folder holding training runs (:func:`lmkviz.runs.runs_root`: ``$LMKVIZ_RUNS`` or ``runs``)."""
    from lmkviz.runs import runs_root as library_runs_root

    return library_runs_root()


def show_error(err: BaseException, hint: str | None = None) -> None:
    """A user-facing error box (never a traceback) for expected failures."""
    st.error(str(err) + (f"\n\n{hint}" if hint else ""))


def existing_pages() -> list[tuple[str, str, str]]:
    """The entries of :data:`PAGES` whose script exists."""
    return [p for p in PAGES if (REPO_ROOT / p[0]).is_file()]


def page_links(skip: Optional[str] = None) -> None:
    """One ``st.page_link`` per existing page (except ``skip``, a script path)."""
    for script, label, icon in existing_pages():
        if script != skip:
            st.page_link(script, label=label, icon=icon)


# --------------------------------------------------------------------------- datasets


@st.cache_data(ttl=30, show_spinner=False)
def _discover(search_path: str, kept: tuple = ()) -> list[dict]:
    from lmkviz.data import discover_datasets

    return [
        {"key": str(d.path), "name": d.name, "path": str(d.path), "splits": dict(d.splits),
         "points": d.num_points, "scheme": d.scheme_name}
        for d in discover_datasets()
    ]


def discovered_datasets() -> list[dict]:
    """Datasets found in data/, $LMKVIZ_DATA and the folders kept in the settings
    (:mod:`lmkviz.settings`), as plain dicts (cached 30 s per $LMKVIZ_DATA and kept list).

    Keys: key (what :func:`open_split_cached` takes), name, path, splits
    ({split: pairs of files}), points (K), scheme.
    """
    from lmkviz.settings import kept_datasets

    return _discover(os.environ.get("LMKVIZ_DATA", ""), tuple(kept_datasets()))


def synthetic_dataset() -> dict:
    """The embedded synthetic faces, in the form of :func:`discovered_datasets`."""
    from lmkviz.data import scheme_for
    from lmkviz.data.synthetic import NUM_POINTS, SPLIT_SIZES

    return {"key": SYNTHETIC, "name": "synthetic", "path": "", "splits": dict(SPLIT_SIZES),
            "points": NUM_POINTS, "scheme": scheme_for(NUM_POINTS).name}


def added_datasets() -> list[dict]:
    """Folders added (and checked) in this browser tab, kept until the page is reloaded."""
    return list(st.session_state.get(_ADDED_KEY, []))


def add_dataset(report: dict) -> dict:
    """Remember a folder that passed :func:`lmkviz.data.check_dataset` (in this browser tab)."""
    from lmkviz.data import scheme_for

    path = str(Path(report["root"]).expanduser())
    entry = {"key": path, "name": Path(path).name or path, "path": path, "splits": dict(report["splits"]),
             "points": int(report["points"]), "scheme": scheme_for(report["points"]).name}
    rest = [d for d in added_datasets() if d["key"] != path]
    st.session_state[_ADDED_KEY] = rest + [entry]
    return entry


def keep_folder(root: str) -> Optional[str]:
    """Keep a checked dataset folder in the settings file (:func:`lmkviz.settings.keep_dataset`),
    so that it is listed after a reload too; returns the settings file, or None after showing
    why it could not be kept."""
    from lmkviz import settings

    try:
        settings.keep_dataset(root)
    except ValueError as err:
        show_error(err)
        return None
    return paths.display_path(settings.settings_path())


def kept_folders() -> tuple[list[dict], Optional[str]]:
    """([{"folder", "found"}] of the folders kept in the settings, an error text or None)."""
    from lmkviz import settings

    try:
        folders = settings.kept_datasets(strict=True)
    except ValueError as err:
        return [], str(err)
    return [{"folder": paths.display_path(f), "path": f, "found": Path(f).is_dir()} for f in folders], None


def forget_folder(path: str) -> None:
    """``on_click``: remove a kept folder from the settings (the folder itself stays)."""
    from lmkviz import settings

    try:
        settings.forget_dataset(path)
    except ValueError as err:
        show_error(err)
    st.session_state[_ADDED_KEY] = [d for d in added_datasets() if d["key"] != path]


def dataset_choices() -> list[dict]:
    """Synthetic first, then discovered, then added folders (no duplicate paths)."""
    out, seen = [synthetic_dataset()], set()
    for d in discovered_datasets() + added_datasets():
        resolved = str(Path(d["path"]).resolve())
        if resolved not in seen:
            seen.add(resolved)
            out.append(d)
    return out


def dataset_label(d: dict) -> str:
    """"face68 · ibug68 · 1,207 faces"."""
    total = sum(d["splits"].values())
    return f"{d['name']} · {d['scheme']} · {total:,} faces"


def dataset_picker(key: str, container=None, label: str = "Dataset") -> dict:
    """A selectbox over :func:`dataset_choices`; returns the chosen dataset dict."""
    box = container if container is not None else st
    choices = dataset_choices()
    by_key = {d["key"]: d for d in choices}
    chosen = box.selectbox(label, list(by_key), format_func=lambda k: dataset_label(by_key[k]), key=key,
                           help="Synthetic faces are always here. Add folders with LMKVIZ_DATA or "
                                "on the Dataset browser's 'Get data' tab.")
    return by_key[chosen]


def split_picker(dataset: dict, key: str, container=None, default: str = "train") -> str:
    """A split selector limited to the dataset's non-empty splits."""
    box = container if container is not None else st
    splits = [s for s, n in dataset["splits"].items() if n > 0] or list(dataset["splits"]) or ["train"]
    seeded = st.session_state.get(key) in splits  # set by the page (a shared link): no default then
    return box.segmented_control("Split", splits, default=None if seeded else default if default in splits
                                 else splits[0], required=True, key=key,
                                 format_func=lambda s: f"{s} ({dataset['splits'].get(s, 0):,})")


@st.cache_resource(show_spinner="Opening dataset…", max_entries=16)
def open_split_cached(dataset: str, split: str):
    """A split reader (FolderSplit / SyntheticSplit), opened once per (dataset, split)."""
    import warnings

    from lmkviz.data import open_split

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skipped files are listed by the Get data tab
        return open_split(dataset, split)


def open_split_or_stop(dataset: str, split: str):
    """:func:`open_split_cached`, showing an error and stopping the page when it fails."""
    try:
        reader = open_split_cached(dataset, split)
    except ValueError as err:
        show_error(err)
        st.stop()
    if len(reader) == 0:
        st.warning(f"The {split} split has no usable samples; pick another split or dataset.")
        st.stop()
    return reader


# --------------------------------------------------------------------------- landmarks


def subset_options(scheme) -> dict[str, str]:
    """{spec: label} of the subset menu for a scheme: :func:`lmkviz.data.subset_presets`
    and ``"custom"`` (type indices)."""
    from lmkviz.data import subset_presets

    return {**subset_presets(scheme), "custom": "custom indices…"}


def subset_picker(scheme, key: str, container=None, default: str = "all") -> Optional[tuple[int, ...]]:
    """Landmark subset menu (+ a text box for custom indices); returns the indices.

    A bad custom spec shows ``st.error`` saying what to change and returns None.
    """
    from lmkviz.data import parse_subset

    box = container if container is not None else st
    options = subset_options(scheme)
    if default not in options:
        default = next(iter(options))
    seeded = st.session_state.get(f"{key}_{scheme.name}") in options  # set by the page: no default then
    spec = box.selectbox("Landmarks", list(options), **({} if seeded else {"index": list(options).index(default)}),
                         format_func=options.get, key=f"{key}_{scheme.name}")
    if spec == "custom":
        spec = box.text_input("Indices", value="36,45,48-54" if scheme.num_points >= 55 else "0",
                              key=f"{key}_custom_{scheme.name}",
                              help="Comma-separated numbers and ranges, e.g. 36,45,48-54, or a group name.")
    try:
        return parse_subset(scheme, spec)
    except ValueError as err:
        box.error(f"{err}")
        return None


def skipped_rows(report: dict) -> list[dict]:
    """The skipped files of a :func:`lmkviz.data.check_dataset` report, paths relative to its root."""
    root = Path(report["root"])
    rows = []
    for item in report["skipped"]:
        try:
            file = str(Path(item["file"]).relative_to(root))
        except ValueError:
            file = item["file"]
        rows.append({"file": file, "reason": item["reason"]})
    return rows


def landmark_label(scheme, index: int) -> str:
    """"36 · right eye outer corner"."""
    return f"{index} · {scheme.names[index]}"


# --------------------------------------------------------------------------- samples


@st.cache_data(max_entries=512, show_spinner=False)
def sample_cached(dataset: str, split: str, index: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(image (H, W, 3) uint8, points (K, 2) image px, name) of one sample."""
    sample = open_split_cached(dataset, split)[int(index)]
    return sample.image, sample.points, sample.name


def sample_or_placeholder(dataset: str, split: str, index: int) -> tuple[np.ndarray, np.ndarray, str, Optional[str]]:
    """Like :func:`sample_cached`, but an unreadable image (say a truncated JPEG, which only
    fails when decoded) gives a grey placeholder, NaN points and the reason as a 4th item."""
    try:
        return (*sample_cached(dataset, split, index), None)
    except ValueError as err:
        reader = open_split_cached(dataset, split)
        name = reader.names[int(index)] if hasattr(reader, "names") else f"sample {index}"
        points = np.full((reader.num_points, 2), np.nan, dtype=np.float32)
        return np.full((64, 64, 3), 200, dtype=np.uint8), points, name, str(err)


def sample_or_stop(dataset: str, split: str, index: int) -> tuple[np.ndarray, np.ndarray, str]:
    """:func:`sample_cached`, or an error box and the end of the page when the image is unreadable."""
    try:
        return sample_cached(dataset, split, index)
    except ValueError as err:
        show_error(err, "Pick another sample.")
        st.stop()


@st.cache_data(max_entries=64, show_spinner=False)
def sample_at_size(dataset: str, split: str, index: int, size: int) -> tuple[np.ndarray, np.ndarray, str]:
    """One sample through the evaluation transform: (image (S, S, 3) uint8, points (K, 2) px of
    that image, NaN outside, name). The same resize the network input gets."""
    from lmkviz.labs import network_input

    image, points, name = sample_cached(dataset, split, index)
    return (*network_input(image, points, size), name)


def sample_picker(reader, key: str, container=None, default: int = 0) -> int:
    """A number input for a sample index of ``reader`` (0-based)."""
    box = container if container is not None else st
    n = len(reader)
    # the start value goes through session state, which a shared link may have set already
    # (passing value= as well would make Streamlit warn about two sources for one widget)
    current = st.session_state.get(key)
    if not isinstance(current, (int, float)) or not 0 <= current <= n - 1:
        st.session_state[key] = min(default, n - 1)
    return int(box.number_input(f"Sample (0 – {n - 1})", min_value=0, max_value=n - 1, step=1, key=key))


# --------------------------------------------------------------------------- status


@st.cache_resource(show_spinner=False)
def compute_device() -> str:
    """"NVIDIA H100 80GB HBM3 (CUDA)" or "CPU (2 threads, x86_64)"."""
    from lmkviz.devices import device_label, resolve_device

    device = resolve_device("auto")
    label = device_label(device)
    return f"{label} (CUDA)" if device.type == "cuda" else label


def checkpoint_files() -> list[dict]:
    """The shipped checkpoints (the default first, then the others beside it, such as
    ``fast-cpu.pt``) and every run's best.pt / last.pt:
    [{"path", "name", "source", "size_mb", "modified"}]."""
    from lmkviz import jobs

    files = []
    if DEFAULT_CHECKPOINT.is_file():
        files.append((DEFAULT_CHECKPOINT, "shipped"))
    try:
        others = sorted(DEFAULT_CHECKPOINT.parent.glob(f"*{paths.CHECKPOINT_SUFFIX}"))
    except OSError:
        others = []
    files += [(p, "shipped") for p in others if p.is_file() and p != DEFAULT_CHECKPOINT
              and not p.name.startswith(".")]
    try:
        files += [(p, f"run {p.parent.name}") for p in jobs.checkpoints(runs_root())]
    except (OSError, ValueError):
        pass
    out = []
    for path, source in files:
        try:
            stat = path.stat()
        except OSError:
            continue
        out.append({"path": str(path), "name": path.name, "source": source, "size_mb": stat.st_size / 1e6,
                    "modified": stat.st_mtime})
    return out


def training_runs() -> list:
    """:class:`lmkviz.jobs.RunInfo` of every run under :func:`runs_root`, newest first."""
    from lmkviz import jobs

    try:
        return jobs.list_runs(runs_root())
    except (OSError, ValueError):
        return []


@st.cache_resource(show_spinner="Loading checkpoint…", max_entries=4)
def predictor_cached(checkpoint: str, mtime: float = 0.0):
    """A :class:`lmkviz.inference.Predictor`, loaded once per checkpoint file version."""
    from lmkviz.inference import Predictor

    return Predictor(checkpoint)


# --------------------------------------------------------------------------- widgets and checkpoints


def page_link(script: str, label: str, icon: str) -> None:
    """``st.page_link``, or the label in bold when the page runs on its own (AppTest of one page)."""
    from streamlit.errors import StreamlitAPIException

    try:
        st.page_link(script, label=label, icon=icon)
    except StreamlitAPIException:
        st.markdown(f"**{label}**")


def ensure_choice(key: str, options, default=None) -> None:
    """Reset ``st.session_state[key]`` to ``default`` (or the first option) when it is not an option."""
    options = list(options)
    if st.session_state.get(key) not in options:
        st.session_state[key] = default if default in options else options[0]


def file_mtime(path: str) -> float:
    """The file's modification time (0.0 when it cannot be read): part of cache keys."""
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return 0.0


def checkpoint_label(entry: dict) -> str:
    """Short enough for the sidebar: "shipped model · default.pt" or "quick-demo · best · 22 Nov 04:29"
    (a run's name, which file, when the run started)."""
    if not entry["source"].startswith("run "):
        return f"shipped model · {entry['name']}"
    from datetime import datetime

    folder = entry["source"][4:]
    parts = folder.split("-", 2)
    try:
        started = datetime.strptime("-".join(parts[:2]), "%Y%m%d-%H%M%S")
        name = parts[2] if len(parts) > 2 else "run"
        return f"{name} · {Path(entry['name']).stem} · {started:%d %b %H:%M}"
    except ValueError:
        return f"{folder} · {Path(entry['name']).stem}"


@st.cache_data(max_entries=64, show_spinner=False)
def checkpoint_info(path: str, mtime: float):
    """:func:`lmkviz.checkpoint.describe` of a checkpoint (cached per file version), or the
    error message as a str."""
    from lmkviz import checkpoint as ckpt

    try:
        return ckpt.describe(path)
    except ckpt.CheckpointError as err:
        return str(err)


def checkpoint_caption(info) -> str:
    """What a checkpoint (:class:`lmkviz.checkpoint.CheckpointInfo`) is: model, encoding, sizes,
    landmarks, training epoch and its best validation NME."""
    from lmkviz.decoding import DECODER_LABELS
    from lmkviz.encoding import ENCODING_LABELS

    k = len(info.indices)
    points = f"{k} of {info.num_points} points" if info.is_subset else f"all {k} {info.scheme} points"
    maps = f"{info.heatmap_size[1]}×{info.heatmap_size[0]} heatmaps" if info.heatmap_size else info.codec
    best = info.best_val_nme()
    return (f"{info.model} · {ENCODING_LABELS.get(info.encoding, info.encoding)} · "
            f"{info.input_size[1]} px → {maps} · {points}"
            + (f" · epoch {info.epoch}" if info.epoch else "")
            + (f" · val NME {best[1]:.2f} % ({DECODER_LABELS.get(best[0], best[0])})" if best else ""))


def grid_shape(channels: int, width_px: int = 1100, max_cell: int = 150) -> tuple[int, int]:
    """(columns, panel px) for a heatmap grid about ``width_px`` wide: square panels, at most
    12 columns and ``max_cell`` px."""
    columns = min(channels, 12) if channels > 5 else max(channels, 1)
    if 12 < channels <= 36:
        columns = min(columns, 9)
    return columns, max(48, min(max_cell, width_px // columns))


def bump(key: str) -> int:
    """Add one to the counter ``st.session_state[key]`` (0 when unset), e.g. a random seed for
    "draw again" buttons; returns the new value."""
    st.session_state[key] = int(st.session_state.get(key, 0)) + 1
    return st.session_state[key]


def chunks(items, size: int) -> list[list]:
    """``items`` in consecutive groups of ``size`` (the last may be shorter): rows of widgets."""
    items = list(items)
    return [items[i:i + size] for i in range(0, len(items), size)]


def page_of(order, per_page: int, page: int) -> tuple[int, list[int]]:
    """(number of pages, the items of 1-based ``page``) when ``order`` is shown ``per_page`` at a time."""
    order = list(order)
    pages = max(1, -(-len(order) // per_page))
    start = (min(max(page, 1), pages) - 1) * per_page
    return pages, [int(i) for i in order[start:start + per_page]]


def keep_widget_state(keys, defaults=None) -> None:
    """Carry widgets' values over runs that do not draw them (call at the top of the page).

    A widget that is not drawn in a run (the page stopped earlier, a section hidden) comes
    back showing its default, not its value, unless the value was set through the Session
    State API: each key is set again here (to ``defaults[key]`` when it has no value yet), so
    a shared link's or the user's value stays on screen."""
    defaults = defaults or {}
    for key in keys:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
        elif key in defaults:
            st.session_state[key] = defaults[key]
