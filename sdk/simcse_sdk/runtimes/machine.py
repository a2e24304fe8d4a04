"""This machine, as the runtimes see it: the CPU's model and instruction-set flags, the cores and the memory
this process may use (affinity, cgroup quota and limit).

onnxruntime's int8 MatMul kernels use AVX2 (u8 x s8 via vpmaddubsw), AVX-512 VNNI or AVX-VNNI, AMX, or ARM
dot-product instructions. The exporter records the flags it saw; the SDK warns when an int8 model runs on a
CPU that lacks one the export CPU had, and ``variant="auto"`` keys its cache by them.

Example:
    >>> isinstance(cpu_description()["int8_flags"], list), default_threads() >= 1
    (True, True)
"""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path

INT8_FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm")


def cpuinfo() -> tuple[str, set[str]]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine(), set()
    model, flags = "", set[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model", "CPU part") and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model or platform.machine(), flags


def int8_flags(flags: set[str]) -> list[str]:
    """The int8-relevant flags among ``flags``, sorted."""
    return sorted(f for f in INT8_FLAGS if f in flags)


def cpu_description() -> dict[str, object]:
    """CPU model, machine, and the int8-relevant flags present."""
    model, flags = cpuinfo()
    return {
        "model": model,
        "machine": platform.machine(),
        "int8_flags": int8_flags(flags),
    }


def missing_int8_flags(recorded: list[str]) -> list[str]:
    """Flags the export CPU had that this CPU lacks (empty when this CPU is at least as capable)."""
    here = set(int8_flags(cpuinfo()[1]))
    return sorted(set(recorded) - here)


def default_threads() -> int:
    """The CPUs this process may use: its affinity mask, capped by a cgroup CPU quota (containers)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def available_memory(root: str = "/sys/fs/cgroup") -> int:
    """Bytes this process may still allocate: the kernel's MemAvailable, capped by the cgroup's memory limit
    (v2 ``memory.max`` of this process's cgroup or the root, v1 ``memory.limit_in_bytes``; Linux); elsewhere
    a large number (no cap)."""
    avail = 1 << 62
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    base = Path(root)
    v2, v1 = [base], [base / "memory"]
    try:  # "0::/path" (v2) or "N:memory:/path" (v1) names this process's cgroup under the root
        for ln in Path("/proc/self/cgroup").read_text().splitlines():
            parts = ln.split(":", 2)
            if len(parts) == 3 and parts[2].strip("/"):
                if parts[0] == "0" and parts[1] == "":
                    v2.insert(0, base / parts[2].strip("/"))
                elif "memory" in parts[1].split(","):
                    v1.insert(0, base / "memory" / parts[2].strip("/"))
    except OSError:
        pass
    for d, limit_file, usage_file in [*((d, "memory.max", "memory.current") for d in v2),
                                      *((d, "memory.limit_in_bytes", "memory.usage_in_bytes") for d in v1)]:
        try:
            limit = (d / limit_file).read_text().strip()
            if limit != "max" and int(limit) < 1 << 60:  # v1 writes a huge number for "no limit"
                avail = min(avail, int(limit) - int((d / usage_file).read_text()))
        except (OSError, ValueError):
            continue
    return max(avail, 0)


def cgroup_cpu_quota(root: str | os.PathLike[str] = "/sys/fs/cgroup") -> float | None:
    """CPUs granted by the cgroup quota (``cpu.max`` in v2, ``cpu.cfs_quota_us`` in v1), None if unlimited."""
    base = Path(root)
    try:
        quota, period = (base / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        q = int((base / "cpu" / "cpu.cfs_quota_us").read_text())
        p = int((base / "cpu" / "cpu.cfs_period_us").read_text())
        return q / p if q > 0 and p > 0 else None
    except (OSError, ValueError):
        return None
