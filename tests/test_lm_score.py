"""`precedent lm-score` agrees with Python onnxruntime on the same model, position by position."""

import json
import math
import subprocess
from pathlib import Path

import pytest

from precedent_models import score

TEXT = Path(__file__).resolve().parent.parent / "models" / "testdata" / "prose.txt"


def lm_score(precedent_bin: Path, model: Path, text_file: Path) -> list[dict]:
    out = subprocess.run([precedent_bin, "lm-score", "--model", model, text_file],
                         check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def python_score(model: Path, text_file: Path):
    manifest, session = score.load_session(model)
    ids = score.tokenize(model, manifest, text_file.read_text(encoding="utf-8"))
    logits, _ = score.run_window(manifest, session, ids)
    return score.position_scores(logits, ids)


@pytest.mark.parametrize("model_fixture", ["tiny_model", "default_model"])
def test_lm_score_matches_python_onnxruntime(request, precedent_bin, model_fixture):
    model = request.getfixturevalue(model_fixture)
    rust = lm_score(precedent_bin, model, TEXT)
    python = python_score(model, TEXT)

    assert [r["index"] for r in rust] == [p[0] for p in python]
    assert [r["token_id"] for r in rust] == [p[1] for p in python]
    assert set(rust[0]) == {"index", "token_id", "logprob", "top1"}
    rust_ppl = math.exp(-sum(r["logprob"] for r in rust) / len(rust))
    python_ppl = score.perplexity(python)
    assert abs(rust_ppl / python_ppl - 1) < 1e-3
    agree = sum(r["top1"] == p[3] for r, p in zip(rust, python)) / len(rust)
    assert agree > 0.99


def test_lm_score_on_a_missing_file_says_so(precedent_bin, tiny_model, tmp_path):
    result = subprocess.run([precedent_bin, "lm-score", "--model", tiny_model, tmp_path / "nope.txt"],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "nope.txt" in result.stderr
    assert result.stdout == ""
