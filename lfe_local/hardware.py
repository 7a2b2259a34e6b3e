"""What the machine can do, asked once: bf16 support and thread counts."""

from __future__ import annotations

import functools
import os


@functools.cache
def cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@functools.cache
def cpu_model() -> str:
    """The CPU's marketing name, for reports that must say which machine a figure came from."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


def cpu_bf16_supported() -> bool:
    # AMX or AVX512-BF16 make bf16 matmuls ~2-5x faster than fp32 here; without them
    # bf16 on CPU is emulated and slower, so we only autocast when the hardware has it.
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


def cpu_has_amx() -> bool:
    """Intel AMX tiles (Sapphire Rapids and later): llama.cpp then repacks weights into its AMX
    buffer, which crashed it here (below)."""
    return "amx_tile" in cpu_flags()


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def bf16_supported(device: str) -> bool:
    if device == "cuda":
        import torch

        return torch.cuda.is_bf16_supported()
    return cpu_bf16_supported()


def use_bf16(setting: str, device: str) -> bool:
    """A config's bf16 switch resolved: "on", "off", or "auto" = where the hardware has bf16 units."""
    return setting == "on" or (setting == "auto" and bf16_supported(device))


def n_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
