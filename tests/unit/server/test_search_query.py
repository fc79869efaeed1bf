"""The search query parser: every word a quoted prefix term (never FTS syntax), phone-like
queries keep their digits, bad queries are a clear 400."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd.errors import BadRequest
from syncd.server.meta.sqlite import fts5_match
from syncd.server.search import MAX_QUERY_CHARS, MAX_TERMS, parse_query


@pytest.mark.parametrize(
    ("text", "match", "digits"),
    [
        ("alice", '"alice"*', None),
        ("Prix  ÉTÉ", '"Prix"* "ÉTÉ"*', None),
        ('NEAR(a b) OR "x', '"NEAR"* "a"* "b"* "OR"* "x"*', None),
        ("+1 202-555-0123", '"1"* "202"* "555"* "0123"*', "12025550123"),
        ("(555) 0123", '"555"* "0123"*', "5550123"),
        ("123", '"123"*', None),  # too short for a phone substring
        ("room 5550123", '"room"* "5550123"*', None),  # words: not a phone
    ],
)
def test_query_becomes_quoted_prefix_terms(text: str, match: str, digits: str | None) -> None:
    query = parse_query(text)
    assert query is not None and (fts5_match(query.words), query.digits) == (match, digits)


@pytest.mark.parametrize("text", ["   ", "*** ---", '"', "\u0091\U000361b6"])
def test_query_without_words_finds_nothing(text: str) -> None:
    assert parse_query(text) is None


@pytest.mark.parametrize("text", ["", "x" * (MAX_QUERY_CHARS + 1)])
def test_empty_or_too_long_query_is_refused(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_query(text)


@given(st.text(max_size=MAX_QUERY_CHARS))
def test_any_text_is_refused_or_only_quoted_terms(text: str) -> None:
    try:
        query = parse_query(text)
    except BadRequest:
        return
    if query is None:
        assert not re.search(r"\w", text)
        return
    terms = fts5_match(query.words).split(" ")
    assert 1 <= len(terms) <= MAX_TERMS
    assert all(re.fullmatch(r'"\w+"\*', term) for term in terms)
