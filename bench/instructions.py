"""Instructions per call of the gateway, counted by valgrind: the same figure on every run.

`inprocess.py` moves by about 2% between runs, and more on a busy machine; a change of one
percent cannot be told from the noise. Callgrind counts the instructions the process
executes instead of timing them, so the count does not depend on what else the machine
is doing (two runs of one tree agree within about 1%). This runs `inprocess.py` under
callgrind twice, with SMALL and LARGE measured calls (signed in a child process, which
callgrind does not follow), and divides the difference by LARGE - SMALL: start-up,
imports, the world and the warm-up are the same in both runs and drop out.

    python bench/instructions.py [--small 1000] [--large 3000] [--accounts 1000]
    python bench/instructions.py --tree /path/to/other/checkout/src --tree src

Each `--tree` is a `src` directory put first on the path (a `git worktree` of another
commit, say), measured side by side, two at a time on the machine's cores. Instructions
are not time (a cache miss costs no instruction), so confirm what matters with `run.py`.
Takes about three minutes a tree. Needs valgrind.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["count"]

_HERE = Path(__file__).resolve().parent
_SUMMARY = re.compile(rb"^summary: (\d+)", re.MULTILINE)


def _instructions(tree: Path | None, calls: int, accounts: int, out: Path) -> int:
    """Instructions the measuring process executed for `calls` measured calls."""
    environ = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict layouts every run
    if tree is not None:
        environ["PYTHONPATH"] = str(tree)
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            str(_HERE / "inprocess.py"),
            "--count",
            str(calls),
            "--accounts",
            str(accounts),
            "--sign-in-child",
        ],
        env=environ,
        check=True,
        capture_output=True,
    )
    match = _SUMMARY.search(out.read_bytes())
    if match is None:
        raise RuntimeError(f"no summary in {out}")
    return int(match.group(1))


def count(tree: Path | None, small: int, large: int, accounts: int) -> float:
    """Instructions per measured call of the gateway in `tree` (None: as installed)."""
    with tempfile.TemporaryDirectory(prefix="cams-instructions-") as scratch:
        low = _instructions(tree, small, accounts, Path(scratch) / "small.out")
        high = _instructions(tree, large, accounts, Path(scratch) / "large.out")
    return (high - low) / (large - small)


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--small", type=int, default=1000, help="measured calls, first run")
    parser.add_argument("--large", type=int, default=3000, help="measured calls, second run")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument(
        "--tree", type=Path, action="append", help="a src directory to measure (repeatable)"
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    if args.large <= args.small:
        sys.exit("--large must be more calls than --small")
    trees: list[Path | None] = list(args.tree or [None])
    with ThreadPoolExecutor(2) as pool:  # each run is one process: two cores, two trees
        counts = pool.map(lambda t: count(t, args.small, args.large, args.accounts), trees)
        for tree, per_call in zip(trees, counts, strict=True):
            print(f"{per_call / 1000:8.1f} K instructions per call  {tree or 'installed'}")


if __name__ == "__main__":
    _main()
