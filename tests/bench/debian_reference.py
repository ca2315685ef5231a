"""Splits the Debian Reference (Debian package debian-reference-en) into one HTML file per
section, every 10th held out, for the benchmarks in docs/measurements.md:

    apt-get install debian-reference-en
    python3 tests/bench/debian_reference.py OUT      # writes OUT/corpus and OUT/heldout
"""
import re
import sys
from pathlib import Path

SOURCE = Path("/usr/share/debian-reference")
SECTION = re.compile(r'<div class="section"')


def sections(html: str) -> list[str]:
    """The text from each section start to the next (nested sections become their own)."""
    starts = [m.start() for m in SECTION.finditer(html)]
    return [html[a:b] for a, b in zip(starts, starts[1:] + [len(html)])]


def main() -> None:
    out = Path(sys.argv[1])
    chapters = sorted(SOURCE.glob("*.en.html"))
    if not chapters:
        sys.exit(f"no {SOURCE}/*.en.html: apt-get install debian-reference-en")
    number = 0
    for chapter in chapters:
        for part in sections(chapter.read_text(encoding="utf-8")):
            split = "heldout" if number % 10 == 9 else "corpus"
            target = out / split / f"{chapter.name.split('.')[0]}-{number:03d}.html"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f"<html><body>{part}</body></html>\n", encoding="utf-8")
            number += 1
    print(f"{number} sections: {len(list((out / 'corpus').iterdir()))} corpus, "
          f"{len(list((out / 'heldout').iterdir()))} held out")


if __name__ == "__main__":
    main()
