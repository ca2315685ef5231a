"""Build an HF `tokenizers` tokenizer.json from a GGUF file's tokenizer metadata.

Only the tokenizer family of the default model is supported: a GPT-2 style byte-level
BPE (`tokenizer.ggml.model == "gpt2"`) with llama.cpp's "smollm" pre-tokenizer, which
splits every digit on its own and then applies the GPT-2 regex without a prefix space.
No BOS is added. Control tokens (token_type 3) become special added tokens, so text such
as `<|im_start|>` encodes to its single id, as llama.cpp does when parsing specials.

The JSON is written by hand (no `tokenizers` dependency) and mirrors the tokenizer.json
that HuggingFaceTB publishes for SmolLM2.

Usage: python -m precedent_models.tokenizer_json MODEL.gguf tokenizer.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gguf

SUPPORTED_MODEL = "gpt2"
SUPPORTED_PRE_TOKENIZERS = ("smollm",)

# llama.cpp token types (llama_token_type in llama.h / gguf.TokenType).
TOKEN_TYPE_CONTROL = int(gguf.TokenType.CONTROL)
TOKEN_TYPE_USER_DEFINED = int(gguf.TokenType.USER_DEFINED)

SPECIAL_TOKEN_KEYS = {
    "bos": "tokenizer.ggml.bos_token_id",
    "eos": "tokenizer.ggml.eos_token_id",
    "unk": "tokenizer.ggml.unknown_token_id",
    "pad": "tokenizer.ggml.padding_token_id",
}


def _field(reader: gguf.GGUFReader, key: str, default=None):
    field = reader.fields.get(key)
    if field is None:
        if default is None:
            raise ValueError(f"GGUF has no '{key}' field")
        return default
    return field.contents()


def _added_tokens(tokens: list[str], token_types: list[int]) -> list[dict]:
    added = []
    for token_id, (content, token_type) in enumerate(zip(tokens, token_types)):
        if token_type not in (TOKEN_TYPE_CONTROL, TOKEN_TYPE_USER_DEFINED):
            continue
        added.append(
            {
                "id": token_id,
                "content": content,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": token_type == TOKEN_TYPE_CONTROL,
            }
        )
    return added


def _merge_pairs(merges: list[str]) -> list[list[str]]:
    pairs = []
    for rank, merge in enumerate(merges):
        # Byte-level tokens never contain a literal space (it is mapped to "Ġ"), so a
        # merge line holds exactly one separator.
        parts = merge.split(" ")
        if len(parts) != 2:
            raise ValueError(f"merge {rank} is not a pair of tokens: {merge!r}")
        pairs.append(parts)
    return pairs


def special_token_ids(reader: gguf.GGUFReader) -> dict[str, int]:
    """The bos/eos/unk/pad ids the GGUF declares (tokenizer.json has no place for them)."""
    vocab_size = len(_field(reader, "tokenizer.ggml.tokens"))
    ids = {}
    for name, key in SPECIAL_TOKEN_KEYS.items():
        field = reader.fields.get(key)
        if field is None:
            continue
        token_id = int(field.contents())
        if not 0 <= token_id < vocab_size:
            raise ValueError(f"{key} = {token_id} is outside the vocabulary of {vocab_size}")
        ids[name] = token_id
    return ids


def build_tokenizer_json(reader: gguf.GGUFReader) -> dict:
    """Return the tokenizer.json document (as a dict) for the tokenizer in `reader`."""
    model = _field(reader, "tokenizer.ggml.model")
    if model != SUPPORTED_MODEL:
        raise ValueError(f"tokenizer model '{model}' is not supported (only '{SUPPORTED_MODEL}')")
    pre = _field(reader, "tokenizer.ggml.pre")
    if pre not in SUPPORTED_PRE_TOKENIZERS:
        raise ValueError(
            f"pre-tokenizer '{pre}' is not supported (only {SUPPORTED_PRE_TOKENIZERS})"
        )
    if _field(reader, "tokenizer.ggml.add_bos_token", False):
        raise ValueError("tokenizers that add a BOS token are not supported")

    tokens = _field(reader, "tokenizer.ggml.tokens")
    token_types = _field(reader, "tokenizer.ggml.token_type")
    merges = _field(reader, "tokenizer.ggml.merges")
    if len(token_types) != len(tokens):
        raise ValueError(f"{len(tokens)} tokens but {len(token_types)} token types")
    vocab = {token: token_id for token_id, token in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise ValueError("the GGUF vocabulary contains duplicate tokens")

    # The ByteLevel settings of the decoder and post-processor are those of the published
    # SmolLM2 tokenizer.json; neither adds a prefix space or a BOS. The post-processor keeps
    # untrimmed offsets so that the offsets of a token's span cover every byte it encodes.
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": _added_tokens(tokens, [int(t) for t in token_types]),
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Digits", "individual_digits": True},
                {**byte_level, "trim_offsets": True},
            ],
        },
        "post_processor": {**byte_level, "trim_offsets": False},
        "decoder": {**byte_level, "trim_offsets": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": _merge_pairs(merges),
        },
    }


def write_tokenizer_json(gguf_path: str | Path, out_path: str | Path) -> None:
    """Read the tokenizer from the GGUF file at `gguf_path` and write it to `out_path`."""
    document = build_tokenizer_json(gguf.GGUFReader(gguf_path))
    with open(out_path, "w", encoding="utf-8") as out:
        json.dump(document, out, ensure_ascii=False)
        out.write("\n")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(
            "usage: python -m precedent_models.tokenizer_json MODEL.gguf OUT.json", file=sys.stderr
        )
        return 2
    write_tokenizer_json(argv[0], argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
