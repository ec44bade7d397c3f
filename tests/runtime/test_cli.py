"""`edge-reason generate`, `info` and `make-model` through click's runner."""

from __future__ import annotations

import json

from click.testing import CliRunner

from edge_reason import Engine
from edge_reason.cli import main


def test_generate_streams_the_engines_greedy_text(model_dirs) -> None:
    folder = model_dirs["qwen2"]
    result = CliRunner().invoke(
        main,
        ["generate", str(folder), "Where is Mary?", "--max-new-tokens", "12", "--threads", "1"],
    )
    assert result.exit_code == 0, result.output
    want = Engine.load(folder, threads=1).generate("Where is Mary?", max_new_tokens=12).text
    assert result.stdout == want + "\n"  # the speeds go to stderr
    assert result.stderr.startswith("12 tokens; prefill ") and "decode" in result.stderr


def test_generate_json_has_the_text_and_speeds(model_dirs) -> None:
    args = ["generate", str(model_dirs["llama"]), "Where is Mary?", "--max-new-tokens", "5"]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["generated_tokens"] == 5 and document["text"]
    assert document["prefill_tokens_per_second"] > 0 and document["decode_tokens_per_second"] > 0


def test_generate_reports_bad_input_without_a_traceback(model_dirs, tmp_path) -> None:
    result = CliRunner().invoke(main, ["generate", str(tmp_path), "hi"])
    assert result.exit_code == 1
    assert "no config.json" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["generate", str(model_dirs["llama"]), ""])
    assert result.exit_code == 1 and "prompt is empty" in result.output


def test_info_json(model_dirs) -> None:
    result = CliRunner().invoke(
        main, ["info", str(model_dirs["qwen3"]), "--quant", "int4", "--json"]
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["quant"] == "int4" and info["architecture"] == "Qwen3ForCausalLM"


def test_info_text_rounds_numbers_for_people(model_dirs) -> None:
    result = CliRunner().invoke(main, ["info", str(model_dirs["llama"])])
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("load_seconds")]
    value = line.split()[1]
    assert float(value) > 0 and len(value) <= 9  # 4 significant digits: 0.001615, 1.615e-05


def test_make_model_writes_a_loadable_model(tmp_path) -> None:
    # The smallest real shape still has 135M parameters: check the files and
    # config here, and load it as int4 (the weights are random).
    out = tmp_path / "smol"
    result = CliRunner().invoke(main, ["make-model", str(out), "--shape", "smollm2-135m"])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["hidden_size"] == 576 and config["num_hidden_layers"] == 30
    engine = Engine.load(out, quant="int4", threads=2, max_context=64)
    assert len(engine.generate("Hello", max_new_tokens=3).token_ids) == 3
    refused = CliRunner().invoke(main, ["make-model", str(out)])
    assert refused.exit_code == 1 and "not empty" in refused.output
