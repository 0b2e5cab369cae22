""" "Today" for the targets of performance round two, measured in the same run: a checkout of
main before the round (REFERENCE_COMMIT) in a scratch git worktree, with this tree's bench/
copied over it, so the same bench.profile measures both on the same machine at the same
time. The figures the round started from (bench.targets.TODAY) were taken on another
machine; this one may be faster or slower (2026-11-27: ec4c142's app CPU per intake was
4.20 ms on the first machine and 6.5-7.0 ms on the second)."""

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.servers import ROOT

# main before performance round two (the "today").
REFERENCE_COMMIT = "ec4c142"


@contextlib.contextmanager
def reference_tree(commit: str = REFERENCE_COMMIT) -> Iterator[Path | None]:
    """A worktree of `commit` with this bench in it, or None when there is no git history
    to take it from (a source tarball): the targets then fall back to bench.targets.TODAY."""
    dest = Path(tempfile.mkdtemp(prefix="minicrm-today-")) / "tree"
    added = subprocess.run(
        ["git", "worktree", "add", "--detach", "--force", str(dest), commit],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if added.returncode != 0:
        yield None
        return
    try:
        shutil.copytree(
            ROOT / "bench", dest / "bench", dirs_exist_ok=True, ignore=shutil.ignore_patterns("results", "__pycache__")
        )
        yield dest
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(dest)], cwd=ROOT, capture_output=True)
        shutil.rmtree(dest.parent, ignore_errors=True)
