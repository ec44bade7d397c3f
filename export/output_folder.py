"""An output folder that a failed run does not leave behind empty."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def output_folder(folder: Path) -> Iterator[Path]:
    """Create `folder` (and missing parents); if the body fails, remove the ones this call
    created while they are still empty. A folder that existed before is never removed,
    and neither is one holding files (a failed distill's checkpoints resume the run)."""
    created = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        for path in created:
            try:
                path.rmdir()  # only succeeds on an empty folder
            except OSError:
                break  # not empty: its parents are not empty either
        raise
