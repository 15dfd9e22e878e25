"""What this CPU is and can do, read from Linux's /proc/cpuinfo (no TensorFlow).

A speed holds only on the CPU it was measured on: the benchmarks print ``cpu_line()`` beside
every figure, and the tuned training settings are cached under ``cpu_key()``.
"""

from __future__ import annotations

import os
import platform


def cpu_info(cpuinfo: str = "/proc/cpuinfo") -> dict:
    """{"model", "cores", "avx2", "avx512", "bf16", "amx"} from /proc/cpuinfo (Linux), else
    what ``platform`` knows (no flags: nothing is assumed).

    ``model`` names the generation too where the name does not: a cloud VM's "AMD EPYC" was a
    Zen 1 one day and a Zen 3 the next, twice as fast, so the x86 family and model numbers are
    added ("AMD EPYC (family 23 model 1)")."""
    model, flags, numbers = platform.processor() or platform.machine(), set(), {}
    try:
        with open(cpuinfo, encoding="ascii", errors="ignore") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
                elif key in ("cpu family", "model") and key not in numbers:
                    numbers[key] = value.strip()
    except OSError:
        pass
    if len(numbers) == 2:
        model = f"{model} (family {numbers['cpu family']} model {numbers['model']})"
    return {"model": model, "cores": usable_cores(), "avx2": "avx2" in flags,
            "avx512": "avx512f" in flags, "bf16": bool({"avx512_bf16", "amx_bf16"} & flags),
            "amx": "amx_tile" in flags}


def usable_cores() -> int:
    """Logical CPUs this process may run on (a container's or taskset's limit included)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_supports_bfloat16() -> bool:
    """True when the CPU computes bfloat16 natively (Linux flags avx512_bf16 or amx_bf16)."""
    return cpu_info()["bf16"]


def cpu_line() -> str:
    """e.g. "CPU: AMD EPYC (family 23 model 1), 2 cores, AVX2, no AVX-512, no BF16 (bfloat16
    emulated: slow)"."""
    info = cpu_info()
    parts = [f"CPU: {info['model']}", f"{info['cores']} cores",
             "AVX2" if info["avx2"] else "no AVX2",
             "AVX-512" if info["avx512"] else "no AVX-512",
             "BF16 native" + (" (AMX)" if info["amx"] else "") if info["bf16"]
             else "no BF16 (bfloat16 emulated: slow)"]
    return ", ".join(parts)


def cpu_key() -> str:
    """What a measured speed depends on, besides the software: model and usable cores."""
    info = cpu_info()
    return f"{info['model']}, {info['cores']} cores"
