"""Several processes under ``torchrun``: who is who, joining the process group, agreeing.

``torchrun --nproc_per_node N -m lmkviz train ...`` starts N processes with
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` set; each trains a replica wrapped in
DistributedDataParallel (NCCL on GPUs, gloo on CPU) and rank 0 writes the run folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from lmkviz.devices import resolve_device

__all__ = ["Distributed"]


@dataclass(frozen=True)
class Distributed:
    """This process's place among the training processes (world 1 = not distributed)."""

    world: int = 1
    rank: int = 0
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> "Distributed":
        """From torchrun's ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` (defaults: one process)."""
        return cls(world=int(os.environ.get("WORLD_SIZE", "1")), rank=int(os.environ.get("RANK", "0")),
                   local_rank=int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes the run folder."""
        return self.rank == 0

    def init(self, device_name: str) -> None:
        """Join the process group started by torchrun (NCCL on GPUs, gloo on CPU); idempotent."""
        if not self.enabled or torch.distributed.is_initialized():
            return
        device = resolve_device(device_name)
        if device.type == "cuda":
            torch.cuda.set_device(self.local_rank)
        torch.distributed.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")

    def device(self, device_name: str) -> torch.device:
        """The device of this process: ``cuda:LOCAL_RANK`` for CUDA runs under torchrun."""
        device = resolve_device(device_name)
        if self.enabled and device.type == "cuda":
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        return device

    def broadcast(self, value):
        """Rank 0's ``value`` (a picklable object) on every rank."""
        if not self.enabled:
            return value
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when ``flag`` is true on any rank."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item())

    def sum(self, values: list[float], device: torch.device) -> list[float]:
        """Element-wise sum of ``values`` over all ranks."""
        if not self.enabled:
            return list(values)
        t = torch.tensor(values, device=device)
        torch.distributed.all_reduce(t)
        return t.tolist()

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def shutdown(self) -> None:
        if self.enabled and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
