"""The machine a figure was measured on, printed beside every figure of ``make bench``: a speed
holds only on its CPU, and bfloat16 doubles training speed where the CPU computes it natively."""

from __future__ import annotations

import os
import platform


def cpu_info() -> dict:
    """{"model", "cores", "avx2", "avx512", "bf16", "amx"} from /proc/cpuinfo (Linux), else
    what ``platform`` knows."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {"model": model, "cores": os.cpu_count() or 1, "avx2": "avx2" in flags,
            "avx512": "avx512f" in flags, "bf16": bool({"avx512_bf16", "amx_bf16"} & flags),
            "amx": "amx_tile" in flags}


def cpu_line() -> str:
    """e.g. "CPU: AMD EPYC, 2 cores, AVX2, no AVX-512, no BF16 (bfloat16 emulated: slow)"."""
    info = cpu_info()
    parts = [f"CPU: {info['model']}", f"{info['cores']} cores",
             "AVX2" if info["avx2"] else "no AVX2",
             "AVX-512" if info["avx512"] else "no AVX-512",
             "BF16 native" + (" (AMX)" if info["amx"] else "") if info["bf16"]
             else "no BF16 (bfloat16 emulated: slow)"]
    return ", ".join(parts)


if __name__ == "__main__":
    print(cpu_line())
