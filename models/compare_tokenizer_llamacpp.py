"""Check that the tokenizer.json built from a GGUF tokenizes exactly like llama.cpp.

Needs `tokenizers` and `llama-cpp-python` (which compiles llama.cpp, so it is kept out of
CI). Prints one line per text that differs and a summary; exits 1 on any difference.

Usage: python models/compare_tokenizer_llamacpp.py MODEL.gguf
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import llama_cpp
from tokenizers import Tokenizer

from precedent_models.tokenizer_json import write_tokenizer_json

PROSE = """\
The old lighthouse stood at the edge of the cliff, its white paint peeling after decades \
of salt and wind. Every evening the keeper climbed the spiral staircase, one hundred and \
twelve steps, to light the lamp that warned ships away from the rocks below.

When the village council voted to replace him with an automatic beacon, nobody expected \
him to object. He had always been a quiet man, more comfortable with gulls than with \
people. Yet at the meeting he stood up and spoke for nearly an hour about the sea, the \
storms he had seen, and the sailors who owed their lives to a light that someone had \
cared enough to keep burning.

In the end the council kept the beacon and the keeper both. The machine did the work; \
the man kept the stories. Visitors still ask for him, and he still answers, patiently, \
the same questions he has answered a thousand times before.
"""

# Texts without special-token strings: compared both with and without llama.cpp's
# special-token parsing, which must not matter for them.
PLAIN_TEXTS = [
    PROSE,
    "Hello, world!",
    " leading space",
    "   three leading spaces and trailing spaces   ",
    "trailing newline\n",
    "tabs\tbetween\t\twords\t",
    "Windows line endings\r\nsecond line\r\n\r\nafter a blank line",
    "multiple    spaces     inside",
    "In 2024 the price rose from $1,234.56 to $98,765.43 (an 8000% increase).",
    "3.14159265358979 and 0x1F and 1e-10 and 42nd street",
    "Café, naïve, résumé, façade, Ångström, Øresund, straße",
    "日本語のテキストと中文文本, 한국어 텍스트",
    "Emoji: 😀🎉👍🏽 👨‍👩‍👧‍👦 and flags 🇫🇷🇯🇵",
    "Ünïcödé ﬁ ligatures, full-width ＡＢＣ１２３, Arabic digits ٠١٢٣, superscript ²³",
    "don't, can't, won't, I'm, you're, we've, they'll, she'd, IT'S, DON'T",
    "def f(x):\n    return x ** 2  # square\n\nprint(f(3))\n",
    '{"key": [1, 2, 3], "nested": {"a": null}}',
    '<div class="x">HTML &amp; entities</div>',
    "https://example.com/path?query=1&other=two#frag",
    "email: someone@example.org, phone +44 (0)20 7946 0958",
    "Mixed\u00a0non-breaking\u2009thin\u3000ideographic spaces",
    "zero\u200bwidth\u200djoiners",
    "\n\n\n",
    " ",
    "a",
    "!!!???...---",
    "ALL CAPS SENTENCE WITH NUMBERS 123 AND SYMBOLS #@!",
    "Other numerals: Chapter Ⅻ, ½ cup, ① ② ③, ١٢٣ ٤٥٦, ¹²³ and ２０２４",
    "Ελληνικά κείμενα και русский текст",
    "e\u0301 combining accent versus é precomposed",
]

# Texts with control-token strings: llama.cpp must parse specials to match tokenizers,
# which always splits added tokens out of the text.
SPECIAL_TEXTS = [
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "before<|endoftext|>after",
    " <file_sep> <filename>x.py<gh_stars>10",
]


def compare(llama: llama_cpp.Llama, tokenizer: Tokenizer, text: str, special: bool) -> bool:
    expected = llama.tokenize(text.encode("utf-8"), add_bos=False, special=special)
    actual = tokenizer.encode(text).ids
    if actual == expected:
        return True
    print(f"DIFFERENT (special={special}) for {text[:60]!r}")
    print(f"  llama.cpp:  {expected}")
    print(f"  tokenizers: {actual}")
    return False


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python models/compare_tokenizer_llamacpp.py MODEL.gguf", file=sys.stderr)
        return 2
    gguf_path = argv[0]
    with tempfile.TemporaryDirectory() as tmp:
        json_path = Path(tmp) / "tokenizer.json"
        write_tokenizer_json(gguf_path, json_path)
        tokenizer = Tokenizer.from_file(str(json_path))
    llama = llama_cpp.Llama(model_path=gguf_path, vocab_only=True, verbose=False)

    cases = [(text, False) for text in PLAIN_TEXTS]
    cases += [(text, True) for text in PLAIN_TEXTS + SPECIAL_TEXTS]
    same = sum(compare(llama, tokenizer, text, special) for text, special in cases)
    tokens = sum(len(tokenizer.encode(text).ids) for text, _ in cases)
    print(f"{same}/{len(cases)} encodings identical to llama.cpp ({tokens} tokens in all)")
    return 0 if same == len(cases) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
