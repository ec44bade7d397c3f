"""Width pruning (export/prune.py): a full-width cut is the teacher itself, units that carry
nothing are the ones cut (and cutting them changes no output), the loudest hidden channels
are kept, and a student that is not a narrower copy is refused with the field named."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from edge_reason.export.prune import PruneError, measure_importance, prune
from helpers.hf_models import build_model, load_reference


def _batches(vocab: int) -> list[tuple[dict[str, torch.Tensor], torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1, vocab, (2, 16), generator=generator)
    real = torch.ones(2, 16, dtype=torch.bool)
    real[1, 12:] = False  # padding: must not count
    return [({"input_ids": ids}, real)]


def _logits(model: object, vocab: int) -> torch.Tensor:
    with torch.no_grad():
        return model(**_batches(vocab)[0][0]).logits  # type: ignore[operator]


def _student_config(teacher: object, **fields: int) -> object:
    config = type(teacher.config).from_dict(teacher.config.to_dict())  # type: ignore[attr-defined]
    for name, value in fields.items():
        setattr(config, name, value)
    return config


@pytest.mark.parametrize("name", ["llama", "qwen2", "qwen3", "mistral"])
def test_a_full_width_cut_is_the_teacher(tmp_path: Path, name: str) -> None:
    teacher = load_reference(build_model(tmp_path / name, name))
    vocab = teacher.config.vocab_size
    student = prune(teacher, teacher.config, measure_importance(teacher, _batches(vocab)))
    student.eval()
    assert torch.allclose(_logits(student, vocab), _logits(teacher, vocab), atol=1e-6)


@pytest.mark.parametrize("name", ["llama", "qwen3", "mistral"])
def test_silent_heads_and_neurons_are_cut_and_nothing_changes(tmp_path: Path, name: str) -> None:
    teacher = load_reference(build_model(tmp_path / name, name))
    config = teacher.config
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    silent_group, silent_neurons = 1, torch.arange(0, config.intermediate_size, 3)
    with torch.no_grad():
        for layer in teacher.model.layers:
            # zero values: every head of the group then outputs zeros
            rows = slice(silent_group * head_dim, (silent_group + 1) * head_dim)
            layer.self_attn.v_proj.weight[rows] = 0.0
            if layer.self_attn.v_proj.bias is not None:
                layer.self_attn.v_proj.bias[rows] = 0.0
            layer.mlp.up_proj.weight[silent_neurons] = 0.0
    vocab = config.vocab_size
    importance = measure_importance(teacher, _batches(vocab))
    for groups, neurons in zip(importance.kv_groups, importance.neurons, strict=True):
        assert groups[silent_group] == 0 and (groups > 0).sum() == len(groups) - 1
        assert (neurons[silent_neurons] == 0).all()
    per_group = config.num_attention_heads // config.num_key_value_heads
    student_config = _student_config(
        teacher,
        num_key_value_heads=config.num_key_value_heads - 1,
        num_attention_heads=config.num_attention_heads - per_group,
        intermediate_size=config.intermediate_size - len(silent_neurons),
        head_dim=head_dim,  # the width stays: fewer heads of the same size
    )
    student = prune(teacher, student_config, importance).eval()
    assert sum(p.numel() for p in student.parameters()) < sum(
        p.numel() for p in teacher.parameters()
    )
    assert torch.allclose(_logits(student, vocab), _logits(teacher, vocab), atol=1e-5)


def test_the_loudest_hidden_channels_are_kept(tmp_path: Path) -> None:
    teacher = load_reference(build_model(tmp_path / "llama", "llama"))
    config = teacher.config
    loud = torch.tensor([3, 10, 17, 40, 41, 60, 70, 71])
    with torch.no_grad():
        for norm in [teacher.model.norm] + [
            n
            for layer in teacher.model.layers
            for n in (layer.input_layernorm, layer.post_attention_layernorm)
        ]:
            norm.weight[loud] *= 50.0
    importance = measure_importance(teacher, _batches(config.vocab_size))
    assert set(torch.topk(importance.hidden, len(loud)).indices.tolist()) == set(loud.tolist())
    # head_dim is a field of the config: it stays 18 (one key/value group of two heads)
    student_config = _student_config(
        teacher, hidden_size=len(loud), num_attention_heads=2, num_key_value_heads=1, head_dim=18
    )
    student = prune(teacher, student_config, importance)
    assert torch.equal(
        student.model.embed_tokens.weight, teacher.model.embed_tokens.weight[:, loud]
    )
    assert torch.equal(student.lm_head.weight, teacher.lm_head.weight[:, loud])


@pytest.mark.parametrize(
    "fields, named",
    [
        ({"num_hidden_layers": 1}, "num_hidden_layers"),
        ({"num_attention_heads": 2, "num_key_value_heads": 2}, "ratio must stay"),
        ({"head_dim": 9}, "head_dim"),
        ({"intermediate_size": 1000}, "intermediate_size"),
        ({"vocab_size": 100}, "vocab_size"),
    ],
)
def test_a_student_that_is_not_a_narrower_copy_is_refused(
    tmp_path: Path, fields: dict[str, int], named: str
) -> None:
    teacher = load_reference(build_model(tmp_path / "llama", "llama"))
    importance = measure_importance(teacher, _batches(teacher.config.vocab_size))
    with pytest.raises(PruneError, match=named):
        prune(teacher, _student_config(teacher, **fields), importance)


def test_a_weight_the_cut_does_not_know_is_refused_by_name(tmp_path: Path) -> None:
    teacher = load_reference(build_model(tmp_path / "llama", "llama"))
    teacher.model.register_parameter("adapter", torch.nn.Parameter(torch.zeros(3)))
    importance = measure_importance(teacher, _batches(teacher.config.vocab_size))
    with pytest.raises(PruneError, match="'model.adapter': not a Llama-family weight"):
        prune(teacher, teacher.config, importance)
