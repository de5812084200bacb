"""Main-text extraction: precision, recall and F1 of ``capture.extract`` against ground truth.

Two corpora (``../shared/corpora/extraction``):
- ``cwced``: 69 Chinese pages, most of them raw GB2312/GBK bytes, decoded by our own decode step;
  ground truth ``eval/cleaned_ground.json``.
- ``readability``: 130 pages (mozilla/readability's test pages); ground truth is the text of
  ``expected.html``.

Scoring follows the public article-extraction benchmark that trafilatura's 0.958 comes from:
shingles of the text (4 words; for Chinese, which has no spaces, 4 characters), precision and
recall per page, averaged over pages, F1 from the averages (an empty answer counts as precision 1,
recall 0, which flatters an extractor that gives up; the mean of per-page F1 is printed too). Beside ours, plain
``trafilatura.extract`` on the same decoded text under each of its settings (default,
favor_precision, favor_recall), so a gap can be told apart from the pipeline, and kb's
per-language choice (``extract.SETTINGS_BY_LANGUAGE``) is checked against the best of them. The
Chinese pages of both corpora are reported on their own too.

    .venv/bin/python bench/extraction.py [../shared/corpora/extraction] [--shingle 4]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import Counter
from pathlib import Path

import lxml.html
import trafilatura

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from snapshots.capture.decode import decode  # noqa: E402
from snapshots.capture.extract import extract  # noqa: E402

TRAFILATURA_PUBLISHED_F1 = 0.958
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"\w+", re.UNICODE)


def shingles(text: str, size: int) -> Counter:
    """4-word shingles, or 4-character ones for text that is mostly CJK."""
    cjk = len(_CJK.findall(text))
    if cjk > 0.3 * max(len(re.sub(r"\s", "", text)), 1):
        units = [c for c in text if not c.isspace() and (c.isalnum() or _CJK.match(c))]
    else:
        units = [w.lower() for w in _WORD.findall(text)]
    if len(units) < size:
        return Counter([tuple(units)]) if units else Counter()
    return Counter(tuple(units[i : i + size]) for i in range(len(units) - size + 1))


def precision_recall(found: str, truth: str, size: int) -> tuple[float, float]:
    got, want = shingles(found, size), shingles(truth, size)
    if not want:
        return (1.0, 1.0) if not got else (0.0, 1.0)
    if not got:
        return 1.0, 0.0  # nothing claimed, nothing wrong: the benchmark's convention
    overlap = sum((got & want).values())
    return overlap / sum(got.values()), overlap / sum(want.values())


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def html_text(html: str) -> str:
    root = lxml.html.fromstring(html)
    for block in root.iter("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "td", "br"):
        block.tail = "\n" + (block.tail or "")
    return root.text_content()


def cwced_cases(root: Path):
    truth = json.loads((root / "eval" / "cleaned_ground.json").read_text("utf-8"))
    for page in sorted((root / "original").glob("*.html")):
        body = truth.get(page.stem, {}).get("articleBody")
        if body is not None:
            yield page.stem, page.read_bytes(), body


def readability_cases(root: Path):
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        source, expected = folder / "source.html", folder / "expected.html"
        if source.exists() and expected.exists():
            yield folder.name, source.read_bytes(), html_text(expected.read_text("utf-8"))


# Plain trafilatura.extract under each of its settings: kb must do at least as well as the best.
TRAFILATURA_SETTINGS = {
    "trafilatura default": {},
    "trafilatura precision": {"favor_precision": True},
    "trafilatura recall": {"favor_recall": True},
}


def is_chinese(text: str) -> bool:
    letters = re.sub(r"\s", "", text)
    return len(_CJK.findall(letters)) > 0.3 * max(len(letters), 1)


def score(name: str, cases, size: int) -> list[dict]:
    """One row per page: its scores under kb and each trafilatura setting."""
    rows = []
    for case_id, raw, truth in cases:
        text = decode(raw, None).text
        url = f"https://example.org/{case_id}.html"
        article = extract(text, url)
        row = {
            "corpus": name,
            "chinese": is_chinese(truth),
            "fallback": article.used_fallback,
            "kb extract": precision_recall(article.text, truth, size),
        }
        for label, settings in TRAFILATURA_SETTINGS.items():
            found = trafilatura.extract(text, url=url, **settings) or ""
            row[label] = precision_recall(found, truth, size)
        rows.append(row)
    return rows


def report(name: str, rows: list[dict]) -> None:
    if not rows:
        print(f"{name}: no pages")
        return
    results = {}
    for label in ("kb extract", *TRAFILATURA_SETTINGS):
        ps = [row[label][0] for row in rows]
        rs = [row[label][1] for row in rows]
        precision, recall = statistics.mean(ps), statistics.mean(rs)
        results[label] = f1(precision, recall)
        per_page = statistics.mean(f1(p, r) for p, r in zip(ps, rs, strict=True))
        print(
            f"{name:14s} {label:22s} pages {len(ps):3d}  precision {precision:.3f}  "
            f"recall {recall:.3f}  F1 {results[label]:.3f}  (mean per-page F1 {per_page:.3f})"
        )
    best = max(TRAFILATURA_SETTINGS, key=results.__getitem__)
    verdict = "at least" if results["kb extract"] >= results[best] else "BELOW"
    print(
        f"{name:14s} kb F1 {results['kb extract']:.4f} is {verdict} trafilatura's best "
        f"({best}, {results[best]:.4f}); kb fell back to the visible text on "
        f"{sum(row['fallback'] for row in rows)} pages"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "corpus", nargs="?", default=str(REPO.parent / "shared" / "corpora" / "extraction")
    )
    parser.add_argument(
        "--shingle", type=int, default=4, help="words (or CJK characters) per shingle"
    )
    args = parser.parse_args()
    root = Path(args.corpus).resolve()
    if not root.is_dir():
        print(f"extraction: corpus {root} is absent; skipping.")
        return
    rows: list[dict] = []
    for name, cases in (("cwced", cwced_cases), ("readability", readability_cases)):
        if (root / name).is_dir():
            corpus_rows = score(name, cases(root / name), args.shingle)
            report(name, corpus_rows)
            rows += corpus_rows
        else:
            print(f"{name}: absent; skipped")
    report("Chinese pages", [row for row in rows if row["chinese"]])
    report("other pages", [row for row in rows if not row["chinese"]])
    print(f"trafilatura's published F1 on the public article benchmark: {TRAFILATURA_PUBLISHED_F1}")


if __name__ == "__main__":
    main()
