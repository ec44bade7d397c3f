"""Thinking tags: which ones a model uses, splitting streamed text, budget forcing."""

from __future__ import annotations

import pytest
from helpers.chat_models import template_source

from edge_reason.thinking import (
    ChatPiece,
    ThinkingSplitter,
    ThinkingTags,
    find_thinking_tags,
    opens_thinking,
)
from edge_reason.thinking_budget import ThinkingBudget

THINK = ThinkingTags("<think>", "</think>")


def test_tags_come_from_added_tokens_then_the_template() -> None:
    qwen3 = template_source("qwen3_thinking")
    assert find_thinking_tags(qwen3, ["<|im_end|>", "<think>", "</think>"]) == THINK
    # the tokenizer says otherwise: its added tokens win over the template's text
    tags = find_thinking_tags(qwen3, ["<reasoning>", "</reasoning>"])
    assert tags == ThinkingTags("<reasoning>", "</reasoning>")
    assert find_thinking_tags(template_source("r1_distill"), []) == THINK
    assert find_thinking_tags(template_source("llama3"), ["<|eot_id|>"]) is None
    assert find_thinking_tags("<think> without a closing tag", ["<think>"]) is None


def test_a_prompt_that_opens_thinking_starts_the_reply_inside_it() -> None:
    assert opens_thinking("<|Assistant|><think>\n", THINK)
    assert not opens_thinking("<|im_start|>assistant\n<think>\n\n</think>\n\n", THINK)
    assert not opens_thinking("<think>a</think> then <|Assistant|>", THINK)
    assert not opens_thinking("<think>", None)


def split(text: str, inside: bool, step: int) -> list[ChatPiece]:
    splitter = ThinkingSplitter(THINK, inside=inside)
    pieces = [p for i in range(0, len(text), step) for p in splitter.feed(text[i : i + step])]
    return pieces + splitter.flush()


def joined(pieces: list[ChatPiece]) -> tuple[str, str]:
    return tuple("".join(p.text for p in pieces if p.kind == k) for k in ("reasoning", "answer"))


@pytest.mark.parametrize("step", [1, 2, 3, 7, 1000])
def test_splitting_does_not_depend_on_how_text_is_cut(step) -> None:
    text = "<think>\nFirst, 2+2.\n\nIt is 4 <thin not a tag.\n</think>\n\nThe answer: 4.\n"
    assert joined(split(text, False, step)) == (
        "First, 2+2.\n\nIt is 4 <thin not a tag.",
        "The answer: 4.",
    )
    assert joined(split("weigh it</think>\n4 </think>\n", True, step)) == ("weigh it", "4 </think>")
    assert joined(split("no tags at all  ", False, step)) == ("", "no tags at all")
    assert joined(split("ends mid tag </thi", True, step)) == ("ends mid tag </thi", "")


def test_pieces_come_out_as_soon_as_they_cannot_be_a_tag() -> None:
    splitter = ThinkingSplitter(THINK, inside=True)
    assert splitter.feed("so x=2 ") == [ChatPiece("so x=2", "reasoning")]
    assert splitter.feed("</") == []
    assert splitter.feed("b>") == [ChatPiece(" </b>", "reasoning")]
    assert ThinkingSplitter(None, inside=False).feed("<think>x") == [
        ChatPiece("<think>x", "answer")
    ]


def test_the_budget_closes_thinking_after_n_tokens_of_it() -> None:
    budget = ThinkingBudget(THINK, 3, [7, 8], inside=False)
    texts = ["Sure", "<think>", "a", "b", "c", "d"]
    assert [budget.after_token(t) for t in texts] == [[], [], [], [], [7, 8], []]
    assert budget.reserved_tokens == 2
    inside = ThinkingBudget(THINK, 2, [9], inside=True)
    assert [inside.after_token(t) for t in ["a", "b", "c"]] == [[], [9], []]
    # a model that closes its thinking in time is left alone
    early = ThinkingBudget(THINK, 2, [9], inside=True)
    assert [early.after_token(t) for t in ["a", "</think>", "x", "y"]] == [[], [], [], []]
