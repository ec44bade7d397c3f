"""Fuzz target: a question (and story) put to every built-in rule pack: its question
forms, story reading and the rules they set off."""

from __future__ import annotations

from edge_reason.heuristics import builtin_names, load_builtin

from fuzz.harness import expected, parts

PACKS = [load_builtin(name) for name in builtin_names()]


def TestOneInput(data: bytes) -> None:
    question, story = (part.decode("utf-8", "replace") for part in parts(data, 2))
    for pack in PACKS:
        with expected():
            pack.answer_question(question, story or None)
