"""The segments API's bodies and answers: one definition validates, drives and documents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from crm.segments.rules import Rule, check_size

SAMPLE_SIZE = 10

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
CustomerRef = Annotated[
    str | None,
    Field(description="The customer's external id; null for one known only from a chat."),
]


class _HasRule(BaseModel):
    @field_validator("rule", check_fields=False)
    @classmethod
    def _size(cls, rule: Rule | None) -> Rule | None:
        return None if rule is None else check_size(rule)


class RuleBody(_HasRule):
    """A segment rule to count and preview, as it is being written. Nothing is saved."""

    rule: Rule


class SegmentDraft(_HasRule):
    """A new segment: a name and its rule."""

    name: Name
    rule: Rule


class SegmentChange(_HasRule):
    """A new name, a new rule, or both; what is omitted is kept."""

    name: Name | None = None
    rule: Rule | None = None

    @model_validator(mode="after")
    def _something(self) -> SegmentChange:
        if self.name is None and self.rule is None:
            raise ValueError("send a name, a rule, or both")
        return self


class Preview(BaseModel):
    count: int = Field(description="How many customers the rule matches now.")
    sample: list[CustomerRef] = Field(
        description=f"Up to {SAMPLE_SIZE} of them, the longest known first."
    )


class SegmentCreated(BaseModel):
    id: int
    count: int


class SegmentSummary(BaseModel):
    id: int
    name: str
    created_at: datetime
    updated_at: datetime


class SegmentList(BaseModel):
    segments: list[SegmentSummary] = Field(description="Not archived, the newest first.")


class SegmentView(SegmentSummary):
    rule: Rule
    count: int = Field(description="How many customers the rule matches now.")
    sample: list[CustomerRef]
