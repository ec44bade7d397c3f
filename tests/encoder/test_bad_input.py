"""What an encoder refuses, and how: configs it does not implement (ModelFormatError
naming the file and field), texts it cannot embed (ValueError or TypeError naming the
text), and the generating calls (an encoder embeds; a causal LM does not)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers.bert_models import MODULES, build_bert
from helpers.hf_models import build_model

from edge_reason import Engine
from edge_reason.errors import ModelFormatError


@pytest.fixture(scope="module")
def engine(bert_folder: Path) -> Engine:
    return Engine.load(bert_folder, quant="int8", threads=1)


def edited(src: Path, dst: Path, file: str, change: dict[str, Any]) -> Path:
    """A copy of the model folder `src` whose JSON `file` has `change` applied (a value of
    None removes the field)."""
    shutil.copytree(src, dst)
    path = dst / file
    raw = json.loads(path.read_text())
    for key, value in change.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    path.write_text(json.dumps(raw))
    return dst


@pytest.mark.parametrize(
    "file, change, words",
    [
        ("config.json", {"position_embedding_type": "relative_key"}, "position_embedding_type"),
        ("config.json", {"hidden_act": "gelu_new"}, "hidden_act='gelu_new'"),
        ("config.json", {"hidden_act": "relu"}, "hidden_act='relu'"),
        ("config.json", {"is_decoder": True}, "is_decoder"),
        ("config.json", {"add_cross_attention": True}, "add_cross_attention"),
        ("config.json", {"num_attention_heads": 3}, "num_attention_heads=3"),
        ("config.json", {"hidden_size": 0}, "'hidden_size' is 0"),
        ("config.json", {"layer_norm_eps": -1.0}, "'layer_norm_eps'"),
        ("config.json", {"type_vocab_size": "two"}, "'type_vocab_size'"),
        ("config.json", {"max_position_embeddings": 20}, "max_seq_length=24"),
        ("config.json", {"intermediate_size": 99}, "intermediate.dense.weight"),
        ("sentence_bert_config.json", {"max_seq_length": 41}, "max_position_embeddings=40"),
        ("sentence_bert_config.json", {"do_lower_case": "yes"}, "do_lower_case"),
        (
            "1_Pooling/config.json",
            {"pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": True},
            "pooling mode 'max'",
        ),
        ("1_Pooling/config.json", {"pooling_mode_cls_token": True}, "['mean', 'cls']"),
        ("1_Pooling/config.json", {"pooling_mode": "lasttoken"}, "pooling mode 'lasttoken'"),
        ("1_Pooling/config.json", {"word_embedding_dimension": 32}, "word_embedding_dimension"),
    ],
)
def test_unsupported_configs_are_refused_by_name(
    bert_folder: Path, tmp_path: Path, file: str, change: dict[str, Any], words: str
) -> None:
    folder = edited(bert_folder, tmp_path / "model", file, change)
    with pytest.raises(ModelFormatError) as e:
        Engine.load(folder)
    assert words in str(e.value) and file.split("/")[-1] in str(e.value)


@pytest.mark.parametrize(
    "modules, words",
    [
        (
            [*MODULES, {"idx": 3, "name": "3", "path": "3_Dense", "type": "x.models.Dense"}],
            "'Dense'",
        ),
        (MODULES[1:], "modules ['Pooling', 'Normalize']"),
        ([{**MODULES[0], "path": "sub"}, *MODULES[1:]], "path ''"),
        ([MODULES[0], {**MODULES[1], "path": "../1_Pooling"}, MODULES[2]], "bad path"),
        ([MODULES[0], {**MODULES[1], "path": "nowhere"}, MODULES[2]], "missing"),
        ({"modules": []}, "a list of modules"),
    ],
)
def test_unsupported_pipelines_are_refused(
    bert_folder: Path, tmp_path: Path, modules: Any, words: str
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(bert_folder, folder)
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ModelFormatError, match="modules.json|config.json") as e:
        Engine.load(folder)
    assert words in str(e.value)


def test_an_encoder_without_tokenizer_is_refused(bert_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(bert_folder, folder)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ModelFormatError, match="no tokenizer.json"):
        Engine.load(folder)


def test_bad_texts(engine: Engine) -> None:
    before = engine.tokens_evaluated
    with pytest.raises(ValueError, match="no texts"):
        engine.embed([])
    with pytest.raises(TypeError, match="list of texts, got str"):
        engine.embed("one text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got bytes"):
        engine.embed(b"one text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="text at index 1 is NoneType, not str"):
        engine.embed(["fine", None])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="text at index 0 is bytes"):
        engine.embed([b"bytes"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="list of texts, got generator"):
        engine.embed(t for t in ["a"])  # type: ignore[arg-type]
    for bad in (0, -1, 1.5, True, None):
        with pytest.raises(ValueError, match="batch_size"):
            engine.embed(["a"], batch_size=bad)  # type: ignore[arg-type]
    assert engine.tokens_evaluated == before  # nothing ran


def test_texts_too_long(engine: Engine) -> None:
    before = engine.tokens_evaluated
    over_seq = " ".join(["valve"] * 30)  # 32 tokens: beyond max_seq_length (24)
    over_table = " ".join(["valve"] * 50)  # 52 tokens: beyond the position table (40)
    with pytest.raises(ValueError) as e:
        engine.embed(["short", over_seq])
    message = str(e.value)
    assert "text 1 has 32 tokens" in message and "max_seq_length (24" in message
    assert "truncate=True" in message
    with pytest.raises(ValueError) as e:
        engine.embed(["a", "b", over_table])
    message = str(e.value)
    assert "text 2 has 52 tokens" in message and "max_position_embeddings=40" in message
    assert engine.tokens_evaluated == before  # refused before anything ran
    assert engine.embed([over_seq, over_table], truncate=True).shape == (2, 64)
    assert engine.tokens_evaluated == before + 2 * 24


@pytest.mark.parametrize(
    "call",
    [
        lambda e: e.generate("hello"),
        lambda e: e.generate("hello", n=2),
        lambda e: e.generate_batch(["a", "b"]),
        lambda e: e.stream("hello"),
        lambda e: e.chat([{"role": "user", "content": "hi"}]),
        lambda e: e.chat_stream([{"role": "user", "content": "hi"}]),
        lambda e: e.apply_chat_template([{"role": "user", "content": "hi"}]),
        lambda e: e.logits([1, 2]),
        lambda e: e.prefill("hello"),
        lambda e: e.next_logits([1, 2]),
        lambda e: e.batch_session(),
        lambda e: e.grammar_processor({"type": "json_object"}),
    ],
)
def test_an_encoder_does_not_generate(engine: Engine, call) -> None:
    with pytest.raises(ValueError, match=r"is an encoder \(bert\): it embeds text, it does not"):
        call(engine)


def test_a_causal_model_does_not_embed(tmp_path: Path) -> None:
    engine = Engine.load(build_model(tmp_path / "llama", "llama"))
    with pytest.raises(ValueError, match=r"causal language model \(LlamaForCausalLM\)"):
        engine.embed(["hello"])


def test_generation_options_are_refused_for_an_encoder(bert_folder: Path) -> None:
    for option in (
        {"max_context": 64},
        {"kv_cache": "q8"},
        {"kv_cache_positions": 4096},
        {"draft": bert_folder},
    ):
        with pytest.raises(ValueError, match="is an encoder: .* apply to generation only"):
            Engine.load(bert_folder, **option)
    with pytest.raises(ValueError, match="quant must be one of"):
        Engine.load(bert_folder, quant="int2")
    with pytest.raises(ValueError, match="bundle"):
        Engine.load(bert_folder, backend="onnxruntime")


def test_a_tokenizer_beyond_the_vocabulary_is_refused(tmp_path: Path) -> None:
    # a model of 100 rows, whose tokenizer has about 300 tokens
    folder = build_bert(tmp_path / "small", vocab_size=100)
    vocab = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]
    word, top = max(((w, i) for w, i in vocab.items() if w.isalpha()), key=lambda wi: wi[1])
    assert top >= 100
    with pytest.raises(ModelFormatError, match=f"token id {top} \\(text 1\\), beyond config.json"):
        Engine.load(folder).embed(["", word])  # "": [CLS] [SEP], ids 2 and 3
