"""Long-context QA under prompt compression: a LongBench-style stand-in built from LoCoMo.

No LongBench files can be had here. Each item is a LoCoMo question (categories 1-4; 5 is adversarial
and has no gold answer) with its conversation as the context: the dialogue turns, with session dates,
cut to a window of `--context-tokens` LLM tokens around the first evidence turn (a local CPU model
cannot read whole 20k-token conversations), one passage per session, each opened by its date line.
Every method answers from the same context:

    none, lingua at 2x / 3x / 5x (rate 1/2, 1/3, 1/5), crag (turns clustered, rate 1/3, 64 tokens
    per cluster at most), each compressor again question-aware ("+q": given the question), and
    lingua 3x without its session-date priority ("titles off": every word ranked alike)

and is scored by answer F1 (SQuAD-style token overlap), the share of the gold answer's words left in
the context it sends (what compression kept of the answer), prompt tokens, compression seconds and
end-to-end seconds (compression plus answering). A second table shows CRAG's prompt growth: for each
question the 5 / 20 / 50 conversation turns most similar to it (MiniLM cosine) are compressed by CRAG
with no overall rate (only its bound of 64 tokens per cluster), with and without the question, and
by lingua at 3x.

    python -m evals.longqa --locomo ../shared/data/locomo/locomo7.json --questions 15 --seed 0 \
        --llm qwen2.5-0.5b --out docs/results/longqa

The growth table is measured first; the QA results are written (Markdown and JSON) after every
question, so a stopped run keeps what it measured.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from evals.datasets import LocomoSample, read_locomo
from evals.paired import paired_comparison
from evals.qa_metrics import answer_recall, token_f1
from evals.report import cell, markdown_table, write_report
from indexers.cli_args import parse_args
from indexers.compress.base import Compressor
from indexers.compress.crag import CragCompressor
from indexers.compress.lingua import LinguaCompressor, LinguaConfig, load_lingua
from indexers.compress.prompt import prepare_answer
from indexers.models.llm import LLM, LLMConfig, load_llm

__all__ = [
    "Answered",
    "Item",
    "Method",
    "MethodStats",
    "context_window",
    "load_items",
    "main",
    "markdown",
    "run",
]

CRAG_RATE = 1 / 3


@dataclass(frozen=True, slots=True)
class Method:
    """A row of the table: compressor (None: no compression), rate, and whether it gets the question."""

    compressor: Literal["lingua", "lingua-titles-off", "crag"] | None
    rate: float | None
    question_aware: bool = False


METHODS = {
    "none": Method(None, None),
    "lingua 2x": Method("lingua", 1 / 2),
    "lingua 3x": Method("lingua", 1 / 3),
    "lingua 5x": Method("lingua", 1 / 5),
    "crag": Method("crag", CRAG_RATE),
    "lingua 2x +q": Method("lingua", 1 / 2, question_aware=True),
    "lingua 3x +q": Method("lingua", 1 / 3, question_aware=True),
    "lingua 5x +q": Method("lingua", 1 / 5, question_aware=True),
    "crag +q": Method("crag", CRAG_RATE, question_aware=True),
    "lingua 3x titles off": Method("lingua-titles-off", 1 / 3),
}


@dataclass(frozen=True, slots=True)
class Item:
    """One question (`qa_index` in its sample) with its conversation: `turns` as lines, `heads` the
    index of each line's session date line, `evidence` the indices of evidence turns."""

    sample: str
    qa_index: int
    question: str
    answer: str
    category: int
    turns: list[str]
    heads: list[int]
    evidence: list[int]


def _turn_lines(sample: LocomoSample) -> tuple[list[str], list[int], dict[str, int]]:
    """Conversation lines in order (a date line opens each session), each line's date line, and
    dia_id -> line index."""
    lines: list[str] = []
    heads: list[int] = []
    where: dict[str, int] = {}
    for session in sample.sessions:
        head = len(lines)
        lines.append(f"[{session.date_time or f'session {session.number}'}]")
        for turn in session.turns:
            where[turn.dia_id] = len(lines)
            lines.append(f"{turn.speaker}: {turn.text}")
        heads += [head] * (len(lines) - head)
    return lines, heads, where


def load_items(path: Path) -> list[Item]:
    """Every LoCoMo question with a gold answer and at least one evidence turn.

    Raises:
        DatasetError: the file is unreadable or a conversation is malformed.
    """
    items = []
    for sample in read_locomo(path):
        lines, heads, where = _turn_lines(sample)
        for qa in sample.qa:
            evidence = [where[e] for e in qa.evidence if e in where]
            if qa.category == 5 or qa.answer is None or not evidence:
                continue
            items.append(
                Item(
                    sample.sample_id, qa.position, qa.question, qa.answer, qa.category, lines, heads, evidence
                )
            )
    return items


def context_window(llm: LLM, item: Item, budget: int) -> list[list[str]]:
    """The longest run of lines around the first evidence turn that fits `budget` LLM tokens (plus
    the date line of a session it enters mid-way), split into sessions that open with their dates."""
    costs = [llm.count_tokens(line) + 1 for line in item.turns]
    start = end = item.evidence[0]
    spent = costs[start]
    grew = True
    while grew:
        grew = False
        for side in (1, -1):
            nxt = end + 1 if side == 1 else start - 1
            if 0 <= nxt < len(costs) and spent + costs[nxt] <= budget:
                spent += costs[nxt]
                start, end = min(start, nxt), max(end, nxt)
                grew = True
    sessions: list[list[str]] = [] if item.heads[start] == start else [[item.turns[item.heads[start]]]]
    for line in range(start, end + 1):
        if item.heads[line] == line or not sessions:
            sessions.append([])
        sessions[-1].append(item.turns[line])
    return sessions


@dataclass
class MethodStats:
    """Per-question measurements of one method."""

    f1: list[float] = field(default_factory=list)
    answer_recall: list[float] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    compress_s: list[float] = field(default_factory=list)
    end_to_end_s: list[float] = field(default_factory=list)
    rate: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        mean = statistics.fmean
        return {
            "questions": len(self.f1),
            "answer_f1": mean(self.f1),
            "answer_recall": mean(self.answer_recall),
            "prompt_tokens": mean(self.prompt_tokens),
            "compression_rate": mean(self.rate),
            "compress_s": mean(self.compress_s),
            "end_to_end_s": mean(self.end_to_end_s),
            "end_to_end_p50_s": statistics.median(self.end_to_end_s),
        }


@dataclass(frozen=True, slots=True)
class Answered:
    """One method's answer to one question: the reply, the context it was given, prompt tokens,
    compression and end-to-end seconds, and the context rate reached in LLM tokens."""

    text: str
    context: str
    prompt_tokens: int
    compress_s: float
    total_s: float
    rate: float


def _answer(
    llm: LLM, item: Item, sessions: Sequence[Sequence[str]], compressor: Compressor | None, method: Method
) -> Answered:
    """Compress (per `method`) and answer `item` from `sessions`."""
    started = time.perf_counter()
    if isinstance(compressor, CragCompressor):  # CRAG clusters the lines
        passages = [line for session in sessions for line in session]
    else:
        passages = ["\n".join(session) for session in sessions]
    prompt = prepare_answer(
        llm,
        item.question,
        passages,
        compressor,
        rate=method.rate,
        question_aware=method.question_aware,
        max_tokens=24,
    )
    reply = llm.chat(prompt.messages, max_tokens=24, stop=["\n"])
    seconds = time.perf_counter() - started
    rate_reached = prompt.context_tokens_after / max(prompt.context_tokens_before, 1)
    return Answered(
        reply.text, prompt.context, reply.prompt_tokens, prompt.compress_seconds, seconds, rate_reached
    )


def _crag_growth(items: Sequence[Item], crag: CragCompressor, sizes: Sequence[int]) -> dict[str, Any]:
    """Mean tokens in and out of CRAG (with and without the question) and of lingua 3x for the top-n
    turns by cosine to the question."""
    encoder = crag.lingua.reader.encoder
    rankings = []
    for item in items:  # each question's turns, most similar first (encoded once)
        turns = [t for i, t in enumerate(item.turns) if item.heads[i] != i]  # no date lines
        vectors = encoder.encode_dense(turns, is_query=False)
        query = encoder.encode_dense([item.question], is_query=True)[0]
        rankings.append([turns[i] for i in np.argsort(-(vectors @ query), kind="stable")])
    table: dict[str, Any] = {}
    for size in sizes:
        before, crag_after, crag_q_after, lingua_after, clusters_seen = [], [], [], [], []
        for item, ranked in zip(items, rankings, strict=True):
            top = ranked[:size]
            result = crag.compress(top, rate=1.0)  # bounded by the per-cluster budget alone
            before.append(result.tokens_before)
            crag_after.append(result.tokens_after)
            clusters_seen.append(result.text.count("\n\n") + 1)  # clusters are separated by blank lines
            crag_q_after.append(crag.compress(top, rate=1.0, question=item.question).tokens_after)
            lingua_after.append(crag.lingua.compress(top, rate=CRAG_RATE).tokens_after)
        table[str(size)] = {
            "tokens_before": statistics.fmean(before),
            "crag_tokens": statistics.fmean(crag_after),
            "crag_q_tokens": statistics.fmean(crag_q_after),
            "crag_clusters": statistics.fmean(clusters_seen),
            "lingua_3x_tokens": statistics.fmean(lingua_after),
        }
    return table


def markdown(report: dict[str, Any]) -> str:
    """The result tables as Markdown."""
    setup = report["setup"]
    lines = [
        "# Long-context QA under prompt compression (LoCoMo stand-in for LongBench)",
        "",
        f"Command: `{setup['command']}`",
        "",
        f"Stand-in, not LongBench: {setup['questions']} LoCoMo questions (categories 1-4, seed "
        f"{setup['seed']}, from {setup['conversations']} conversations), each with a window of about "
        f"{setup['context_tokens']} LLM tokens of its conversation around the first evidence turn, "
        "one passage per session opened by its date. "
        f"LLM: `{setup['llm']}` (local, greedy, 24 answer tokens). Compressor: MiniLM + "
        f"{setup.get('head', 'packaged')} keep/drop head; `+q`: question-aware (segments ranked by "
        f"MiniLM cosine to the question get the budget). Machine: {setup['machine']}.",
        "",
        markdown_table(
            [
                "method",
                "questions",
                "answer F1",
                "answer words in context",
                "prompt tokens",
                "context rate",
                "compression s",
                "end-to-end s (mean)",
                "end-to-end s (p50)",
            ],  # fmt: skip
            [
                [
                    name,
                    row["questions"],
                    cell(row["answer_f1"], ".3f"),
                    cell(row.get("answer_recall"), ".3f"),
                    cell(row["prompt_tokens"], ".0f"),
                    cell(row["compression_rate"], ".2f"),
                    cell(row["compress_s"], ".2f"),
                    cell(row["end_to_end_s"], ".2f"),
                    cell(row["end_to_end_p50_s"], ".2f"),
                ]
                for name, row in report["methods"].items()
            ],
        ),
    ]
    lines += _paired_table(report)
    if report.get("crag_growth"):
        lines += [
            "",
            f"CRAG prompt growth ({setup['growth_questions']} questions; passages = the conversation "
            "turns most similar to the question by MiniLM cosine; encoder tokens; CRAG with at most "
            "64 tokens per cluster and no overall rate, lingua at rate 1/3):",
            "",
            markdown_table(
                [
                    "passages",
                    "tokens in",
                    "CRAG tokens",
                    "CRAG +q tokens",
                    "CRAG clusters",
                    "lingua 3x tokens",
                ],
                [
                    [
                        size,
                        cell(row["tokens_before"], ".0f"),
                        cell(row["crag_tokens"], ".0f"),
                        cell(row["crag_q_tokens"], ".0f"),
                        cell(row["crag_clusters"], ".1f"),
                        cell(row["lingua_3x_tokens"], ".0f"),
                    ]
                    for size, row in report["crag_growth"].items()
                ],
                text_columns=0,
            ),
        ]
    return "\n".join(lines) + "\n"


def _paired_table(report: dict[str, Any]) -> list[str]:
    """Each method against the table's first row (normally `none`), question by question: the
    share of its F1, the mean difference, better / worse / tied, and the sign-flip test's p."""
    names = list(report["methods"])
    answers = report.get("answers", [])
    if len(names) < 2 or not answers:
        return []
    first = names[0]

    def scores(name: str) -> dict[str, float]:
        return {f"{row['sample']}:{row['qa_index']}": row[name]["f1"] for row in answers}

    rows = []
    for name in names[1:]:
        test = paired_comparison(scores(name), scores(first))
        share = report["methods"][name]["answer_f1"] / max(report["methods"][first]["answer_f1"], 1e-9)
        rows.append(
            [
                name,
                f"{share:.0%}",
                cell(test["mean_diff"], "+.3f"),
                f"{test['wins']} / {test['losses']} / {test['ties']}",
                cell(test["p_value"], ".3f"),
            ]
        )
    return [
        "",
        f"Per question against `{first}` (paired sign-flip randomization test, 10,000 rounds):",
        "",
        markdown_table(
            ["method", f"F1 as share of {first}", "mean difference", "better / worse / tied", "p"], rows
        ),
    ]


def run(args: argparse.Namespace, command: str, llm: LLM | None = None) -> dict[str, Any]:
    """Answer the sampled questions with every method; write the report after each question.
    `llm` replaces the one `args` names (tests)."""
    items = load_items(args.locomo)
    order = np.random.default_rng(args.seed).permutation(len(items))[: args.questions]
    sample = [items[i] for i in order]
    llm = llm or load_llm(LLMConfig(model=args.llm, context_window=args.llm_window, timeout_s=args.timeout))
    lingua = load_lingua(LinguaConfig(head=args.head) if args.head else None)
    crag = CragCompressor(lingua)
    by_kind: dict[str | None, Compressor | None] = {None: None, "lingua": lingua, "crag": crag}
    if any(METHODS[name].compressor == "lingua-titles-off" for name in args.methods):
        by_kind["lingua-titles-off"] = LinguaCompressor(
            LinguaConfig(head=args.head, title_tokens=0), head=lingua.head
        )
    methods = {name: METHODS[name] for name in args.methods}
    llm.chat([{"role": "user", "content": "Say hi."}], max_tokens=2)  # load and warm up before timing
    lingua.compress("warm up the encoder once", rate=0.5)
    stats = {name: MethodStats() for name in methods}
    answers: list[dict[str, Any]] = []
    report: dict[str, Any] = {
        "setup": {
            "command": command,
            "questions": 0,
            "seed": args.seed,
            "conversations": len({item.sample for item in sample}),
            "context_tokens": args.context_tokens,
            "llm": args.llm,
            "head": str(args.head) if args.head else "packaged",
            "machine": args.machine,
        }
    }
    if args.growth_questions:  # first: it needs no LLM, and a stopped run keeps it
        report["setup"]["growth_questions"] = min(args.growth_questions, len(sample))
        report["crag_growth"] = _crag_growth(sample[: args.growth_questions], crag, args.passages)
    report["methods"] = {}
    for number, item in enumerate(sample, start=1):
        sessions = context_window(llm, item, args.context_tokens)
        # ids only: LoCoMo text (questions, answers) is for evaluation and stays out of the results
        row: dict[str, Any] = {"sample": item.sample, "qa_index": item.qa_index, "category": item.category}
        for name, method in methods.items():
            compressor = by_kind[method.compressor]
            answered = _answer(llm, item, sessions, compressor, method)
            f1 = token_f1(answered.text, item.answer)
            recall = answer_recall(answered.context, item.answer)
            entry = stats[name]
            entry.f1.append(f1)
            entry.answer_recall.append(recall)
            entry.prompt_tokens.append(answered.prompt_tokens)
            entry.compress_s.append(answered.compress_s)
            entry.end_to_end_s.append(answered.total_s)
            entry.rate.append(answered.rate)
            row[name] = {
                "answer": answered.text,
                "f1": f1,
                "answer_recall": recall,
                "prompt_tokens": answered.prompt_tokens,
                "seconds": answered.total_s,
            }
            print(
                f"[{number}/{len(sample)}] {name}: f1={f1:.2f} answer words kept={recall:.2f} "
                f"tokens={answered.prompt_tokens} {answered.total_s:.1f}s",
                flush=True,
            )
        answers.append(row)
        report["setup"]["questions"] = number
        report["methods"] = {name: entry.summary() for name, entry in stats.items()}
        report["answers"] = answers
        _write(args.out, report)
    return report


def _write(out: Path, report: dict[str, Any]) -> None:
    write_report(out.with_suffix(""), markdown(report), report)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evals.longqa", description=__doc__.split("\n\n")[0])
    parser.add_argument("--locomo", type=Path, required=True, help="locomo JSON (evaluation use only)")
    parser.add_argument("--questions", type=int, default=12, help="questions sampled (seeded)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--context-tokens", type=int, default=1500, help="LLM tokens of conversation")
    parser.add_argument("--llm", default="qwen2.5-0.5b", help="local model alias, .gguf, folder or hub name")
    parser.add_argument("--llm-window", type=int, default=2048, help="LLM context window used")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per LLM call")
    parser.add_argument(
        "--methods", nargs="+", choices=list(METHODS), default=list(METHODS), help="table rows, in order"
    )
    parser.add_argument("--passages", type=int, nargs="+", default=[5, 20, 50], help="CRAG growth sizes")
    parser.add_argument("--growth-questions", type=int, default=6, help="questions for CRAG growth (0: skip)")
    parser.add_argument("--head", type=Path, help="keep / drop head for lingua (default: the packaged one)")
    parser.add_argument("--machine", default="shared 2-core CPU, contended", help="stated in the results")
    parser.add_argument("--out", type=Path, default=Path("docs/results/longqa"), help="writes .md and .json")
    return parser


def main(argv: Sequence[str] | None = None, llm: LLM | None = None) -> int:
    import sys

    args = parse_args(_parser(), argv)
    if isinstance(args, int):
        return args
    if not args.locomo.is_file():
        print(f"no LoCoMo file at {args.locomo}", file=sys.stderr)
        return 2
    command = "python -m evals.longqa " + shlex.join(sys.argv[1:] if argv is None else argv)
    report = run(args, command, llm)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
