"""Substring search that works for Chinese without pg_trgm: character uni- and bigrams in a GIN index.

A query word's bigrams must all be present (index lookup); the row is then confirmed with ILIKE,
so the index narrows and the LIKE decides.
"""

from __future__ import annotations

MAX_TOKENS_SOURCE = 20_000  # characters of text indexed per case; descriptions are ≤ 10 000


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def tokens_for(*texts: str | None) -> list[str]:
    tokens: set[str] = set()
    for text in texts:
        if not text:
            continue
        for word in _norm(text)[:MAX_TOKENS_SOURCE].split(" "):
            tokens.update(word)
            tokens.update(word[i : i + 2] for i in range(len(word) - 1))
    return sorted(tokens)


def query_tokens(word: str) -> list[str]:
    word = _norm(word)
    if len(word) < 2:
        return [word] if word else []
    return sorted({word[i : i + 2] for i in range(len(word) - 1)})


def like_pattern(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
