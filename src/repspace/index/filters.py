"""Metadata filters: equality on the scalar columns an index keeps from its space."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from repspace.errors import RepspaceError

#: Columns that are not metadata (never filterable).
NOT_FILTERABLE = ("key", "id", "text")


def parse_filters(items: Iterable[str] | None) -> dict[str, str]:
    """``["field=value", ...]`` (the CLI and query-string form) -> ``{field: value}``."""
    out: dict[str, str] = {}
    for item in items or ():
        field, sep, value = item.partition("=")
        if not sep or not field.strip():
            raise RepspaceError(f"filter {item!r} is not 'field=value' (e.g. --filter kind=class)")
        out[field.strip()] = value
    return out


def filterable_columns(table: pa.Table) -> list[str]:
    """The columns a filter may name: scalar (string, number, boolean) metadata columns."""
    return [
        f.name
        for f in table.schema
        if f.name not in NOT_FILTERABLE
        and (
            pa.types.is_string(f.type)
            or pa.types.is_large_string(f.type)
            or pa.types.is_integer(f.type)
            or pa.types.is_floating(f.type)
            or pa.types.is_boolean(f.type)
        )
    ]


def filter_mask(table: pa.Table, filters: Mapping[str, str]) -> np.ndarray:
    """Boolean mask over the table's rows: every ``field == value`` holds. Values compare as
    text (``kind=class``, ``year=2024``, ``flag=true``), so query strings need no typing."""
    allowed = filterable_columns(table)
    mask = np.ones(table.num_rows, dtype=bool)
    for field, value in filters.items():
        if field not in allowed:
            raise RepspaceError(
                f"cannot filter on {field!r}: filterable fields are "
                f"{', '.join(allowed) or 'none (the space has no scalar metadata columns)'}"
            )
        column = table.column(field)
        as_text = pc.cast(column, pa.string())
        if pa.types.is_boolean(column.type):
            value = value.lower()
        eq = pc.fill_null(pc.equal(as_text, pa.scalar(str(value), pa.string())), False)
        mask &= eq.to_numpy(zero_copy_only=False)
    return mask
