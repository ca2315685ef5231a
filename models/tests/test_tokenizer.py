"""Tests for tokenizer_json: the tokenizer.json built from a GGUF, loaded by HF `tokenizers`.

Tests on the default model need PRECEDENT_GGUF=path/to/SmolLM2-135M-Instruct.Q4_1.gguf.
The tests on small GGUF files written here need nothing else.
"""

import json
import os
from pathlib import Path

import gguf
import pytest
from tokenizers import Tokenizer

from precedent_models.tokenizer_json import (
    build_tokenizer_json,
    special_token_ids,
    write_tokenizer_json,
)

GGUF_ENV = "PRECEDENT_GGUF"


@pytest.fixture(scope="module")
def default_gguf() -> str:
    path = os.environ.get(GGUF_ENV)
    if not path:
        pytest.skip(f"{GGUF_ENV} is not set: point it at SmolLM2-135M-Instruct.Q4_1.gguf")
    return path


@pytest.fixture(scope="module")
def tokenizer_json_path(default_gguf, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer.json"
    write_tokenizer_json(default_gguf, path)
    return path


@pytest.fixture(scope="module")
def tokenizer(tokenizer_json_path) -> Tokenizer:
    return Tokenizer.from_file(str(tokenizer_json_path))


# --- round trip: decode(encode(text)) == text -------------------------------------------

ROUND_TRIP_TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Café, naïve, résumé, façade, Ångström, straße",
    "e\u0301 (combining accent) and é (precomposed)",
    "日本語のテキスト, 中文文本, 한국어",
    "Emoji 😀🎉 👍🏽 👨\u200d👩\u200d👧 🇫🇷",
    "first line\r\nsecond line\r\n",
    "tabs\tbetween\t\twords\t",
    "multiple    spaces     inside   ",
    "   leading spaces",
    " one leading space",
    "\n\nnewlines first",
    "digits 0123456789 and 3.14159 and 1,000,000",
    "Arabic ٠١٢٣ and full-width ２０２４ digits",
    "non\u00a0breaking\u2009thin\u3000ideographic",
    "zero\u200bwidth",
    "def f(x):\n    return x ** 2  # square\n",
    "",
]


@pytest.mark.parametrize("text", ROUND_TRIP_TEXTS)
def test_decode_inverts_encode(tokenizer, text):
    ids = tokenizer.encode(text).ids
    assert tokenizer.decode(ids, skip_special_tokens=False) == text


# --- pre-tokenization: every digit alone, byte-level without a prefix space -------------

TOKEN_CASES = [
    ("2024", ["2", "0", "2", "4"]),
    (" 42", ["Ġ", "4", "2"]),
    ("x1y22", ["x", "1", "y", "2", "2"]),
    # The vocabulary has no multi-digit tokens, so only a digit after a space shows the
    # digit split: byte-level alone would merge the space into "Ġ" + first byte.
    (" ٠", ["Ġ", "Ù", "ł"]),
    (" ²", ["Ġ", "Â²"]),
    ("Hello", ["Hello"]),  # no prefix space, no BOS
    (" leading space", ["Ġleading", "Ġspace"]),
    ("a  b", ["a", "Ġ", "Ġb"]),
    ("\r\n", ["čĊ"]),
    ("\t\tx", ["ĉ", "ĉ", "x"]),
    ("", []),
]


@pytest.mark.parametrize("text, expected_tokens", TOKEN_CASES)
def test_pre_tokenization(tokenizer, text, expected_tokens):
    assert tokenizer.encode(text).tokens == expected_tokens


# --- control tokens are special tokens with their own ids -------------------------------

SPECIAL_CASES = [
    ("<|endoftext|>", [0]),
    ("<|im_start|>", [1]),
    ("<|im_end|>", [2]),
    ("<file_sep>", [5]),
    ("<empty_output>", [16]),
    ("<|im_start|>user\nhi<|im_end|>", [1, "user", "Ċ", "hi", 2]),
]


@pytest.mark.parametrize("text, expected", SPECIAL_CASES)
def test_control_tokens_encode_to_their_ids(tokenizer, text, expected):
    expected_ids = [
        item if isinstance(item, int) else tokenizer.token_to_id(item) for item in expected
    ]
    assert tokenizer.encode(text).ids == expected_ids


def test_special_tokens_are_skipped_when_decoding(tokenizer):
    ids = tokenizer.encode("<|im_start|>hello<|im_end|>").ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == "hello"


# --- sizes and declared ids -------------------------------------------------------------


def test_vocabulary_and_merges_sizes(tokenizer, tokenizer_json_path):
    document = json.loads(tokenizer_json_path.read_text(encoding="utf-8"))
    assert tokenizer.get_vocab_size(with_added_tokens=True) == 49152
    assert len(document["model"]["vocab"]) == 49152
    assert len(document["model"]["merges"]) == 48900
    assert len(document["added_tokens"]) == 17


def test_special_token_ids(default_gguf):
    assert special_token_ids(gguf.GGUFReader(default_gguf)) == {
        "bos": 1,
        "eos": 2,
        "unk": 0,
        "pad": 2,
    }


# --- small GGUF files: the general rules and the refusals -------------------------------

SMALL_TOKENS = ["<|endoftext|>", "<tool>", "a", "b", "ab", "Ġ", "Ġab"]
SMALL_TYPES = [
    gguf.TokenType.CONTROL,
    gguf.TokenType.USER_DEFINED,
    *[gguf.TokenType.NORMAL] * 5,
]
SMALL_MERGES = ["a b", "Ġ ab"]


def write_small_gguf(path: Path, model="gpt2", pre="smollm", add_bos=False) -> Path:
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_tokenizer_model(model)
    writer.add_tokenizer_pre(pre)
    writer.add_add_bos_token(add_bos)
    writer.add_token_list(SMALL_TOKENS)
    writer.add_token_types(SMALL_TYPES)
    writer.add_token_merges(SMALL_MERGES)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def small_tokenizer(tmp_path: Path) -> Tokenizer:
    reader = gguf.GGUFReader(write_small_gguf(tmp_path / "small.gguf"))
    return Tokenizer.from_str(json.dumps(build_tokenizer_json(reader)))


SMALL_CASES = [
    ("ab", ["ab"]),
    ("ab ab", ["ab", "Ġab"]),
    ("ba", ["b", "a"]),
    ("<|endoftext|>", ["<|endoftext|>"]),
    ("a<tool>b", ["a", "<tool>", "b"]),
]


@pytest.mark.parametrize("text, expected_tokens", SMALL_CASES)
def test_small_vocabulary_encodes_with_its_merges(tmp_path, text, expected_tokens):
    assert small_tokenizer(tmp_path).encode(text).tokens == expected_tokens


def test_user_defined_tokens_are_added_but_not_special(tmp_path):
    tokenizer = small_tokenizer(tmp_path)
    ids = tokenizer.encode("<|endoftext|>a<tool>").ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == "a<tool>"


REFUSED_CASES = [
    ({"model": "llama"}, "tokenizer model 'llama'"),
    ({"pre": "llama-bpe"}, "pre-tokenizer 'llama-bpe'"),
    ({"add_bos": True}, "add a BOS"),
]


@pytest.mark.parametrize("settings, message", REFUSED_CASES)
def test_unsupported_tokenizers_are_refused(tmp_path, settings, message):
    reader = gguf.GGUFReader(write_small_gguf(tmp_path / "other.gguf", **settings))
    with pytest.raises(ValueError, match=message):
        build_tokenizer_json(reader)
