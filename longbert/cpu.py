"""What this CPU can do, read once from torch and /proc/cpuinfo: native bf16, and the instruction set to name with
every speed (a leaf module: the runtime policy and the engines both ask it)."""

from __future__ import annotations

import torch

_MATRIX_FLAGS = {"avx512_vnni": "VNNI", "avx_vnni": "AVX-VNNI", "avx512_bf16": "BF16", "amx_int8": "AMX"}


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX), where bf16 autocast about doubles speed; not
    where torch's dispatch is held below AVX-512 (ATEN_CPU_CAPABILITY=avx2), as on an AVX2-only CPU."""
    if not torch.backends.cpu.get_cpu_capability().startswith("AVX512"):
        return False
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def cpu_instruction_set() -> str:
    """The vector instruction set torch dispatches to (AVX2, AVX512, ...) and the int8/bf16 matrix extensions the CPU
    reports, such as 'AVX2' or 'AVX512 + VNNI, BF16, AMX': what decides how fast int8 and bf16 run."""
    capability = torch.backends.cpu.get_cpu_capability()
    flags = set((cpu_field("flags") or "").split())
    extras = [name for flag, name in _MATRIX_FLAGS.items() if flag in flags]
    return capability + (f" + {', '.join(extras)}" if extras else "")


def cpu_field(name: str) -> str | None:
    """A field of /proc/cpuinfo's first processor (None where there is no such file or field)."""
    try:
        with open("/proc/cpuinfo") as info:
            return next((line.split(":", 1)[1].strip() for line in info if line.split(":")[0].strip() == name), None)
    except OSError:
        return None
