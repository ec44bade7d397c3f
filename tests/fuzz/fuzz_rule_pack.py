"""Fuzz target: a rule pack's TOML text, loaded and checked, then its examples run (which
evaluates its rules and answers its questions)."""

from __future__ import annotations

from edge_reason.heuristics import RulePack

from fuzz.harness import attempt, expected


def TestOneInput(data: bytes) -> None:
    pack = attempt(RulePack.from_string, data.decode("utf-8", "replace"))
    if pack is None:
        return
    with expected():
        pack.run_examples()
