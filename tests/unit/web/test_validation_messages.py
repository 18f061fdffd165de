"""Pydantic's validation errors in Chinese (web/errors.py::validation_message)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field, ValidationError

from citycredit.web.errors import validation_message
from citycredit.web.params import IsoDate

ENGLISH = re.compile(
    r"Field required|Input should|should (be|have|match)|String should|Value error"
)


class _Every(BaseModel):
    name: Annotated[str, Field(min_length=2, max_length=3, pattern=r"^[a-z]+$")]
    count: Annotated[int, Field(ge=1, le=5)]
    ratio: Annotated[float, Field(gt=0, lt=1)]
    flag: bool
    kind: Literal["a", "b"]
    day: IsoDate
    when: date
    tags: Annotated[list[str], Field(min_length=1, max_length=2)]
    inner: dict[str, int]


@pytest.mark.parametrize(
    "data",
    [
        {},
        {
            "name": "ABCD",
            "count": 9,
            "ratio": 2,
            "flag": "maybe",
            "kind": "c",
            "day": "昨天",
            "when": "x",
            "tags": [],
            "inner": [1],
        },
        {
            "name": "a",
            "count": "x",
            "ratio": "y",
            "flag": 3,
            "kind": 1,
            "day": 5,
            "when": 5.5,
            "tags": ["a", "b", "c"],
            "inner": {"k": "v"},
        },
        {"name": 5, "count": 0, "ratio": 0, "tags": "x", "inner": 1},
    ],
)
def test_every_error_pydantic_raises_here_reads_in_chinese(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as raised:
        _Every.model_validate(data)
    for e in raised.value.errors():
        text = validation_message(dict(e))
        assert text and text != "取值无效" and not ENGLISH.search(text), (e, text)
        assert re.search(r"[\u4e00-\u9fff]", text), (e, text)
