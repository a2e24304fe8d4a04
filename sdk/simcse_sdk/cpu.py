"""The CPU's instruction-set flags that decide how fast int8 kernels run.

onnxruntime's int8 MatMul kernels use AVX2 (u8×s8 via vpmaddubsw), AVX-512 VNNI or
AVX-VNNI, AMX, or ARM dot-product instructions. The exporter records what it saw; the SDK
warns when an int8 model runs on a CPU that lacks an instruction set the export CPU had.

Example:
    >>> isinstance(cpu_description()["int8_flags"], list)
    True
"""

from __future__ import annotations

import platform
from pathlib import Path

INT8_FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm")


def _cpuinfo() -> tuple[str, set[str]]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine(), set()
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model", "CPU part") and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model or platform.machine(), flags


def cpu_description() -> dict[str, object]:
    """CPU model, machine, and the int8-relevant flags present."""
    model, flags = _cpuinfo()
    return {
        "model": model,
        "machine": platform.machine(),
        "int8_flags": sorted(f for f in INT8_FLAGS if f in flags),
    }


def missing_int8_flags(recorded: list[str]) -> list[str]:
    """Flags the export CPU had that this CPU lacks (empty when this CPU is at least as capable)."""
    here = set(cpu_description()["int8_flags"])  # type: ignore[arg-type]
    return sorted(set(recorded) - here)
