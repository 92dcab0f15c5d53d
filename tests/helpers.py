"""Small builders shared by tests (tiny checkpoints and runs)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import torch

from lmkviz import checkpoint as ckpt
from lmkviz.data.schemes import IBUG68
from lmkviz.checkpoint import checkpoint_payload
from lmkviz.runs import RunFolder
from lmkviz.training import TrainConfig, build_model, make_codec

TINY = dict(data=("synthetic",), model="hrnet18_small", input_size=64, epochs=2, batch_size=4,
            limit_train=8, limit_val=4, workers=0, log_every=1, augment=0.5, preview=2)


def tiny_config(**changes) -> TrainConfig:
    return TrainConfig(**{**TINY, **changes})


def make_checkpoint(path: Path, model: str = "hrnet18_small", input_size: int = 64, encoding: str = "gaussian",
                    indices=None, seed: int = 0, **config_changes) -> Path:
    """An untrained but valid 68-point checkpoint (random weights, fixed seed); any training
    encoding ("simcc" gets a SimCC head)."""
    torch.manual_seed(seed)
    indices = list(range(68)) if indices is None else list(indices)
    config = TrainConfig(model=model, input_size=input_size, encoding=encoding, **config_changes)
    net, kwargs = build_model(config, len(indices))
    codec = make_codec(config, net.stride)
    ckpt.save(checkpoint_payload(net, config, kwargs, codec, IBUG68, indices, {"epoch": 0}), path)
    return path


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` RGB pixels but holds none: a decompression
    bomb's header (a real one compresses 20000 x 20000 zeros into a few hundred KB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


# a run folder broken in each way a hand edit, a full disk or a bug could break it
BROKEN = {
    # name: (file, content, phrase expected in the reason)
    "status-list": ("status.json", "[1, 2]", "status.json"),
    "status-text": ("status.json", "{not json", "status.json"),
    "pid-text": ("status.json", '{"state": "running", "pid": "abc"}', "pid"),
    "pid-negative": ("status.json", '{"state": "running", "pid": -1}', "pid"),
    "epoch-text": ("status.json", '{"state": "running", "epoch": "x"}', "epoch"),
    "state-number": ("status.json", '{"state": 42}', "state"),
    "state-unknown": ("status.json", '{"state": "exploded"}', "state"),
    "queued-text": ("status.json", '{"state": "queued", "queued_at": "soon"}', "queued_at"),
    "total-steps-huge": ("status.json", '{"state": "done", "total_steps": 1e400}', "total_steps"),
    "config-dir": ("config.json", None, "config.json"),
    "config-huge": ("config.json", '{"epochs": 1e400}', "epochs"),
    "config-list": ("config.json", "[1]", "config"),
    "config-binary": ("config.json", b"\xff\xfe\x00garbage", "config.json"),
    "config-unknown": ("config.json", '{"epochz": 3}', "epochz"),
}


def make_broken_runs(root: Path) -> Path:
    """One good finished run and one run folder per entry of BROKEN; returns the good one."""
    good = RunFolder(root / "20260101-000000-good")
    good.path.mkdir(parents=True)
    good.write_config(tiny_config(name="good"))
    good.write_status(state="done", epoch=2)
    for i, (name, (file, content, _)) in enumerate(BROKEN.items()):
        run = RunFolder(root / f"20260102-0000{i:02d}-{name}")
        run.path.mkdir()
        if file != "config.json":
            run.write_config(tiny_config(name=name))
        target = run.path / file
        if content is None:
            target.mkdir()
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    return good.path
