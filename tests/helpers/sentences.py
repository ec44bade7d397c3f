"""Varied English sentences for embedding tests and benchmarks, made deterministically.

`varied_sentences(n)` mixes lengths (a few words to a few hundred tokens), topics,
punctuation, numbers, units, dates, code-like strings and some non-ASCII text (accents,
Greek, Cyrillic, CJK, emoji), so that parity covers more than one kind of input. The
same n and seed always give the same list.
"""

from __future__ import annotations

import random

TOPICS = {
    "weather": (
        ["the storm", "a cold front", "the morning fog", "light rain", "the heatwave"],
        ["moved across", "settled over", "cleared from", "lingered above", "swept through"],
        ["the valley", "the coast", "northern Norway", "the city centre", "the Alps"],
    ),
    "cooking": (
        ["the chef", "my grandmother", "a line cook", "the baker", "our neighbour"],
        ["simmered", "roasted", "kneaded", "seasoned", "folded"],
        ["the tomato sauce", "a crème brûlée", "the sourdough", "fresh gnocchi", "the curry"],
    ),
    "sports": (
        ["the striker", "the home team", "a rookie pitcher", "the goalkeeper", "the coach"],
        ["scored against", "defended against", "trained with", "lost to", "outran"],
        ["the champions", "the visiting side", "last year's winners", "the league leaders"],
    ),
    "science": (
        ["the telescope", "a graduate student", "the enzyme", "the probe", "the model"],
        ["measured", "detected", "catalysed", "predicted", "observed"],
        ["a faint signal", "the reaction", "gravitational waves", "the protein fold"],
    ),
    "finance": (
        ["the central bank", "the startup", "investors", "the pension fund", "the retailer"],
        ["raised", "cut", "reported", "borrowed", "hedged"],
        ["interest rates", "quarterly revenue", "its bond holdings", "the dividend"],
    ),
    "programming": (
        ["the compiler", "a junior developer", "the CI pipeline", "the parser", "the kernel"],
        ["rejected", "refactored", "cached", "inlined", "profiled"],
        ["the hot loop", "a null pointer", "the build script", "the JSON payload"],
    ),
    "history": (
        ["the emperor", "the merchants", "a medieval scribe", "the revolutionaries"],
        ["founded", "copied", "besieged", "traded with", "abolished"],
        ["the city walls", "a monastery", "the river port", "the old dynasty"],
    ),
    "travel": (
        ["the night train", "our ferry", "a backpacker", "the tour guide", "the pilot"],
        ["left", "reached", "crossed", "circled", "explored"],
        ["Lisbon", "the fjords", "Kraków", "the Atacama desert", "Reykjavík"],
    ),
    "health": (
        ["the nurse", "a new vaccine", "the patient", "regular exercise", "the clinic"],
        ["reduced", "monitored", "improved", "treated", "prevented"],
        ["blood pressure", "the infection", "sleep quality", "the fever", "back pain"],
    ),
    "music": (
        ["the orchestra", "a jazz trio", "the violinist", "the choir", "the drummer"],
        ["rehearsed", "recorded", "improvised over", "performed", "reinterpreted"],
        ["a Chopin nocturne", "the final movement", "an old folk song", "the chorus"],
    ),
}

CLAUSES = [
    "although nobody expected it",
    "after a long delay",
    "for the third time this year",
    "despite the noise outside",
    "while the rest of the group waited",
    "as the report had predicted",
    "before anyone could object",
    "without much fuss",
]

NUMBERS = [
    "at 07:45",
    "on 12 March 2024",
    "for €3.50",
    "with 98.6% accuracy",
    "in 2 h 15 min",
    "at -12 °C",
    "by 1,250 units",
    "with a ratio of 3:1",
    "in version 2.11.4",
    "about 4.7 km away",
]

FOREIGN = [
    "Café au lait, s'il vous plaît.",
    "Ελληνικά: η γλώσσα των φιλοσόφων.",
    "Привет, как дела? Всё хорошо.",
    "東京は日本の首都です。",
    "北京的天气今天很好。",
    "¿Dónde está la biblioteca?",
    "Straße, Größe und Übermut.",
    "naïve façade, jalapeño, smörgåsbord",
    "The launch went well 🚀 and the team celebrated 🎉.",
    "Ångström units measure tiny distances.",
]

CODE = [
    "Call `embed(texts, batch_size=32)` and check the shape.",
    "The regex ^[a-z0-9_]+$ rejected 'Hello-World'.",
    "Set PATH=/usr/local/bin:$PATH before running make -j2.",
    'HTTP 404: GET /api/v1/users/42 returned {"error": "not found"}.',
    "x = [i ** 2 for i in range(10) if i % 3 == 0]",
]

PUNCT = [".", "!", "?", "...", ";", " — really.", "?!"]


def _sentence(rng: random.Random) -> str:
    subjects, verbs, objects = TOPICS[rng.choice(sorted(TOPICS))]
    words = [rng.choice(subjects), rng.choice(verbs), rng.choice(objects)]
    if rng.random() < 0.5:
        words.append(rng.choice(NUMBERS))
    if rng.random() < 0.4:
        words.append(rng.choice(CLAUSES))
    text = " ".join(words)
    text = text[0].upper() + text[1:] + rng.choice(PUNCT)
    if rng.random() < 0.1:
        text = text.upper()
    if rng.random() < 0.1:
        text = f'"{text}" she said.'
    return text


def varied_sentences(n: int, seed: int = 0) -> list[str]:
    """n texts: about 60% a single sentence, 20% two to four, 10% paragraphs of up to
    about 200 tokens, 10% odd ones (a word, a number, foreign text, code, empty-ish)."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.6:
            out.append(_sentence(rng))
        elif r < 0.8:
            out.append(" ".join(_sentence(rng) for _ in range(rng.randint(2, 4))))
        elif r < 0.9:
            out.append(" ".join(_sentence(rng) for _ in range(rng.randint(6, 14))))
        else:
            out.append(
                rng.choice(
                    [
                        rng.choice(FOREIGN),
                        rng.choice(CODE),
                        rng.choice(["Yes.", "ok", "42", "3.14159", "?", "  padded text  "]),
                        rng.choice(FOREIGN) + " " + _sentence(rng),
                    ]
                )
            )
    return out


def long_texts(n: int, seed: int = 1) -> list[str]:
    """n texts of 300 to 600 tokens for MiniLM's tokenizer: beyond max_seq_length (256),
    some beyond the position table (512), for truncation."""
    rng = random.Random(seed)
    return [" ".join(_sentence(rng) for _ in range(rng.randint(28, 50))) for _ in range(n)]
