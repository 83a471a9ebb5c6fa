"""What every batch upsert shares: problems, rejection, field copying, lookups.

A batch is checked whole before anything is written; its problems are reported
together as RecordsRejected.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import DomainError
from crm.models import ProductVariant, Store
from crm.records import BatchResult

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """What is wrong with one field of one record; loc starts at the record's index."""

    loc: Loc
    msg: str
    type: str


class RecordsRejected(DomainError):
    """Records name unknown things or clash with existing ones; nothing was written."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{list(p.loc)}: {p.msg}" for p in self.problems))


def reject_if(problems: Sequence[Problem]) -> None:
    if problems:
        raise RecordsRejected(problems)


@contextmanager
def one_record() -> Iterator[None]:
    """A single-record call reports problems at the record, not at index 0 of a batch."""
    try:
        yield
    except RecordsRejected as exc:
        raise RecordsRejected([replace(p, loc=p.loc[1:]) for p in exc.problems]) from None


def duplicates(keys: Iterable[tuple[Loc, Hashable]]) -> list[Problem]:
    first: dict[Hashable, Loc] = {}
    problems = []
    for loc, key in keys:
        if key in first:
            problems.append(
                Problem(loc, f"repeats record {first[key][0]} of this batch", "duplicate")
            )
        else:
            first[key] = loc
    return problems


def unknown(loc: Loc, what: str, key: str) -> Problem:
    return Problem(loc, f"no {what} {key!r}: send it first", "unknown_reference")


def assign(row: object, record: BaseModel, fields: Iterable[str], *, created: bool) -> None:
    """Copy fields from the record: all of them to a new row, only those sent to an old one."""
    sent = record.model_fields_set
    for name in fields:
        if created or name in sent:
            setattr(row, name, getattr(record, name))


def count(outcomes: Sequence[tuple[object, bool]]) -> BatchResult:
    created = sum(1 for _, was_created in outcomes if was_created)
    return BatchResult(created=created, updated=len(outcomes) - created)


async def store_ids(session: AsyncSession, codes: Iterable[str]) -> dict[str, int]:
    wanted = set(codes)
    if not wanted:
        return {}
    rows = await session.execute(select(Store.code, Store.id).where(Store.code.in_(wanted)))
    return dict(rows.all())


async def variant_ids(session: AsyncSession, skus: Iterable[str]) -> dict[str, int]:
    wanted = set(skus)
    if not wanted:
        return {}
    rows = await session.execute(
        select(ProductVariant.sku, ProductVariant.id).where(ProductVariant.sku.in_(wanted))
    )
    return dict(rows.all())
