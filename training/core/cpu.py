"""What this CPU can do, read from Linux's /proc/cpuinfo (no TensorFlow)."""

from __future__ import annotations


def cpu_supports_bfloat16() -> bool:
    """True when the CPU computes bfloat16 natively (Linux flags avx512_bf16 or amx_bf16)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
