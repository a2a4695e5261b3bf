"""Console views without a server: result files as tables and plots, SVG scatter plots, heat-map segments."""

from __future__ import annotations

import json
import re
from pathlib import Path

from service.console.heatmap import heat_segments
from service.console.plots import Point, scatter_svg
from service.console.reports import format_value, report_view

RESULTS = Path(__file__).parents[3] / "docs" / "results"


def test_beir_results_become_a_table_with_two_plots() -> None:
    data = json.loads((RESULTS / "scifact-dev.json").read_text())
    view = report_view("scifact-dev.json", data)
    assert view.summary == {"dataset": "scifact", "split": "dev", "limit_docs": None}
    (table,) = view.tables
    assert table.title == "results" and len(table.rows) == len(data["results"])
    assert {"label", "ndcg_at_10", "latency_ms_p50", "index_bytes"} <= set(table.columns)
    assert table.omitted == ["config"]
    titles = [re.search(r'aria-label="([^"]+)"', svg).group(1) for svg in table.plots]  # type: ignore[union-attr]
    assert titles == ["ndcg_at_10 against latency", "ndcg_at_10 against index size"]
    assert table.plots[0].count("<circle") == len(data["results"])


def test_load_results_have_tables_but_nothing_to_plot() -> None:
    view = report_view("scifact-load.json", json.loads((RESULTS / "scifact-load.json").read_text()))
    assert [t.title for t in view.tables] == ["ingest", "search"]
    assert view.tables[0].rows[0]["documents"] == 5183
    assert all(not t.plots for t in view.tables)


def test_compression_rows_plot_f1_against_compression_rate() -> None:
    rows = [
        {"method": "none", "compression_rate": 1.0, "answer_f1": 0.41, "latency_ms_p50": 900.0},
        {"method": "llmlingua2", "compression_rate": 3.1, "answer_f1": 0.37, "latency_ms_p50": 310.0},
    ]
    (table,) = report_view("locomo.json", rows).tables
    titles = [re.search(r'aria-label="([^"]+)"', svg).group(1) for svg in table.plots]  # type: ignore[union-attr]
    assert titles == ["answer_f1 against latency", "answer_f1 against compression rate"]
    assert ">llmlingua2</text>" in table.plots[1]


def test_scatter_escapes_labels_and_goes_logarithmic_over_wide_ranges() -> None:
    svg = scatter_svg([Point("<b>a</b>", 1.0, 0.5), Point("b", 1000.0, 0.7)], "latency_ms", "ndcg", "t")
    assert "<b>" not in svg and "&lt;b&gt;a&lt;/b&gt;" in svg
    assert "latency_ms (log scale)" in svg
    xs = [float(x) for x in re.findall(r'<circle cx="([\d.]+)"', svg)]
    assert xs[0] < xs[1]
    narrow = scatter_svg([Point("a", 2.0, 0.5), Point("b", 3.0, 0.5)], "x", "y", "t")
    assert "log scale" not in narrow and narrow.count("<circle") == 2


def test_format_value() -> None:
    assert [format_value(v) for v in (None, True, 5183, 0.73012, 1656.93, "bm25")] == [
        "",
        "True",
        "5,183",
        "0.730",
        "1,656.9",
        "bm25",
    ]


def test_heat_segments_keep_the_text_and_scale_heat() -> None:
    text = "Insulin lowers glucose."
    explanation = {
        "text": text,
        "tokens": [
            {"start": 0, "end": 7, "score": 0.9, "query_token": "insulin", "matched": True},
            {"start": 8, "end": 14, "score": 0.1, "query_token": "insulin", "matched": False},
            {"start": 15, "end": 22, "score": 0.5, "query_token": "glucose", "matched": False},
        ],
    }
    segments = heat_segments(explanation)
    assert "".join(s.text for s in segments) == text
    assert [(s.text, s.heat) for s in segments if s.score is not None] == [
        ("Insulin", 1.0),
        ("lowers", 0.0),
        ("glucose", 0.5),
    ]


def test_vocabulary_terms_on_hits_are_shown() -> None:
    """Vocabulary kinds (SLIM, LENS) put `terms` on their hits; the results view shows them."""
    from service.console.routes import templates

    hit = {"id": "d7", "score": 3.2, "text": "t", "title": None, "matches": None, "top_matches": []}
    hit["terms"] = [{"term": "insulin", "score": 2.5}, {"term": "glucose", "score": 0.7}]
    html = templates.get_template("fragments/results.html").render(
        columns=[{"kind": "slim", "ms": 4.0, "hits": [hit], "explain_kind": "slim"}],
        collection="c",
        query="q",
    )
    assert '<span class="chip term">insulin 2.50</span>' in html
    assert 'class="explain"' not in html  # no token matches: nothing to explain token by token
