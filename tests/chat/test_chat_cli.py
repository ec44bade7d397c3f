"""`edge-reason chat` (from stdin, as a pipe gives it), and the chat fields of `info`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from edge_reason import Engine
from edge_reason.cli import main
from edge_reason.thinking import ChatPiece

OPTIONS = ["--threads", "1", "--max-new-tokens", "6"]


def run(*args: str, stdin: str = ""):
    return CliRunner().invoke(main, ["chat", *args, *OPTIONS], input=stdin)


def test_each_line_is_a_user_message_and_the_answers_are_printed(chat_model) -> None:
    folder = chat_model("qwen3_thinking")
    result = run(str(folder), stdin="Where is Mary?\n\n/system Be brief.\nAnd John?\n/reset\nHi\n")
    assert result.exit_code == 0, result.output
    engine = Engine.load(folder, threads=1)
    first = [{"role": "user", "content": "Where is Mary?"}]
    a1 = engine.chat(first, max_new_tokens=6).text
    second = [
        {"role": "system", "content": "Be brief."},
        *first,
        {"role": "assistant", "content": a1},
        {"role": "user", "content": "And John?"},
    ]
    a2 = engine.chat(second, max_new_tokens=6).text
    third = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    a3 = engine.chat(third, max_new_tokens=6).text
    assert result.stdout == f"{a1}\n{a2}\n{a3}\n"
    speeds = result.stderr.splitlines()
    assert len(speeds) == 3 and all("decode" in s and "tokens/s" in s for s in speeds)


def test_json_appends_the_reply_to_the_messages(chat_model) -> None:
    folder = chat_model("r1_distill")
    messages = [{"role": "user", "content": "Where is Mary?"}]
    result = run(str(folder), "--json", "--thinking-budget", "2", stdin=json.dumps(messages))
    assert result.exit_code == 0, result.output
    reply = Engine.load(folder, threads=1).chat(messages, max_new_tokens=6, thinking_budget=2)
    assert json.loads(result.stdout) == [
        *messages,
        {"role": "assistant", "content": reply.text, "reasoning_content": reply.reasoning},
    ]


def test_ctrl_c_stops_the_reply_not_the_conversation(chat_model, monkeypatch) -> None:
    seen: list[list[dict]] = []

    class Interrupted:
        def __iter__(self):
            yield ChatPiece("Ma", "answer")
            raise KeyboardInterrupt

        def close(self) -> None:
            pass

    real = Engine.chat_stream

    def chat_stream(self, messages, **options):
        seen.append([dict(m) for m in messages])
        return Interrupted() if len(seen) == 1 else real(self, messages, **options)

    monkeypatch.setattr(Engine, "chat_stream", chat_stream)
    result = run(str(chat_model("qwen3_thinking")), stdin="Where is Mary?\nAnd John?\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Ma [stopped]\n")
    assert seen[1][:2] == [
        {"role": "user", "content": "Where is Mary?"},
        {"role": "assistant", "content": "Ma"},
    ]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["{plain}"], "hi\n", "has no chat template (looked for tokenizer_config.json"),
        (["/no/such/model"], "hi\n", "/no/such/model: not a folder"),
        (["{chat}", "--json"], "[{", "stdin: not valid JSON"),
        (["{chat}", "--json"], '[{"content": "x"}]', "messages[0] has no 'role' string"),
        (["{plain_tags}", "--thinking-budget", "3"], "hi\n", "cannot apply"),
        (["{chat}"], "/shout hi\n", "unknown command /shout: use /reset, /system TEXT, /exit"),
    ],
)
def test_bad_input_is_one_line(
    chat_model, model_dirs_without_template, model_without_thinking_tags, args, stdin, message
) -> None:
    names = {
        "plain": str(model_dirs_without_template),
        "chat": str(chat_model("qwen3_thinking")),
        "plain_tags": str(model_without_thinking_tags),
    }
    result = run(*[a.format(**names) for a in args], stdin=stdin)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1


def test_info_names_the_template_and_thinking_tags(chat_model) -> None:
    result = CliRunner().invoke(main, ["info", str(chat_model("qwen3_thinking")), "--json"])
    info = json.loads(result.stdout)
    assert info["chat_template"].endswith("tokenizer_config.json 'chat_template'")
    assert info["thinking_tags"] == "<think> </think>"


def test_a_conversation_longer_than_the_context_leaves_out_its_oldest_exchanges(
    chat_model,
) -> None:
    folder = chat_model("qwen3_thinking")
    context = Engine.load(folder, threads=1).info()["max_context"]
    long_line = " ".join(["Mary moved to the bathroom."] * 15)  # a third of the context
    lines = [long_line] * 6 + ["Where is Mary?"]
    result = run(str(folder), stdin="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 7  # every message answered
    assert "left out to fit the context" in result.stderr, (context, result.stderr)
