"""Several processes (``torchrun --nproc-per-node N -m trainer ...``): setup and gradient sum.

No DistributedDataParallel wrapper: after each backward the gradients are summed over processes
with one flat all-reduce, which reads top to bottom and works the same with GradCache's chunked
backward. Summing (not averaging) is right because each process back-propagates its own
embeddings' share of the *global* loss (see :mod:`trainer.loss`).

CUDA uses NCCL (one GPU a process, ``LOCAL_RANK``); CPU uses gloo.

Example:
    >>> info = setup("cpu")   # outside torchrun: a single process
    >>> (info.rank, info.world_size, info.is_main)
    (0, 1, True)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from .errors import ConfigError


@dataclass
class DistInfo:
    """Where this process stands in the run."""

    rank: int  # global rank, 0 for a single process
    world_size: int  # number of processes
    local_rank: int  # rank on this machine (the CUDA device index)
    device: torch.device  # the device this process trains on

    @property
    def is_main(self) -> bool:
        """Rank 0 evaluates, logs and writes checkpoints."""
        return self.rank == 0


def setup(device: str) -> DistInfo:
    """Start the process group if launched by torchrun (``WORLD_SIZE`` > 1) and pick the device.

    ``device`` is "auto", "cpu" or "cuda".

    Raises:
        ConfigError: ``device`` is "cuda" and torch has no CUDA device (before any work: nothing is written).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if device == "cuda" and not torch.cuda.is_available():
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        why = (f"torch {torch.__version__} is built without CUDA" if torch.version.cuda is None else
               f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no GPU"
               + (f"; CUDA_VISIBLE_DEVICES={visible!r}" if visible is not None else ""))
        raise ConfigError(f"--device cuda: CUDA is not available to this torch ({why}); pass --device cpu, or "
                          "--device auto to use a GPU where there is one")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def teardown() -> None:
    """Destroy the process group, if any."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_params(model: nn.Module) -> None:
    """Copy rank 0's parameters to every process (all start from identical weights)."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        for p in model.parameters():
            dist.broadcast(p.data, src=0)


def allreduce_grads(params: list[nn.Parameter]) -> None:
    """Sum the gradients of ``params`` over processes, in one flat buffer (parameters without grad skipped)."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def barrier() -> None:
    """Wait for every process (no-op for one)."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def broadcast_object(obj: object) -> object:
    """Rank 0's ``obj`` on every process."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj: object) -> list[object]:
    """Every process's ``obj``, in rank order (a one-element list for a single process)."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return [obj]
    out: list[object] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out
