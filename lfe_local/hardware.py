"""What the machine can do, asked once: bf16 support and thread counts."""

from __future__ import annotations

import functools
import os
import time


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


def _busy_jiffies() -> tuple[int, int, int] | None:
    """(busy jiffies of every CPU, all jiffies, this process's own CPU jiffies), from /proc."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        with open("/proc/self/stat") as f:
            own = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
    return total - idle, total, int(own[11]) + int(own[12])  # utime + stime


def free_cores(window_s: float = 0.1) -> int:
    """Cores of this process's affinity that other processes leave free, measured over window_s.

    Why: llama.cpp spins all its threads on every token, so one more thread than the free cores
    stalls it on the busiest (issue 12, 2-core machine: ~18 tokens/s alone, 2-5 with the cores
    taken by another stage). Other work = all CPUs' busy time minus this process's own; where
    /proc cannot be read, all cores.
    """
    cores = n_threads()
    first = _busy_jiffies()
    if first is None:
        return cores
    time.sleep(window_s)
    second = _busy_jiffies()
    if second is None or second[1] <= first[1]:
        return cores
    all_cpus = os.cpu_count() or cores
    others = max(0, (second[0] - first[0]) - (second[2] - first[2])) / (second[1] - first[1]) * all_cpus
    # A core counts as taken when other work keeps it more than half busy.
    return max(1, min(cores, cores - int(others + 0.5)))
