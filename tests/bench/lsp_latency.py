"""Latency of the real language server while a writer types (issue 4's benchmark).

Starts `precedent serve` with a model and an index, then:
  1. opens a document of about --words words built from held-out prose and times its hints
     (publishDiagnostics) from cold, then after a one-word edit in its middle;
  2. types a held-out paragraph at the end word by word, asking for completion after each
     word (as an editor does on the space), then again on a new line asking for ghost text
     (textDocument/inlineCompletion) instead, and times each answer;
  3. hovers over words of the document and times each answer;
and prints medians and 95th percentiles, and the server's peak memory (VmHWM).

  python tests/bench/lsp_latency.py --index team.index held-out/ [--model DIR] [--bin PATH]
"""

import argparse
import html
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lsp_client import LspClient  # noqa: E402


def paragraphs(paths: list[Path]) -> list[str]:
    """Plain paragraphs of held-out files (HTML <p> elements, or blank-line blocks)."""
    found = []
    files = sorted(f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())
    for file in files:
        text = file.read_text(encoding="utf-8", errors="replace")
        if file.suffix in (".html", ".htm"):
            blocks = re.findall(r"<p[^>]*>(.*?)</p>", text, flags=re.S | re.I)
            blocks = [html.unescape(re.sub(r"<[^>]+>", "", b)) for b in blocks]
        else:
            blocks = re.split(r"\n\s*\n", text)
        for block in blocks:
            block = " ".join(block.split())
            if len(block.split()) >= 12 and not re.search(r"[{}<>$]", block):
                found.append(block)
    return found


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def percentiles(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    return f"p50 {statistics.median(values):7.1f} ms   p95 {p95:7.1f} ms   (n={len(values)})"


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("held_out", nargs="+", type=Path)
    parser.add_argument("--index", required=True,
                        help="index file, or a Milvus location milvus://HOST:PORT/COLLECTION")
    parser.add_argument("--bin", type=Path, default=Path(__file__).resolve().parents[2] / "target/release/precedent")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--words", type=int, default=1000)
    parser.add_argument("--type-words", type=int, default=120)
    parser.add_argument("--hovers", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--server-log", type=Path, help="write the server's stderr here (PRECEDENT_LOG sets its level)")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    blocks = paragraphs(args.held_out)
    rng.shuffle(blocks)
    document, words = [], 0
    while words < args.words and blocks:
        block = blocks.pop()
        document.append(block)
        words += len(block.split())
    typed = []
    while len(typed) < args.type_words and blocks:
        typed.extend(blocks.pop().split())
    typed = typed[: args.type_words]

    workspace = Path(tempfile.mkdtemp(prefix="precedent-bench-"))
    command = [args.bin] + (["--model", args.model] if args.model else []) + ["serve"]
    client = LspClient(command, env=dict(os.environ))
    index = args.index if args.index.startswith(("milvus://", "milvuss://")) else str(Path(args.index).resolve())
    client.initialize(workspace, {"indexPaths": [index]})
    client.wait_for(lambda m: m["method"] == "precedent/statusChanged" and m["params"]["model"],
                    timeout=120, what="model loaded")
    print(f"server: {args.bin}; index {args.index}; document {words} words in {len(document)} paragraphs")

    # 1. Hints for the whole document, cold; then after a one-word edit in the middle.
    text = "\n\n".join(document) + "\n\n"
    started = time.monotonic()
    uri = client.open(workspace / "draft.md", text)
    hints = client.diagnostics(uri, 1, timeout=600)
    cold = time.monotonic() - started
    print(f"diagnostics, {words}-word document, cold: {cold * 1000:8.0f} ms ({len(hints)} hints)")

    lines = text.split("\n")
    middle = len(document) // 2 * 2  # line of the middle paragraph
    line = lines[middle]
    words_in_line = list(re.finditer(r"\b[a-z]{4,}\b", line))
    match = words_in_line[len(words_in_line) // 2]
    start = utf16(line[: match.start()])
    original = match.group(0)
    edit_times = []
    for version, (old, new) in ((2, (original, "fresh")), (3, ("fresh", original))):
        started = time.monotonic()
        client.change(uri, version, (middle, start), (middle, start + utf16(old)), new)
        client.diagnostics(uri, version, timeout=120)
        edit_times.append((time.monotonic() - started) * 1000)
    print(f"diagnostics after a one-word edit: {edit_times[0]:8.0f} ms, and undoing it {edit_times[1]:8.0f} ms")

    # 2. Typing a paragraph at the end word by word, asking after each word and space: for
    # completion, then (the same paragraph again, on a new line) for ghost text.
    version = 3
    line_number = len(lines) - 1
    column = 0

    def type_asking(method: str, extra: dict) -> tuple[list[float], list]:
        nonlocal version, column
        times, answers = [], []
        for word in typed:
            version += 1
            client.change(uri, version, (line_number, column), (line_number, column), word + " ")
            column += utf16(word + " ")
            started = time.monotonic()
            answers.append(client.request(method, {
                "textDocument": {"uri": uri}, "position": {"line": line_number, "character": column}, **extra}))
            times.append((time.monotonic() - started) * 1000)
        return times, answers

    completion_ms, lists = type_asking("textDocument/completion", {})
    first_items = [result["items"][0]["label"] if result and result["items"] else None for result in lists]
    hits = sum(1 for item, nxt in zip(first_items, typed[1:]) if item == nxt)
    print(f"completion while typing:  {percentiles(completion_ms)}; "
          f"top item = next typed word {hits}/{len(typed) - 1}")

    version += 1
    client.change(uri, version, (line_number, column), (line_number, column), "\n")
    line_number, column = line_number + 1, 0
    ghost_ms, answers = type_asking("textDocument/inlineCompletion", {"context": {"triggerKind": 2}})
    ghosts = [result[0]["insertText"].split() if result else None for result in answers]
    offered = [(g, i) for i, g in enumerate(ghosts[:-1]) if g]
    right = sum(1 for g, i in offered if g[0] == typed[i + 1])
    print(f"ghost text while typing:  {percentiles(ghost_ms)}; "
          f"offered after {len(offered)}/{len(typed) - 1} words, its first word = next typed word {right}/{len(offered)}")

    # 3. Hover over words of the document.
    hover_ms, with_evidence = [], 0
    positions = [(i, m.start()) for i, l in enumerate(lines[: len(document) * 2]) for m in re.finditer(r"\b[A-Za-z]{3,}\b", l)]
    for line_index, character in rng.sample(positions, min(args.hovers, len(positions))):
        character = utf16(lines[line_index][:character])
        started = time.monotonic()
        result = client.request("textDocument/hover", {
            "textDocument": {"uri": uri}, "position": {"line": line_index, "character": character + 1}})
        hover_ms.append((time.monotonic() - started) * 1000)
        with_evidence += bool(result and "Similar usage" in result["contents"]["value"])
    print(f"hover:                    {percentiles(hover_ms)}; with corpus evidence {with_evidence}/{len(hover_ms)}")
    print(f"server peak memory (VmHWM): {peak_memory_mb(client.process.pid):.0f} MB")
    client.close()
    if args.server_log:
        args.server_log.write_text("".join(client.stderr_lines))


if __name__ == "__main__":
    main()
