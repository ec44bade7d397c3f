"""Running the CLI in a fresh interpreter, where libraries print what they print at import."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

# What torch, torchao, transformers and the ONNX exporter print that says nothing to a user.
THIRD_PARTY_CHATTER = re.compile(
    r"warning|deprecat|failed to load|^[WI]\d{4} |traceback|tracer", re.IGNORECASE | re.MULTILINE
)


def run_cli(*arguments: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`edge-reason ARGUMENTS...` in a new Python process; stdout and stderr kept apart.
    cwd: anywhere but the checkout, whose edge_reason/ would shadow the installed package."""
    return subprocess.run(
        [sys.executable, "-c", "from edge_reason.cli import main; main()", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
