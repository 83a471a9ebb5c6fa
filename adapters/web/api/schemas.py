"""The JSON bodies of the sync API's error responses."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, computed_field


class ErrorBody(BaseModel):
    error: str = Field(description="What was wrong, in words.")


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(
        description='Where: ["body", 3, "items", 0, "sku"] is the sku of the first line '
        "of the fourth record of a batch."
    )
    msg: str
    type: str = Field(description="A stable name for the kind of problem.")

    @computed_field(  # type: ignore[prop-decorator]
        description='`loc` written as a path in the body: "rule.all[2].value", "[3].items[0].sku".'
    )
    @property
    def path(self) -> str:
        parts = self.loc[1:] if self.loc[:1] == ["body"] else self.loc
        text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
        return text.removeprefix(".")


class InvalidInput(BaseModel):
    error: Literal["invalid input"] = "invalid input"
    errors: list[ErrorDetail]
