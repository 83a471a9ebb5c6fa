"""The JSON bodies of the sync API's error responses."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    error: str = Field(description="What was wrong, in words.")


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(
        description='Where: ["body", 3, "items", 0, "sku"] is the sku of the first line '
        "of the fourth record of a batch."
    )
    msg: str
    type: str = Field(description="A stable name for the kind of problem.")


class InvalidInput(BaseModel):
    error: Literal["invalid input"] = "invalid input"
    errors: list[ErrorDetail]
