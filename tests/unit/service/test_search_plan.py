"""Search plans: the default fusion of a hybrid search (settings) and the request's own weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from indexers.configs import parse_config
from indexers.errors import InvalidConfig, InvalidInput
from service.core.catalog import Catalog
from service.core.search import Searcher
from service.jobs import CollectionSpec
from service.schemas.search import Hybrid
from service.settings import Settings

KINDS = ("bm25", "dense", "colbert_pooled", "xtr")


class _Kinds:
    """Stands in for the catalog: only checks kinds against the collection."""

    def require_kinds(self, spec: CollectionSpec, kinds: list[str]) -> None:
        Catalog.require_kinds(self, spec, kinds)  # type: ignore[arg-type]


def _searcher(tmp_path: Path, **overrides: Any) -> Searcher:
    settings = Settings(mode="embedded", data_dir=tmp_path, ready_models=[], **overrides)
    return Searcher(settings, _Kinds(), None, None)  # type: ignore[arg-type]


def _spec(*kinds: str) -> CollectionSpec:
    return CollectionSpec(name="c", tenant="t", configs=[parse_config({"kind": kind}) for kind in kinds])


def _plan(searcher: Searcher, spec: CollectionSpec, hybrid: Hybrid | None, kind: str | None = None) -> Any:
    return searcher.plan(spec, k=None, kind=kind, hybrid=hybrid, flt=None, explain=False, with_text=False)


def test_default_hybrid_uses_the_fusion_settings(tmp_path: Path) -> None:
    shipped = Settings.model_fields["fusion_weights"].get_default(call_default_factory=True)
    assert set(shipped) <= set(KINDS)  # the weights chosen on SciFact name the measured kinds only
    searcher = _searcher(tmp_path)
    defaults = searcher.settings
    plan = _plan(searcher, _spec(*KINDS), Hybrid())
    assert plan.kinds == list(KINDS)
    assert plan.weights == {kind: defaults.fusion_weights.get(kind, 1.0) for kind in KINDS}
    assert plan.rrf_k == defaults.rrf_k and plan.fusion == defaults.fusion

    tuned = _searcher(tmp_path, fusion_weights={"colbert_pooled": 2.0, "dense": 0.5}, rrf_k=30)
    plan = _plan(tuned, _spec("bm25", "dense", "colbert_pooled"), Hybrid())
    assert plan.weights == {"bm25": 1.0, "dense": 0.5, "colbert_pooled": 2.0}  # bm25 not listed: 1.0
    assert plan.rrf_k == 30
    # the defaults of the fused kinds only, also when the request names them
    plan = _plan(tuned, _spec("bm25", "dense", "colbert_pooled"), Hybrid(kinds=["dense", "colbert_pooled"]))
    assert plan.weights == {"dense": 0.5, "colbert_pooled": 2.0}


def test_request_weights_and_rrf_k_override_the_defaults(tmp_path: Path) -> None:
    tuned = _searcher(tmp_path, fusion_weights={"colbert_pooled": 2.0, "dense": 0.5}, rrf_k=30)
    spec = _spec("bm25", "dense", "colbert_pooled")
    plan = _plan(tuned, spec, Hybrid(weights={"dense": 3.0}, rrf_k=7))
    assert plan.weights == {"bm25": 1.0, "dense": 3.0, "colbert_pooled": 1.0}  # as before: unweighted = 1.0
    assert plan.rrf_k == 7 and plan.fusion == "rrf"  # a request's rrf_k asks for rank fusion
    with pytest.raises(InvalidInput, match="xtr"):
        _plan(tuned, spec, Hybrid(weights={"xtr": 1.0}))
    with pytest.raises(InvalidConfig, match="xtr"):
        _plan(tuned, spec, Hybrid(kinds=["xtr", "bm25"]))


def test_the_fusion_method_comes_from_the_settings_unless_the_request_sets_rrf_k(tmp_path: Path) -> None:
    searcher = _searcher(tmp_path, fusion="zscore")
    spec = _spec("bm25", "dense")
    assert _plan(searcher, spec, Hybrid()).fusion == "zscore"
    assert _plan(searcher, spec, Hybrid(weights={"dense": 2.0})).fusion == "zscore"
    assert _plan(searcher, spec, Hybrid(rrf_k=60)).fusion == "rrf"
    assert _plan(_searcher(tmp_path, fusion="rrf"), spec, Hybrid()).fusion == "rrf"


def test_default_weights_that_would_silence_every_kind_fall_back_to_equal(tmp_path: Path) -> None:
    searcher = _searcher(tmp_path, fusion_weights={"dense": 0.0, "bm25": 0.0, "colbert_pooled": 2.0})
    assert _plan(searcher, _spec("bm25", "dense"), Hybrid()).weights == {"bm25": 1.0, "dense": 1.0}
    assert _plan(searcher, _spec("bm25", "colbert_pooled"), Hybrid()).weights == {
        "bm25": 0.0,
        "colbert_pooled": 2.0,
    }


def test_single_kind_search_has_no_weights(tmp_path: Path) -> None:
    plan = _plan(_searcher(tmp_path, fusion_weights={"dense": 0.5}), _spec("bm25", "dense"), None)
    assert plan.kinds == ["bm25"] and plan.weights == {}


def test_fusion_weights_are_bounded(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fusion_weights"):
        Settings(mode="embedded", data_dir=tmp_path, fusion_weights={"dense": -1.0})
