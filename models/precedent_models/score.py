"""Per-position log-probabilities of a text under a precedent model, with Python onnxruntime.

  python -m precedent_models.score MODEL_DIR FILE [--json]

Prints the same JSON lines as `precedent lm-score` ({"index", "token_id", "logprob",
"top1"} for every position i >= 1, the text as one window) so the two can be compared, or
with --summary just the perplexity. Used by the fidelity checks and the Rust parity test.
"""

import argparse
import json
import math
from pathlib import Path

import numpy as np


def load_session(model_dir: Path, threads: int = 2):
    import onnxruntime as ort

    manifest = json.loads((model_dir / "manifest.json").read_text())
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(model_dir / manifest["onnx"]), so, providers=["CPUExecutionProvider"])
    return manifest, session


def tokenize(model_dir: Path, manifest: dict, text: str) -> list[int]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / manifest["tokenizer"]))
    ids = tok.encode(text, add_special_tokens=False).ids
    if manifest.get("add_bos"):
        ids = [manifest["special_tokens"]["bos"]] + ids
    return ids


def run_window(manifest: dict, session, ids: list[int], keep: int | None = None):
    """One forward pass from position 0; returns (logits [keep, vocab], knn_keys [s, dim])."""
    s = len(ids)
    keep = s if keep is None else keep
    feeds = {
        manifest["inputs"]["input_ids"]: np.asarray([ids], dtype=np.int64),
        manifest["inputs"]["position_ids"]: np.arange(s, dtype=np.int64)[None],
        manifest["inputs"]["logits_to_keep"]: np.array(keep, dtype=np.int64),
    }
    empty = np.zeros((1, manifest["num_kv_heads"], 0, manifest["head_dim"]), np.float32)
    for layer in range(manifest["num_layers"]):
        feeds[manifest["inputs"]["past_key"].format(layer=layer)] = empty
        feeds[manifest["inputs"]["past_value"].format(layer=layer)] = empty
    names = [manifest["outputs"]["logits"], manifest["outputs"]["knn_key"]]
    logits, keys = session.run(names, feeds)
    return logits[0], keys[0]


def position_scores(logits: np.ndarray, ids: list[int]):
    """Rows for positions 1..s-1: (index, token_id, logprob, top1), from all-position logits."""
    lg = logits[:-1].astype(np.float64)
    lse = np.log(np.exp(lg - lg.max(axis=1, keepdims=True)).sum(axis=1)) + lg.max(axis=1)
    targets = np.asarray(ids[1:])
    logprob = lg[np.arange(len(targets)), targets] - lse
    top1 = lg.argmax(axis=1)
    return [(i + 1, int(targets[i]), float(logprob[i]), int(top1[i])) for i in range(len(targets))]


def perplexity(rows) -> float:
    return math.exp(-sum(r[2] for r in rows) / len(rows))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("file", type=Path)
    ap.add_argument("--summary", action="store_true", help="print only tokens and perplexity")
    args = ap.parse_args(argv)
    manifest, session = load_session(args.model_dir)
    ids = tokenize(args.model_dir, manifest, args.file.read_text(encoding="utf-8"))
    if len(ids) > manifest["max_positions"]:
        raise SystemExit(f"{args.file}: {len(ids)} tokens do not fit one window of {manifest['max_positions']}")
    logits, _ = run_window(manifest, session, ids)
    rows = position_scores(logits, ids)
    if args.summary:
        print(json.dumps({"tokens": len(rows), "perplexity": perplexity(rows)}))
        return
    for index, token_id, logprob, top1 in rows:
        print(json.dumps({"index": index, "token_id": token_id, "logprob": logprob, "top1": top1}))


if __name__ == "__main__":
    main()
