"""Run one harness under atheris: ``python -m fuzz.atheris_main TARGET [libFuzzer flags...]``
(run.py starts this in a subprocess, one per target). The harness is imported inside
atheris.instrument_imports so that edge_reason's code reports its coverage."""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["edge_reason"]):
    from fuzz.targets import entry_point

    test_one_input = entry_point(sys.argv[1])

atheris.Setup([sys.argv[0], *sys.argv[2:]], test_one_input)
atheris.Fuzz()
