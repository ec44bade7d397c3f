"""A story's lines by id, in the story's own order (its ids may be out of sequence)."""

from __future__ import annotations


def story_lines(context: str | None) -> dict[int, str]:
    """Line id -> text, a line's sentences joined (a line may hold several)."""
    if not context:
        return {}
    from edge_reason.heuristics.story import split_story

    story: dict[int, str] = {}
    for sentence in split_story(context):
        story[sentence.id] = f"{story.get(sentence.id, '')} {sentence.text}".strip()
    return story
