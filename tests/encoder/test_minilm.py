"""The real all-MiniLM-L6-v2 (helpers/real_models.py) against sentence-transformers on
varied sentences (helpers/sentences.py) and on texts past max_seq_length, cut by both.

Slow tier: it loads torch and sentence-transformers and embeds a few hundred texts four
ways. The cosines each scheme reached when measured are in docs/embeddings.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.real_models import minilm_folder
from helpers.sentences import long_texts, varied_sentences

from edge_reason import Engine

pytestmark = pytest.mark.slow

TEXTS = varied_sentences(240) + long_texts(8)
# the lowest and the mean cosine to sentence-transformers each scheme must reach
# (measured over these 248 texts: min f32 0.9999998, int8 0.9975, int4 0.883; mean f32
# 1.0000000, int8 0.99957, int4 0.964). int4 loses most on texts of three tokens.
COSINE_FLOOR = {"f32": 0.999, "int8": 0.99, "int4": 0.85}
MEAN_COSINE_FLOOR = {"f32": 0.9999, "int8": 0.999, "int4": 0.95}


@pytest.fixture(scope="module")
def folder() -> Path:
    return minilm_folder()


@pytest.fixture(scope="module")
def reference(folder: Path) -> np.ndarray:
    st = pytest.importorskip(
        "sentence_transformers",
        reason="sentence-transformers (the test extra) is not installed: no reference embeddings",
    )
    model = st.SentenceTransformer(str(folder), device="cpu")
    assert model.max_seq_length == 256
    return model.encode(TEXTS, batch_size=32, convert_to_numpy=True)


@pytest.mark.parametrize("quant", ["f32", "int8", "int4"])
def test_parity_with_sentence_transformers(folder: Path, reference, quant: str) -> None:
    engine = Engine.load(folder, quant=quant, threads=2)
    got = engine.embed(TEXTS, truncate=True)
    assert got.shape == reference.shape == (len(TEXTS), 384)
    cos = (got * reference).sum(1) / np.linalg.norm(reference, axis=1)  # got is normalized
    print(f"{quant}: cosine min {cos.min():.7f} mean {cos.mean():.7f} over {len(TEXTS)} texts")
    assert cos.min() >= COSINE_FLOOR[quant]
    assert cos.mean() >= MEAN_COSINE_FLOOR[quant]
    if quant == "f32":
        np.testing.assert_allclose(got, reference, atol=1e-5)


def test_long_texts_need_truncate(folder: Path) -> None:
    engine = Engine.load(folder, quant="int8", threads=2)
    with pytest.raises(ValueError, match=r"text 1 has \d+ tokens, more than max_seq_length"):
        engine.embed(["short", long_texts(1)[0]])
