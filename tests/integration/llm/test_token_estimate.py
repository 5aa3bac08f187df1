"""`estimate_tokens` against the real count: the test model's own `prompt_eval_count`.

The estimate must be an upper bound (so no prompt past the window reaches the server), on the
kinds of text that tokenize worst: Japanese with rare kanji, English, digits, code and emoji. The
ratios these measure are in docs/architecture.md ("Counting tokens"); the test fails if the
estimate ever falls below the real count, and if it gets looser than the bound the docs state.
"""

from __future__ import annotations

import ollama
import pytest

from coda.llm import estimate_tokens
from coda.llm.prompt import PROMPT_OVERHEAD_TOKENS
from tests.support.ollama_server import TEST_MODEL, OllamaServer

pytestmark = pytest.mark.integration

SAMPLES = {
    "japanese": (
        "吾輩は猫である。名前はまだ無い。東京都千代田区霞が関で令和七年度予算案の審議が続く。"
        "鬱蒼とした森の奥に、齟齬や躊躇を抱えた麒麟が佇む。"
    )
    * 4,
    "english": (
        "The quick brown fox jumps over the lazy dog. Self-hosted language models run on modest "
        "hardware, and operators care about latency, memory and honest token accounting. "
    )
    * 4,
    "digits": "3141592653589793238462643383279502884197169399375105820974944592307816406286" * 13,
    "code": (
        "def fib(n: int) -> int:\n    if n < 2:\n        return n\n"
        "    return fib(n - 1) + fib(n - 2)\n\nprint({i: fib(i) for i in range(10)})  # <>!=&|\n"
    )
    * 4,
    "emoji": "😀🎉🚀👍🏽👨‍👩‍👧‍👦🇯🇵🧪🦊🍣🎌✨❤️" * 10,
}
# How much the estimate may exceed the real count, per kind, as measured (docs/architecture.md).
LOOSEST = {"japanese": 4.5, "english": 5.0, "digits": 1.1, "code": 2.5, "emoji": 4.5}


def real_count(client: ollama.Client, text: str) -> int:
    answer = client.chat(
        model=TEST_MODEL,
        messages=[{"role": "user", "content": text}],
        options={"num_ctx": 8192, "num_predict": 1, "temperature": 0},
    )
    return answer.prompt_eval_count or 0


@pytest.mark.parametrize("kind", SAMPLES)
def test_the_estimate_is_an_upper_bound_of_the_real_count(
    ollama_server: OllamaServer, kind: str
) -> None:
    client = ollama.Client(host=ollama_server.host)
    try:
        real = real_count(client, SAMPLES[kind])
    finally:
        client.close()  # type: ignore[no-untyped-call]
    estimated = estimate_tokens(SAMPLES[kind]) + PROMPT_OVERHEAD_TOKENS

    assert real > 0
    assert estimated >= real, f"{kind}: estimated {estimated}, the server counted {real}"
    assert estimated / real <= LOOSEST[kind], f"{kind}: {estimated / real:.2f} times the count"
