"""The commands' typed results: ``to_dict()`` keeps the keys, their order and their presence."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from repspace.maps.compression import CompressResult
from repspace.maps.migration import MigrationPlan
from repspace.results import INTERNAL, OPTIONAL, Result, as_dict, renamed


@dataclass(kw_only=True)
class _Example(Result):
    kind: str = field(default="example", init=False)
    name: str
    score: float | None
    note: str | None = field(default=None, metadata=OPTIONAL)
    at_1: float | None = field(default=None, metadata=renamed("r@1", optional=True))
    obj: Any = field(default=None, metadata=INTERNAL)


def test_to_dict_keeps_order_drops_optional_none_and_internal() -> None:
    r = _Example(name="a", score=None, obj=object())
    assert r.to_dict() == {"kind": "example", "name": "a", "score": None}  # not optional: kept
    r.at_1, r.note = 0.5, "n"
    assert list(r.to_dict()) == ["kind", "name", "score", "note", "r@1"]
    assert json.loads(json.dumps(r.to_dict()))["r@1"] == 0.5
    with pytest.raises(TypeError):
        _Example(kind="other", name="a", score=1.0)  # type: ignore[call-arg]


def test_as_dict_takes_a_result_or_a_mapping() -> None:
    r = _Example(name="a", score=1.0)
    assert as_dict(r) == r.to_dict() and as_dict(r.to_dict()) == r.to_dict()


def test_compress_result_keys_as_before() -> None:
    r = CompressResult(space="s", n=3, dim=8, method="pca", dims=[4], fit_seconds=0.1)
    assert list(r.to_dict()) == ["space", "n", "dim", "method", "dims", "fit_seconds", "maps",
                                 "spaces"]  # fmt: skip
    r.curve, r.report = {"points": []}, "r.html"
    assert list(r.to_dict())[-2:] == ["curve", "report"]


def test_migration_plan_keys_with_and_without_a_task() -> None:
    common = {"old": "o", "new": "hash:8", "method": "procrustes", "sample": 2, "anchors": {}}
    plain = MigrationPlan(**common, fitted=object(), self_r1=1.0, self_r10=1.0, curve=[],
                          advice="a")  # fmt: skip
    assert list(plain.to_dict()) == [*common, "self_r@1", "self_r@10", "curve", "advice"]
    tasked = MigrationPlan(**common, fitted=object(), old_ndcg10=0.0, mapped_ndcg10=0.0,
                           retained=None, task="t", curve=[], advice="a")  # fmt: skip
    assert list(tasked.to_dict()) == [*common, "old_ndcg10", "mapped_ndcg10", "retained", "task",
                                      "curve", "advice"]  # fmt: skip
    assert tasked.to_dict()["retained"] is None and "fitted" not in tasked.to_dict()
