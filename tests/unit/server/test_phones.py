"""Phone numbers to E.164 for sending: what people type is accepted, the rest is a 400, and
every string the OpenAPI pattern calls valid is accepted."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd.errors import BadRequest
from syncd.server.outbound.phones import PHONE_PATTERN, e164


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("+1 (202) 555-0123", "+12025550123"),
        ("0049 151 1234 5678", "+4915112345678"),
        ("+55 11 91234-5678", "+5511912345678"),
        ("+33.6.12.34.56.78", "+33612345678"),
    ],
)
def test_typed_numbers_become_e164(typed: str, normal: str) -> None:
    assert e164(typed) == normal


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "2025550123",
        "+1 202 555 abcd",
        "+0 202 555 0123",
        "+1 202",
        "+" + "1" * 16,
        "+١٢٣٤٥٦٧٨٩",
    ],
)
def test_numbers_without_country_or_of_wrong_length_are_refused(bad: str) -> None:
    with pytest.raises(BadRequest):
        e164(bad)


@given(st.from_regex(PHONE_PATTERN, fullmatch=True))
def test_every_schema_valid_number_is_accepted(typed: str) -> None:
    assert re.fullmatch(r"\+[1-9][0-9]{7,14}", e164(typed))
