"""Two in-process LLM runtimes side by side: llama.cpp (`llamacpp`) and transformers (`local`).

    python -m benchmarks.llm_runtime [--models qwen2.5-0.5b [qwen2.5-1.5b | a .gguf path ...]] \
        [--backends local llamacpp] [--requantize iq4_nl off] [--threads 2] [--repeats 3] \
        [--prompt-tokens 350] [--max-tokens 128] [--results-dir docs/results] [--name llm-runtime]

For each model and backend (llama.cpp once per `--requantize` setting: the weights re-quantised for
its fastest CPU kernels, or the file as it is), in one process and one after the other: the load time
(the first load of a packaged model also de-quantises it for `local`, or re-quantises it for `iq4_nl`,
into the cache folder; the row says so), then one
untimed warm-up call, then `--repeats` rounds of two greedy calls with a prompt of about
`--prompt-tokens` tokens: one with a 1-token reply (its time is the prompt evaluation) and one with a
`--max-tokens` reply (the total). Prompt tokens/s = prompt tokens / first call's time; generated
tokens/s = reply tokens / (total - first call's time). Medians over the rounds are reported. Every
call starts with a different line, so llama.cpp's prompt cache cannot reuse an earlier prompt beyond
the chat template's opening. Both runtimes get `--threads` threads; the OpenMP wait policy is set to
`--omp-wait-policy` before either loads (both runtimes share one OpenMP runtime in the process).
The load average is recorded before and after each row. Writes `<name>.md` and `<name>.json`.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from evals import report
from evals.report import cell
from indexers.cli_args import parse_args
from indexers.errors import InvalidConfig
from indexers.models.causal_lm import default_cache_dir, is_gguf_model, load_causal_lm
from indexers.models.llm import LLM, ChatMessage, LLMConfig, LocalLLM

__all__ = ["main", "markdown", "measure"]

TITLE = "# LLM runtimes: llama.cpp against transformers"
COLOURS = ["red", "blue", "green", "amber", "grey", "white", "black", "violet"]
THINGS = ["lamp", "chair", "kettle", "map", "clock", "basket", "violin", "mirror"]
ASK = "Rewrite every note above as a numbered list, one full sentence per note, adding what it implies."


def _notes(llm: LLM, budget: int) -> str:
    """Deterministic short notes adding up to about `budget` tokens of this model's tokenizer."""
    lines: list[str] = []
    used = 0
    while used < budget or not lines:
        i = len(lines)
        line = (
            f"Note {i + 1}: the {COLOURS[i % len(COLOURS)]} {THINGS[(i * 3) % len(THINGS)]} "
            f"was moved to room {i * 7 % 50 + 1} on day {i + 2}."
        )
        used += llm.count_tokens(line + "\n")
        lines.append(line)
    return "\n".join(lines)


def _messages(opening: str, notes: str) -> list[ChatMessage]:
    return [{"role": "user", "content": f"{opening}\n{notes}\n\n{ASK}"}]


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _rss_mb() -> float:
    """Resident memory of this process now (Linux), MB; 0 elsewhere."""
    try:
        with open("/proc/self/status", encoding="utf-8") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measure(config: LLMConfig, repeats: int, prompt_tokens: int, max_tokens: int) -> dict[str, Any]:
    """One row: load time, prompt and generation speed and total time (medians over `repeats`)."""
    from indexers.models.llamacpp import LlamaCppLLM

    load_before = _load_average()
    rss_before = _rss_mb()
    folder = Path(config.model).stem if config.model.endswith(".gguf") else config.model
    cache = config.resolved_cache_dir()
    requantized = set(cache.glob("*.iq4_nl.gguf"))
    converted = (
        config.backend == "local"
        and is_gguf_model(config.model)
        and not (cache / folder / "config.json").exists()
    )
    started = time.perf_counter()
    llm: LLM = LocalLLM(config) if config.backend == "local" else LlamaCppLLM(config)
    llm.count_tokens("load")  # loads the model
    load_s = time.perf_counter() - started
    converted = converted or set(cache.glob("*.iq4_nl.gguf")) != requantized
    notes = _notes(llm, prompt_tokens - 40)
    llm.chat([{"role": "user", "content": "Say hi."}], max_tokens=2)  # one-off allocations, untimed
    rounds: list[dict[str, Any]] = []
    for number in range(repeats):
        first = llm.chat(_messages(f"Round {number}, pass A.", notes), max_tokens=1)
        full = llm.chat(_messages(f"Round {number}, pass B.", notes), max_tokens=max_tokens)
        decode_s = max(full.seconds - first.seconds, 1e-9)
        rounds.append(
            {
                "prompt_tokens": full.prompt_tokens,
                "prompt_s": first.seconds,
                "completion_tokens": full.completion_tokens,
                "finish_reason": full.finish_reason,
                "total_s": full.seconds,
                "prompt_tok_s": first.prompt_tokens / first.seconds,
                "gen_tok_s": full.completion_tokens / decode_s,
            }
        )
    row = {
        "model": config.model,
        "backend": config.backend,
        "weights": "fp32" if config.backend == "local" else config.requantize,
        "threads": config.threads,
        "load_s": load_s,
        "converted_on_load": converted,
        "rss_growth_mb": _rss_mb() - rss_before,
        **{
            key: statistics.median(r[key] for r in rounds)
            for key in ("prompt_tokens", "completion_tokens", "prompt_tok_s", "gen_tok_s", "total_s")
        },
        "rounds": rounds,
        "load_average_before": load_before,
        "load_average_after": _load_average(),
    }
    del llm
    load_causal_lm.cache_clear()
    gc.collect()
    return row


def markdown(result: dict[str, Any]) -> str:
    """The result table."""
    rows = [
        [
            r["model"],
            r["backend"],
            r.get("weights", ""),
            cell(r["load_s"], ".1f") + (" (converted)" if r["converted_on_load"] else ""),
            cell(r["prompt_tokens"], ".0f"),
            cell(r["prompt_tok_s"], ".0f"),
            cell(r["completion_tokens"], ".0f"),
            cell(r["gen_tok_s"], ".1f"),
            cell(r["total_s"], ".2f"),
            cell(r["rss_growth_mb"], ",.0f"),
            " / ".join(f"{x:.2f}" for x in r["load_average_before"][:1] + r["load_average_after"][:1]),
        ]
        for r in result["rows"]
    ]
    header = [
        "model",
        "backend",
        "weights",
        "load s",
        "prompt tokens",
        "prompt tok/s",
        "reply tokens",
        "gen tok/s",
        "total s",
        "RSS growth MB",
        "load avg before / after",
    ]
    return report.markdown_table(header, rows, text_columns=3)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.llm_runtime", description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["qwen2.5-0.5b"], help="packaged aliases or .gguf paths")
    p.add_argument("--backends", nargs="+", choices=["local", "llamacpp"], default=["local", "llamacpp"])
    p.add_argument(
        "--requantize",
        nargs="+",
        choices=["iq4_nl", "off"],
        default=["iq4_nl"],
        help="llamacpp: one row per setting (iq4_nl: re-quantised for its fastest CPU kernels; off: as is)",
    )
    p.add_argument("--threads", type=int, default=2, help="CPU threads for both runtimes")
    p.add_argument("--repeats", type=int, default=3, help="timed rounds per row (medians reported)")
    p.add_argument("--prompt-tokens", type=int, default=350, help="about this many prompt tokens")
    p.add_argument("--max-tokens", type=int, default=128, help="reply tokens of the timed call")
    p.add_argument("--context-window", type=int, default=2048)
    p.add_argument("--omp-wait-policy", choices=["PASSIVE", "ACTIVE"], default="PASSIVE")
    p.add_argument("--cache-dir", type=Path, help="model cache folder (default: the library's)")
    p.add_argument("--results-dir", type=Path, default=Path("docs/results"))
    p.add_argument("--name", default="llm-runtime", help="output file stem")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run `python -m benchmarks.llm_runtime`; returns 0, or 2 for bad arguments or a missing model."""
    args = parse_args(_parser(), argv)
    if isinstance(args, int):
        return args
    torch_loaded = "torch" in sys.modules
    os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy
    if "local" in args.backends:
        import torch

        torch.set_num_threads(args.threads)
    result: dict[str, Any] = {
        "setup": {
            "command": "python -m benchmarks.llm_runtime " + " ".join(sys.argv[1:] if argv is None else argv),
            **{k: str(v) for k, v in vars(args).items()},
            "cpu_count": os.cpu_count(),
            "omp_wait_policy_effective": not torch_loaded,
            "versions": {name: version(name) for name in ("xllamacpp", "torch", "transformers")},
            "created_at": datetime.now(UTC).isoformat(),
            "load_average_start": _load_average(),
        },
        "rows": [],
    }
    for model in args.models:
        runs = [
            (backend, weights)
            for backend in args.backends
            for weights in (args.requantize if backend == "llamacpp" else ["off"])
        ]
        for backend, weights in runs:
            config = LLMConfig(
                backend=backend,
                model=model,
                context_window=args.context_window,
                timeout_s=3600,
                threads=args.threads,
                parallel=1,
                device="cpu",
                cache_dir=args.cache_dir or default_cache_dir(),
                requantize=weights,
            )
            try:
                row = measure(config, args.repeats, args.prompt_tokens, args.max_tokens)
            except InvalidConfig as exc:
                print(f"python -m benchmarks.llm_runtime: error: {exc}", file=sys.stderr)
                return 2
            result["rows"].append(row)
            print(
                f"{model} {backend} {row['weights']}: load {row['load_s']:.1f} s, "
                f"prompt {row['prompt_tok_s']:.0f} tok/s, gen {row['gen_tok_s']:.1f} tok/s, "
                f"total {row['total_s']:.2f} s",
                file=sys.stderr,
            )
    result["setup"]["load_average_end"] = _load_average()
    table = markdown(result)
    setup = result["setup"]
    text = (
        f"{TITLE}\n\n`{setup['command']}`\n\n{table}\n\n"
        f"{args.threads} threads for both runtimes, OMP_WAIT_POLICY={args.omp_wait_policy}, "
        f"{setup['cpu_count']} CPUs; load average (1, 5, 15 min) at start {setup['load_average_start']}, "
        f"at end {setup['load_average_end']}. Medians of {args.repeats} rounds.\n"
    )
    report.write_report(args.results_dir / args.name, text, result)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
