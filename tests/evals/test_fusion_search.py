"""Fusion tuning on tiny synthetic rankings: fusion methods, the grid, the choice and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.fusion_search import Candidate, KindRankings, _fast_means, fuse, grid, load_rankings, main, tune
from evals.metrics import ndcg_at_k, per_query
from indexers.scoring.fusion import rrf

# Two kinds over queries q0..q9; the relevant document of qi is "ri". "good" puts it first for every
# query, "half" only for even queries (it ranks it fifth for odd ones), "noise" never finds it.
QRELS = {f"q{i}": {f"r{i}": 1} for i in range(10)}


def _ranking(first: str, others: int = 8) -> list[tuple[str, float]]:
    ids = [first, *(f"x{j}" for j in range(others))]
    return [(doc, 10.0 - rank) for rank, doc in enumerate(ids)]


def _members() -> list[KindRankings]:
    good = {q: _ranking(f"r{q[1:]}") for q in QRELS}
    half = {}
    for q in QRELS:
        hits = _ranking(f"y{q[1:]}")
        if int(q[1:]) % 2 == 0:
            hits.insert(0, (f"r{q[1:]}", 11.0))
        else:
            hits.insert(4, (f"r{q[1:]}", 6.5))
        half[q] = hits
    noise = {q: _ranking(f"z{q[1:]}") for q in QRELS}
    return [
        KindRankings("good", "good", good),
        KindRankings("half", "half", half),
        KindRankings("noise", "n", noise),
    ]


def test_rrf_fusion_is_the_service_fusion_over_the_cut_lists() -> None:
    per_kind = {"a": [("d1", 3.0), ("d2", 2.0), ("d3", 1.0)], "b": [("d3", 9.0), ("d4", 1.0)]}
    candidate = Candidate("rrf", (("a", 2.0), ("b", 1.0)), 10, 2)
    expected = rrf({"a": ["d1", "d2"], "b": ["d3", "d4"]}, {"a": 2.0, "b": 1.0}, 10)
    assert fuse(per_kind, candidate) == [doc for doc, _ in expected]
    # weight 0 leaves a kind out entirely
    assert fuse(per_kind, Candidate("rrf", (("a", 1.0), ("b", 0.0)), 10, 3)) == ["d1", "d2", "d3"]


def test_score_fusion_normalises_each_list() -> None:
    per_kind = {"a": [("d1", 100.0), ("d2", 50.0), ("d3", 0.0)], "b": [("d3", 0.9), ("d2", 0.8), ("d1", 0.1)]}
    # min-max: a gives 1, .5, 0; b gives 1, .875, 0 -> d2 = 1.375 wins, then d3 (1.0), d1 (1.0) by id
    assert fuse(per_kind, Candidate("minmax", (("a", 1.0), ("b", 1.0)), 0, 3)) == ["d2", "d1", "d3"]
    # a document a list lacks gets that list's lowest value
    cut = fuse(per_kind, Candidate("minmax", (("a", 1.0), ("b", 1.0)), 0, 2))
    assert cut[0] == "d1" and set(cut) == {"d1", "d2", "d3"}
    z = fuse(per_kind, Candidate("zscore", (("a", 3.0), ("b", 1.0)), 0, 3))
    assert z[0] == "d1"
    with pytest.raises(ValueError, match="method"):
        fuse(per_kind, Candidate("borda", (("a", 1.0), ("b", 1.0)), 0, 3))


def test_grid_keeps_two_kinds_and_drops_scaled_repeats() -> None:
    candidates = grid(
        ["a", "b"], weights=(0.0, 1.0, 2.0), ks=(10, 60), depths=(50,), methods=("rrf", "minmax")
    )
    vectors = {c.weights for c in candidates}
    # (1, 1) and (2, 2) are one direction; a single kind above 0 is no fusion
    assert vectors == {(("a", 1.0), ("b", 1.0)), (("a", 1.0), ("b", 2.0)), (("a", 2.0), ("b", 1.0))}
    assert len([c for c in candidates if c.method == "rrf"]) == 3 * 2
    assert len([c for c in candidates if c.method == "minmax"]) == 3
    assert Candidate("rrf", (("a", 1.0), ("b", 2.0)), 60, 50).name == "rrf k=60 d=50 a:1 b:2"


def test_tune_chooses_on_the_tuning_split_and_reports_the_other() -> None:
    members = _members()
    tune_qrels = {q: j for q, j in QRELS.items() if int(q[1:]) < 6}
    report_qrels = {q: j for q, j in QRELS.items() if int(q[1:]) >= 6}
    result = tune(members, tune_qrels, report_qrels, grid(["good", "half", "noise"], depths=(5, 20)), top=3)
    assert result["best_member"] == "good"
    assert result["members"]["good"] == {"tune": 1.0, "report": 1.0}
    chosen = result["chosen"]
    assert chosen["tune_ndcg_at_10"] == 1.0 and chosen["weights"]["good"] >= chosen["weights"]["noise"]
    assert chosen["report_vs_best"]["losses"] == 0
    shown = result["candidates"]
    assert shown[-1]["reference"] and shown[-1]["rrf_k"] == 60 and not shown[0]["reference"]
    assert {"rrf", "minmax", "zscore"} <= {row["method"] for row in shown}  # each method's best is shown
    subsets = {tuple(row["kinds"]): row for row in result["subsets"]}
    assert len(subsets) == 4  # three pairs and the three kinds together
    assert subsets[("half", "noise")]["report_best_member"] == "half"
    assert [r["tune_ndcg_at_10"] for r in shown[:3]] == sorted(
        (r["tune_ndcg_at_10"] for r in shown[:3]), reverse=True
    )


def test_fast_grid_scores_agree_with_the_exact_fusion() -> None:
    members = _members()
    by_kind = {m.kind: m for m in members}
    candidates = grid(list(by_kind), depths=(3, 20))
    fast = _fast_means(by_kind, QRELS, candidates)
    for candidate in candidates:
        if all(w > 0 for _, w in candidate.weights):  # weight 0 may differ when pools are tiny
            ranked = {q: fuse({k: m.rankings[q] for k, m in by_kind.items()}, candidate) for q in QRELS}
            exact = sum(per_query(ndcg_at_k, ranked, QRELS, 10).values()) / len(QRELS)
            assert fast[candidate] == pytest.approx(exact), candidate.name


def _write_members(folder: Path) -> list[Path]:
    paths = []
    for member in _members():
        path = folder / f"{member.kind}.json"
        rankings = {q: [[d, s] for d, s in hits] for q, hits in member.rankings.items()}
        path.write_text(json.dumps({"kind": member.kind, "label": member.label, "rankings": rankings}))
        paths.append(path)
    return paths


def test_command_line_search_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    (data / "qrels").mkdir(parents=True)
    (data / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": d, "title": "", "text": f"text {d}"}) + "\n" for d in ["r0", "r1", "x0"])
    )
    (data / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": q}) + "\n" for q in QRELS))
    for split, ids in (("train", range(6)), ("dev", range(6, 10))):
        rows = "".join(f"q{i}\tr{i}\t1\n" for i in ids)
        (data / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    paths = _write_members(tmp_path)
    assert load_rankings(paths[0]).rankings["q0"][0] == ("r0", 10.0)
    out = tmp_path / "report"
    code = main(
        ["search", "--data", str(data), "--tune", "train", "--report", "dev", "--weights", "0,1",
         "--rrf-k", "60", "--depths", "20", "--methods", "rrf", "--out", str(out), *map(str, paths)]
    )  # fmt: skip
    assert code == 0
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["tune"] == "train" and saved["best_member"] == "good"
    assert "tuned on train, reported on dev" in capsys.readouterr().out
    assert main(["search", "--data", str(data), str(paths[0]), str(paths[0])]) == 2
