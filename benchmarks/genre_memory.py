"""The memory of GENRE's name trie against flat dense vectors, on synthetic name sets.

    python -m benchmarks.genre_memory --data ../shared/data/scifact [--sizes 5000,50000,500000] \
        [--model smollm2-135m] [--seed 0] [--results-dir docs/results]

Names are 2-6 words drawn (seeded) from the corpus titles, tokenised by the model's tokenizer and
built into a `NameTrie`; the dense column is what a flat float32 index of one 384-d MiniLM vector per
name stores (n x 384 x 4 bytes), computed, not encoded. Also timed: trie build, reload from disk,
and inserting / releasing 1,000 names. Writes `<dataset>-genre-memory.md` and `.json`.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals import report
from evals.report import cell
from indexers.cli_args import parse_args
from indexers.corpus import read_documents
from indexers.errors import InvalidInput
from indexers.generation.name_trie import NameTrie
from indexers.models.causal_lm import default_cache_dir, resolve_lm_folder

__all__ = ["main", "memory_table"]

DENSE_DIM = 384


def memory_table(titles: Sequence[str], sizes: Sequence[int], seed: int, model: str) -> list[dict[str, Any]]:
    """Trie bytes against flat dense-vector bytes for synthetic name sets; build, reload and update times."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_lm_folder(model, default_cache_dir()))
    words = sorted({w for title in titles for w in title.split() if w.isalpha()})
    rng = random.Random(seed)
    rows = []
    for size in sizes:
        names = list({" ".join(rng.choices(words, k=rng.randint(2, 6))) for _ in range(size)})
        started = time.perf_counter()
        tokens = tokenizer(names, add_special_tokens=False)["input_ids"]
        tokenize_s = time.perf_counter() - started
        started = time.perf_counter()
        trie, _ = NameTrie.from_names(tokens, int(tokenizer.eos_token_id), len(tokenizer))
        build_s = time.perf_counter() - started
        with tempfile.TemporaryDirectory(prefix="genre-trie-") as tmp:
            trie.save(Path(tmp))
            started = time.perf_counter()
            loaded = NameTrie.load(Path(tmp))
            load_s = time.perf_counter() - started
            extra = [tokenizer(f"new entity {i}", add_special_tokens=False)["input_ids"] for i in range(1000)]
            started = time.perf_counter()
            ids = [loaded.insert(t) for t in extra]
            insert_us = (time.perf_counter() - started) / len(extra) * 1e6
            started = time.perf_counter()
            for name_id in ids:
                loaded.release(name_id)
            release_us = (time.perf_counter() - started) / len(ids) * 1e6
        rows.append(
            {
                "names": len(names),
                "tokens": int(sum(map(len, tokens))),
                "trie_nodes": len(trie.node_token),
                "trie_bytes": trie.nbytes,
                "dense_bytes": len(names) * DENSE_DIM * 4,
                "tokenize_s": tokenize_s,
                "build_s": build_s,
                "load_s": load_s,
                "insert_us": insert_us,
                "release_us": release_us,
            }
        )
    return rows


def _markdown(rows: list[dict[str, Any]], command: str) -> str:
    table = report.markdown_table(
        [
            "names",
            "tokens",
            "trie nodes",
            "trie MB",
            "dense MB (n x 384 x 4)",
            "dense / trie",
            "trie build s",
            "reload ms",
            "insert µs",
            "release µs",
        ],  # fmt: skip
        [
            [
                cell(m["names"], ","),
                cell(m["tokens"], ","),
                cell(m["trie_nodes"], ","),
                cell(m["trie_bytes"] / 2**20, ".1f"),
                cell(m["dense_bytes"] / 2**20, ".1f"),
                cell(m["dense_bytes"] / m["trie_bytes"], ".1f"),
                cell(m["build_s"], ".2f"),
                cell(m["load_s"] * 1000, ".1f"),
                cell(m["insert_us"], ".0f"),
                cell(m["release_us"], ".0f"),
            ]
            for m in rows
        ],
        text_columns=0,
    )
    return f"# GENRE name trie against dense vectors (synthetic names)\n\nCommand: `{command}`.\n\n{table}\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.genre_memory", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data", type=Path, required=True, help="BEIR-layout folder (its corpus titles)")
    parser.add_argument(
        "--sizes", type=lambda s: [int(v) for v in s.split(",") if v], default=[5000, 50000, 500000]
    )
    parser.add_argument("--model", default="smollm2-135m", help="causal LM whose tokenizer splits the names")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results-dir", type=Path, default=Path("docs/results"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Measure and write the memory table; 2 for bad arguments or an unreadable corpus."""
    args = parse_args(_parser(), argv)
    if isinstance(args, int):
        return args
    try:
        docs = read_documents(args.data / "corpus.jsonl")
    except (OSError, InvalidInput) as exc:
        print(f"benchmarks.genre_memory: error: {exc}", file=sys.stderr)
        return 2
    rows = memory_table([d.title for d in docs.values() if d.title], args.sizes, args.seed, args.model)
    command = "python -m benchmarks.genre_memory " + " ".join(sys.argv[1:] if argv is None else argv)
    markdown = _markdown(rows, command)
    report.write_report(args.results_dir / f"{args.data.resolve().name}-genre-memory", markdown, rows)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
