"""What a story question is about, and whether a chain's cited lines concern it.

A question's entities are its words that name something (people, objects, places, animals,
shapes): the words left when those that ask (``where``, ``how many``) and the story's
grammar (``went``, ``the``, ``afraid of``) are set aside, in singular form so that "mice" in
one line meets "a mouse" in another. A cited line is grounded when it names one of them, or
shares a named thing with a grounded cited line (the football Mary took, then the room she
went to), or opens with a pronoun right after a grounded line ("Then she went ...").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

# Words that ask, and the story's grammar: bAbI's templates, and common question words.
_FUNCTION_WORDS = frozenset(
    """
    a an the of to in into inside on at from for by with and or either neither nor not no
    than there then that this these those here now after afterwards following later before
    what where who whom whose why how which when many much does do did is are was were be
    been will would can could you your it its is isn't
    went go goes going gone moved move journeyed travelled traveled ran back came
    got get gets grabbed took take picked up dropped discarded left leave put down
    gave give given handed passed received receive
    afraid fit fits bigger big carrying carry objects object colour color
    right above below north south east west yesterday morning afternoon evening
    hungry thirsty bored tired yes maybe nothing none
    """.split()
)
# "left" is grammar in "to the left of" and in "left the milk"
_PRONOUNS = frozenset({"he", "she", "they", "him", "her", "them"})
_IRREGULAR = {"mice": "mouse", "wolves": "wolf", "sheep": "sheep", "people": "person"}
_WORD = re.compile(r"[a-z]+")
_NAMED = re.compile(
    r"(?:\b(?:the|a|an)\s+(?P<thing>[a-z]+))|(?<!^)(?<![.!?]\s)\b(?P<name>[A-Z][a-z]+)"
)


def singular(word: str) -> str:
    """``mice`` -> ``mouse``, ``cats`` -> ``cat``: how a line names a kind either way."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def entities(text: str) -> set[str]:
    """The words of ``text`` that name something, lower case and singular."""
    words = _WORD.findall(text.lower())
    return {singular(w) for w in words if w not in _FUNCTION_WORDS and w not in _PRONOUNS}


def absent_entities(question: str, story: Mapping[int, str]) -> list[str]:
    """The things ``question`` names that no line of ``story`` mentions: a name written with
    a capital, or a word after "the"/"a" ("Where is Daniel?", "Where is the apple?"). Other
    unknown words ("Where is Mary now?") do not count: they may be grammar this list lacks.
    A yes-no question is about its first named thing: "Is John in the cinema?" is answered
    "no" when the story never mentions a cinema."""
    mentioned = set().union(*(entities(line) for line in story.values())) if story else set()
    found_names = list(_NAMED.finditer(question.strip()))
    if _WORD.findall(question.lower())[:1] in (["is"], ["are"], ["does"], ["do"], ["was"]):
        found_names = found_names[:1]
    named = []
    for found in found_names:
        word = (found.group("thing") or found.group("name")).lower()
        if word in _FUNCTION_WORDS or word in _PRONOUNS:
            continue
        if singular(word) not in mentioned and word not in named:
            named.append(word)
    return named


def ungrounded_lines(
    question: str, cited: Sequence[int], story: Mapping[int, str]
) -> list[int] | None:
    """The cited lines that do not concern the question's entities (see the module's
    docstring); None when the question names nothing to ground them in."""
    asked = entities(question)
    if not asked:
        return None
    order = list(story)  # the story's own order: ids may be out of sequence
    grounded: set[int] = set()
    known = set(asked)
    changed = True
    while changed:
        changed = False
        for line in cited:
            if line in grounded:
                continue
            words = entities(story[line])
            before = order.index(line) - 1
            after_grounded = before >= 0 and order[before] in grounded
            if words & known or (after_grounded and _opens_with_pronoun(story[line])):
                grounded.add(line)
                known |= words
                changed = True
    return [line for line in dict.fromkeys(cited) if line not in grounded]


def _opens_with_pronoun(line: str) -> bool:
    return bool(set(_WORD.findall(line.lower())) & _PRONOUNS)
