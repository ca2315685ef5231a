"""llama.cpp's speed on this machine, on the same GGUF the default model is converted from.

  python -m precedent_models.llamacpp_speed GGUF [--runs 7] [--threads 2]

The same measurements as `precedent bench lm`: prefill of 256 tokens (tokens/s) and one
decoded token after a 256-token KV cache (ms), medians over --runs. Run both in one
session to compare them side by side (the machines are shared and noisy). Needs
llama-cpp-python (it compiles llama.cpp, so it is not part of CI).
"""

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

PAST = 256


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gguf", type=Path)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(args.gguf), n_ctx=1024, n_batch=512, n_threads=args.threads,
                          n_threads_batch=args.threads, verbose=False)
    # Arbitrary ordinary tokens: speed does not depend on which.
    ids = [int(i) for i in np.random.default_rng(0).integers(100, 40000, PAST)]
    prefill, decode = [], []
    for _ in range(args.runs):
        llm.reset()
        started = time.perf_counter()
        llm.eval(ids)
        prefill.append(time.perf_counter() - started)
    for _ in range(args.runs):
        llm.n_tokens = PAST  # back to exactly PAST cached tokens, then decode one more
        started = time.perf_counter()
        llm.eval([500])
        decode.append(time.perf_counter() - started)
    print(f"llama.cpp {llama_cpp.__version__}, {args.threads} threads, medians of {args.runs} runs")
    print(f"prefill {PAST} tokens: {PAST / statistics.median(prefill):.0f} tokens/s")
    print(f"decode 1 token after {PAST} cached: {statistics.median(decode) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
