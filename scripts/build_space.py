"""Build a deployable Hugging Face Space from the current tree: a fresh git repository with one commit.

    python scripts/build_space.py --out build/space [--hardware cpu|zerogpu]     (or: make space)
    git -C build/space push --force https://huggingface.co/spaces/USER/NAME main

The snapshot holds the repository's tracked files as they are in the working tree, less tests/ and
.ci/, with no history: the Hub refuses binaries outside git-lfs, and the bundled model's weights
sit as a plain blob in this repository's history, so pushing the repository itself cannot work.
Every binary (by extension, or any file with a NUL byte in its first 8 KB) is tracked by git-lfs.
requirements.txt is written for the hardware: on a CPU Space a CPU-only torch (PyPI's default Linux
torch carries about 4 GB of CUDA libraries); on ZeroGPU the default CUDA torch and `spaces`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEFT_OUT = ("tests/", ".ci/", ".gitignore")
LFS_EXTENSIONS = ("safetensors", "bin", "pt", "pth", "ckpt", "onnx", "parquet", "arrow", "npy", "npz", "pkl",
                  "png", "jpg", "jpeg", "gif", "webp", "pdf", "zip", "gz", "tgz", "whl")  # fmt: skip
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
HARDWARE = {"cpu": "cpu-basic", "zerogpu": "zero-a10g"}
IDENTITY = {f"GIT_{who}_{what}": value for who in ("AUTHOR", "COMMITTER")
            for what, value in (("NAME", "longbert"), ("EMAIL", "longbert@localhost"))}  # fmt: skip


def git(*args: str, cwd: Path) -> str:
    """Run git in cwd and return its output; a failure is one line."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **IDENTITY})
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise SystemExit(f"build_space: git {' '.join(args)} failed: {last}")
    return done.stdout


def is_binary(path: Path) -> bool:
    if path.suffix.lstrip(".").lower() in LFS_EXTENSIONS:
        return True
    with path.open("rb") as handle:
        return b"\0" in handle.read(8192)


def space_files(root: Path) -> list[str]:
    """The tracked files that exist in the working tree, less the tests and CI."""
    listed = git("ls-files", "-z", cwd=root).split("\0")
    return sorted(f for f in listed if f and (root / f).is_file() and not f.startswith(LEFT_OUT))


def requirements(text: str, hardware: str) -> str:
    """requirements.txt for the Space's hardware: CPU-only torch on CPU, the CUDA build and `spaces` on ZeroGPU."""
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    if hardware == "cpu":
        return f"--extra-index-url {CPU_INDEX}\n" + "\n".join(lines) + "\n"
    return "\n".join([*lines, "spaces"]) + "\n"


def front_matter(readme: str, hardware: str) -> str:
    """The README with the Space's suggested hardware in its front matter."""
    if not readme.startswith("---\n"):
        raise SystemExit("build_space: README.md has no front matter (the Space's configuration)")
    head, body = readme[4:].split("\n---\n", 1)
    head = "\n".join(line for line in head.splitlines() if not line.startswith("suggested_hardware:"))
    return f"---\n{head}\nsuggested_hardware: {HARDWARE[hardware]}\n---\n{body}"


def build(out: Path, hardware: str, root: Path = ROOT) -> list[str]:
    """Write the snapshot to out (which must not exist, or be empty); return the files tracked by git-lfs."""
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"build_space: {out} exists and is not empty: remove it or choose another --out")
    if shutil.which("git-lfs") is None:
        raise SystemExit("build_space: git-lfs is not installed (Debian/Ubuntu: apt-get install git-lfs)")
    files = space_files(root)
    out.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", "main", cwd=out)
    git("lfs", "install", "--local", cwd=out)
    for name in files:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, out / name)
    (out / "requirements.txt").write_text(requirements((root / "requirements.txt").read_text(), hardware))
    (out / "README.md").write_text(front_matter((root / "README.md").read_text(encoding="utf-8"), hardware))
    binaries = [name for name in files if is_binary(out / name)]
    patterns = [f"*.{extension}" for extension in LFS_EXTENSIONS]
    patterns += [name for name in binaries if name.rsplit(".", 1)[-1].lower() not in LFS_EXTENSIONS]
    (out / ".gitattributes").write_text("".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in patterns))
    git("add", "-A", cwd=out)
    source = git("rev-parse", "--short", "HEAD", cwd=root).strip()
    dirty = " with uncommitted changes" if git("status", "--porcelain", cwd=root).strip() else ""
    git("commit", "-q", "-m", f"longbert Space ({hardware}) from {source}{dirty}", cwd=out)
    return binaries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "space", help="where to write the snapshot")
    parser.add_argument("--hardware", choices=sorted(HARDWARE), default="cpu", help="the Space's hardware")
    args = parser.parse_args(argv)
    binaries = build(args.out, args.hardware)
    print(f"wrote {args.out}: one commit, {len(binaries)} binaries in git-lfs ({', '.join(binaries)})")
    print(f"push it: git -C {args.out} push --force https://huggingface.co/spaces/USER/NAME main")
    return 0


if __name__ == "__main__":
    sys.exit(main())
