"""Install PyTorch into the running Python the way this machine needs it (make app / make test call it).

- TORCH="..." installs exactly that (pip arguments: TORCH="torch==2.9.1", TORCH="torch --index-url URL").
- An installed torch is kept.
- With an NVIDIA GPU (nvidia-smi answers), and on macOS or Windows, the package index's default torch.
- On Linux without a GPU, a CPU-only build: PyPI's default Linux wheel pulls about 4 GB of CUDA
  libraries a CPU cannot use. The newest torch >= 2.4 whose version carries the `+cpu` label on the
  configured indexes is taken, else on PyTorch's CPU index (asked once, 5 s at most), and the index that served is
  said; if none offers one, the default, with a warning.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
MINIMUM = (2, 4)
# An index that does not answer costs one try of a few seconds, not minutes of retries.
QUICK = ["--timeout", "5", "--retries", "0"]


def pip(*args: str, capture: bool = False) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pip", *args]
    print("+", shlex.join(command), file=sys.stderr)
    return subprocess.run(command, capture_output=capture, text=True, check=False)


def has_nvidia_gpu() -> bool:
    """Whether nvidia-smi lists a GPU (the CUDA driver is what a CUDA build of torch needs)."""
    if shutil.which("nvidia-smi") is None:
        return False
    done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
    return done.returncode == 0 and "GPU" in done.stdout


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])


def cpu_builds(*index: str) -> list[str]:
    """The `X.Y.Z+cpu` torch versions (>= MINIMUM) an index offers: pip's configured ones without arguments, else
    the one given (`--index-url URL`), asked once with a short timeout."""
    done = pip("index", "versions", "torch", *index, *QUICK, capture=True)
    found = re.search(r"Available versions: (.*)", done.stdout)
    versions = [v.strip() for v in found.group(1).split(",")] if found else []
    return [v for v in versions if v.endswith("+cpu") and version_key(v) >= MINIMUM]


def newest_cpu_build() -> tuple[str, str | None] | None:
    """(the newest `X.Y.Z+cpu` torch, the index that offers it: None for pip's configured indexes), or None. PyTorch's
    CPU index is asked only where the configured ones offer no CPU build."""
    for index in (None, CPU_INDEX):
        builds = cpu_builds() if index is None else cpu_builds("--index-url", index)
        if builds:
            return max(builds, key=version_key), index
    return None


def install() -> int:
    chosen = os.environ.get("TORCH", "").strip()
    if chosen:
        return pip("install", *shlex.split(chosen)).returncode
    try:
        print(f"torch {importlib.metadata.version('torch')} is installed; keeping it", file=sys.stderr)
        return 0
    except importlib.metadata.PackageNotFoundError:
        pass
    default = f"torch>={MINIMUM[0]}.{MINIMUM[1]}"
    if platform.system() != "Linux" or has_nvidia_gpu():
        return pip("install", default).returncode
    found = newest_cpu_build()
    if found is None:
        print(
            "install_torch: no CPU-only torch build found on the package indexes; installing the default build, "
            'which on Linux may include CUDA libraries (set TORCH="torch==X.Y.Z --index-url URL" to choose)',
            file=sys.stderr,
        )
        return pip("install", default).returncode
    version, index = found
    print(f"install_torch: torch {version} from {index or 'the configured package index'}", file=sys.stderr)
    extra = [] if index is None else ["--extra-index-url", index]
    return pip("install", f"torch=={version}", *extra, *QUICK).returncode


if __name__ == "__main__":
    sys.exit(install())
