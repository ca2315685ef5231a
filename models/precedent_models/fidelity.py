"""Fidelity of a converted model against llama.cpp running the same GGUF file.

  python -m precedent_models.fidelity MODEL_DIR --gguf FILE [--text FILE] [--reference-model DIR]

Needs llama-cpp-python (it compiles llama.cpp, so it is not part of CI). Both sides score
the same token ids in one window; reports perplexity of each, their ratio, and top-1
next-token agreement overall and where llama.cpp's top two logits differ by more than 0.5.
With --reference-model (e.g. the fp32 variant) the ratio to it is reported too.
"""

import argparse
import json
import math
from pathlib import Path

import numpy as np

from . import score

DEFAULT_TEXT = Path(__file__).resolve().parent.parent / "testdata" / "prose.txt"


def llama_cpp_logits(gguf: Path, ids: list[int]) -> np.ndarray:
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_ctx=max(512, len(ids) + 8), n_batch=len(ids), logits_all=True,
                n_threads=2, verbose=False)
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def llama_cpp_tokens(gguf: Path, text: str) -> list[int]:
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    return llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)


def compare(ours: np.ndarray, theirs: np.ndarray, ids: list[int]) -> dict:
    rows_ours = score.position_scores(ours, ids)
    rows_theirs = score.position_scores(theirs, ids)
    top_ours = np.array([r[3] for r in rows_ours])
    top_theirs = np.array([r[3] for r in rows_theirs])
    sorted_theirs = np.sort(theirs[:-1], axis=1)
    margin = sorted_theirs[:, -1] - sorted_theirs[:, -2]
    clear = margin > 0.5
    ppl_ours, ppl_theirs = score.perplexity(rows_ours), score.perplexity(rows_theirs)
    return {
        "positions": len(rows_ours),
        "ppl": ppl_ours,
        "ppl_llama_cpp": ppl_theirs,
        "ppl_ratio": ppl_ours / ppl_theirs,
        "top1_agreement": float((top_ours == top_theirs).mean()),
        "clear_positions": int(clear.sum()),
        "top1_agreement_clear": float((top_ours[clear] == top_theirs[clear]).mean()),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--gguf", type=Path, required=True)
    ap.add_argument("--text", type=Path, default=DEFAULT_TEXT)
    ap.add_argument("--reference-model", type=Path, help="another model dir (e.g. fp32) to compare perplexity with")
    args = ap.parse_args(argv)

    text = args.text.read_text(encoding="utf-8")
    manifest, session = score.load_session(args.model_dir)
    ids = score.tokenize(args.model_dir, manifest, text)
    same_tokens = ids == llama_cpp_tokens(args.gguf, text)
    ours, _ = score.run_window(manifest, session, ids)
    report = compare(ours, llama_cpp_logits(args.gguf, ids), ids)
    report["tokenization_identical"] = same_tokens
    if args.reference_model:
        ref_manifest, ref_session = score.load_session(args.reference_model)
        ref_logits, _ = score.run_window(ref_manifest, ref_session, ids)
        ref_ppl = score.perplexity(score.position_scores(ref_logits, ids))
        report["ppl_reference"] = ref_ppl
        report["ppl_ratio_to_reference"] = report["ppl"] / ref_ppl
    print(json.dumps(report, indent=2))
    ok = (report["positions"] >= 400 and abs(math.log(report["ppl_ratio"])) <= math.log(1.02)
          and report["top1_agreement_clear"] == 1.0 and report["top1_agreement"] >= 0.95)
    print("fidelity: " + ("PASS" if ok else "FAIL"))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
