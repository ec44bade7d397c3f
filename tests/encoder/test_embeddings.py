"""Engine.embed on a tiny random BERT against transformers' BertModel with the pooling of
sentence-transformers (helpers/bert_models.py): f32 to rounding, int8 and int4 close;
each text's embedding independent of the batch it runs in."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers.bert_models import MAX_SEQ_LENGTH, MODULES, build_bert, reference_embeddings

from edge_reason import Engine

TEXTS = [
    "Mary moved to the bathroom.",
    "Where is the football? Daniel picked it up.",
    "",
    "17*23 + 4 = 395",
    "Café, naïve, über, 東京 — UTF-8!",
    "the greenhouse is warm; soil moisture is low, so the valve opens",
    "?",
]
# the lowest cosine to the float reference each scheme must reach (measured on this
# model: int8 0.99991, int4 0.988)
COSINE_FLOOR = {"int8": 0.999, "int4": 0.97}


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def reference(bert_folder: Path) -> np.ndarray:
    return reference_embeddings(bert_folder, TEXTS)


def test_f32_equals_transformers_with_mean_pooling(bert_folder: Path, reference) -> None:
    engine = Engine.load(bert_folder, threads=2)
    got = engine.embed(TEXTS)
    assert got.dtype == np.float32 and got.shape == (len(TEXTS), 64)
    np.testing.assert_allclose(got, reference, atol=2e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("quant", ["int8", "int4"])
def test_quantized_is_close(bert_folder: Path, reference, quant: str) -> None:
    engine = Engine.load(bert_folder, quant=quant, threads=2)
    assert engine.quant == quant
    assert cosines(engine.embed(TEXTS), reference).min() > COSINE_FLOOR[quant]


@pytest.mark.parametrize("quant", ["f32", "int8", "int4"])
def test_a_text_does_not_depend_on_its_batch(bert_folder: Path, quant: str) -> None:
    # Passes of other sizes sum in other orders (the kernels tile tokens): equal to
    # rounding, where for int8 and int4 a last-bit difference may flip one activation's
    # int8 code (measured: up to 4e-4 on this model's normalized embeddings).
    atol = 1e-6 if quant == "f32" else 2e-3
    engine = Engine.load(bert_folder, quant=quant, threads=2)
    together = engine.embed(TEXTS)
    np.testing.assert_allclose(engine.embed(TEXTS, batch_size=1), together, atol=atol)
    np.testing.assert_allclose(engine.embed(TEXTS[::-1], batch_size=3)[::-1], together, atol=atol)
    one_thread = Engine.load(bert_folder, quant=quant, threads=1)
    np.testing.assert_allclose(one_thread.embed(TEXTS), together, atol=atol)


def test_cls_pooling_without_normalize(tmp_path: Path) -> None:
    # the Pooling config of sentence-transformers 5 (pooling_mode), no Normalize module
    pooling = {"embedding_dimension": 64, "pooling_mode": "cls", "include_prompt": True}
    folder = build_bert(tmp_path / "cls", seed=3, pooling=pooling, modules=MODULES[:2])
    want = reference_embeddings(folder, TEXTS, pooling="cls", normalize=False)
    np.testing.assert_allclose(Engine.load(folder).embed(TEXTS), want, atol=2e-5)


def test_without_modules_json_mean_pooling_unnormalized(tmp_path: Path) -> None:
    folder = build_bert(tmp_path / "plain", seed=4, modules=None)
    want = reference_embeddings(folder, TEXTS, normalize=False)
    np.testing.assert_allclose(Engine.load(folder).embed(TEXTS), want, atol=2e-5)


def test_a_checkpoint_with_a_head_embeds_with_its_bert(tmp_path: Path) -> None:
    # BertForMaskedLM: tensors named bert.embeddings..., bert.encoder...; the head is unused
    folder = build_bert(tmp_path / "mlm", seed=5, architecture="BertForMaskedLM")
    engine = Engine.load(folder)
    assert engine.info()["architecture"] == "BertForMaskedLM"
    np.testing.assert_allclose(engine.embed(TEXTS), reference_embeddings(folder, TEXTS), atol=2e-6)


def test_truncate_cuts_as_sentence_transformers(bert_folder: Path) -> None:
    long = " ".join(["the valve opens"] * 10)  # 32 tokens: beyond max_seq_length (24)
    engine = Engine.load(bert_folder)
    got = engine.embed([TEXTS[0], long], truncate=True)
    want = reference_embeddings(bert_folder, [TEXTS[0], long], max_length=MAX_SEQ_LENGTH)
    np.testing.assert_allclose(got, want, atol=2e-6)
    # the tokens that ran: [CLS] + 22 + [SEP], not the tokenizer.json's own cut at 32
    assert engine.tokens_evaluated == len(engine.encode(TEXTS[0])) + MAX_SEQ_LENGTH


def test_info_and_tokens(bert_folder: Path) -> None:
    engine = Engine.load(bert_folder, quant="int8", threads=1)
    info = engine.info()
    assert info["architecture"] == "BertModel" and info["quant"] == "int8"
    assert info["dim"] == 64 and info["max_seq_length"] == MAX_SEQ_LENGTH
    assert info["pooling"] == "mean" and info["normalize"] is True and info["threads"] == 1
    assert 0 < info["weight_bytes_per_token"] < info["weight_bytes"]
    ids = engine.encode("Mary moved")  # [CLS] ... [SEP], no padding to 32
    assert ids[0] == engine.tokenizer.token_to_id("[CLS]") and len(ids) < 10
    engine.embed(["Mary moved"])
    assert engine.tokens_evaluated == len(ids)


def test_loads_from_a_copy_without_sentence_transformers_files(bert_folder: Path, tmp_path):
    # config.json, weights and tokenizer only: max_seq_length is the position table
    folder = tmp_path / "bare"
    folder.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        shutil.copy(bert_folder / name, folder / name)
    info = Engine.load(folder).info()
    assert info["max_seq_length"] == 40 and info["normalize"] is False
