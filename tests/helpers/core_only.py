"""Run the longbert command with every optional package refused to longbert's own modules, as a core install.

python tests/helpers/core_only.py predict ...: longbert importing pandas, scikit-learn, accelerate and the like
fails as it would without the extras (transformers' own optional imports are left alone).
"""

import builtins
import sys

BLOCKED = ("pandas", "sklearn", "scipy", "accelerate", "datasets", "gradio", "plotly", "pyarrow", "blingfire", "ray")


def guard() -> None:
    """Make `import X` of a BLOCKED package fail when a longbert module asks for it."""
    real_import = builtins.__import__

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        importer = (globals or {}).get("__name__", "")
        if level == 0 and name.split(".")[0] in BLOCKED and importer.split(".")[0] == "longbert":
            raise ModuleNotFoundError(f"No module named {name!r} (not in the core install)", name=name)
        return real_import(name, globals, locals, fromlist, level)

    builtins.__import__ = guarded_import


if __name__ == "__main__":
    guard()
    from longbert.cli import main

    sys.exit(main(sys.argv[1:]))
