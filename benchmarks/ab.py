"""Old and new code measured in turn on one machine:

    python -m benchmarks.ab REV [--rounds N] [benchmarks.run's options: --profiles, --smoke, …]

This checkout's benchmark (`benchmarks.run`: its fake peers, its load) serves the gateway of
revision REV (its tracked files, from `git archive`, on this environment's packages) and this
checkout's in turn, this checkout's first in odd rounds and REV's first in even ones, so that
the machine's swings (on a shared 2-core machine the CPU of the same turn doubled within an
hour, 2026-12-06) fall on both; then prints each measure's values side by side. Both must share
the database schema: the benchmark migrates its scratch database with this checkout's
migrations."""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = "storage/migrations"
_ROW = re.compile(r"^\| (\S+) \| (.+?) \| (.+?) \|$", re.MULTILINE)

Rows = dict[tuple[str, str], str]


def parse_rows(output: str) -> Rows:
    """The table `benchmarks.run` prints last: (profile, measure) → value."""
    return {(profile, measure): value for profile, measure, value in _ROW.findall(output)
            if profile not in ("profile", "---")}


def brief(value: str) -> str:
    """A value's last clause ("… answered in 5.0 s (1019 turns): 402 messages/s, 205 turns/s"
    → "402 messages/s, 205 turns/s")."""
    return value.rsplit(": ", 1)[-1]


def comparison(old: list[Rows], new: list[Rows]) -> str:
    """A table of every measure with the old code's values and the new code's, run by run."""
    lines = ["| profile | measure | old | new |", "| --- | --- | --- | --- |"]
    measures = dict.fromkeys(key for rows in [*new, *old] for key in rows)
    for profile, measure in measures:
        cells = [" / ".join(brief(rows.get((profile, measure), "-")) for rows in side)
                 for side in (old, new)]
        lines.append(f"| {profile} | {measure} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def migrations_of(rev: str) -> list[str]:
    listed = subprocess.run(["git", "ls-tree", "--name-only", rev, f"{MIGRATIONS}/"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    return sorted(Path(name).name for name in listed.split() if name.endswith(".sql"))


def export(rev: str, into: Path) -> None:
    archive = subprocess.run(["git", "archive", "--format=tar", rev], cwd=ROOT, check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, filter="data")
        else:  # Python 3.11 before 3.11.4: the archive is our own repository's
            tar.extractall(into)


def measure(root: Path, options: list[str]) -> Rows:
    done = subprocess.run([sys.executable, "-m", "benchmarks.run", *options,
                           "--gateway-root", str(root)], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"benchmarks.run failed for {root}:\n{done.stdout[-2000:]}"
                         f"{done.stderr[-2000:]}")
    return parse_rows(done.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rev", help="the old revision (a commit, a tag, HEAD~3)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each side (default 2)")
    args, options = parser.parse_known_args(argv)
    here = sorted(path.name for path in (ROOT / MIGRATIONS).glob("*.sql"))
    if migrations_of(args.rev) != here:
        raise SystemExit(f"{args.rev} has other migrations than this checkout: compare "
                         "revisions of one database schema")
    old: list[Rows] = []
    new: list[Rows] = []
    with tempfile.TemporaryDirectory(prefix="truffles-ab-") as scratch:
        tree = Path(scratch)
        export(args.rev, tree)
        for number in range(args.rounds):
            sides = [("new", ROOT, new), ("old", tree, old)]
            for name, root, results in sides if number % 2 == 0 else sides[::-1]:
                print(f"round {number + 1}: {name}", file=sys.stderr, flush=True)
                results.append(measure(root, options))
    print(f"old: {args.rev}; new: this checkout; runs in order of rounds")
    print(comparison(old, new))
    return 0


if __name__ == "__main__":
    sys.exit(main())
