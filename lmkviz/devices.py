"""Device choice: which torch device a run or a model uses, and how it is named.

    resolve_device("auto")      # cuda > mps > cpu
    device_label(device)        # "CPU (2 threads, x86_64)" or the GPU's name
    slot_key("cuda:1")          # "cuda1": the queue slot of background jobs
"""

from __future__ import annotations

import platform

import torch

__all__ = ["resolve_device", "device_label", "slot_key", "mps_available", "tune_for_training"]


def mps_available() -> bool:
    """True when Apple's Metal (MPS) backend can be used."""
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """A torch device for a name: "auto" (cuda > mps > cpu), "cpu", "cuda", "cuda:N" or "mps".

    Raises ValueError for an unknown name or a device that is not available here.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for but no CUDA GPU is available; use --device auto or cpu")
    if device.type == "mps" and not mps_available():
        raise ValueError("device mps was asked for but is not available; use --device auto or cpu")
    return device


def device_label(device: torch.device) -> str:
    """Human-readable name: "CPU (8 threads, x86_64)", "Apple GPU (MPS)" or the GPU's name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads, {platform.processor() or platform.machine()})"


def slot_key(name: str) -> str:
    """The device slot a job on device ``name`` needs: "cpu", "mps" or "cuda0", "cuda1", ...

    An unavailable or unknown device counts as "cpu" (the job fails there with a clear error).
    """
    try:
        device = resolve_device(name)
    except ValueError:
        return "cpu"
    if device.type == "cuda":
        return f"cuda{device.index or 0}"
    return device.type


def tune_for_training(device: torch.device) -> None:
    """Process-wide speed settings for training on ``device`` (CUDA: cuDNN autotuner, TF32)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
