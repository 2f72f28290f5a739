"""Catalog search words, shared by what an entry stores and what a query asks (Django-free).

Both sides are cut into the same words: lower-cased runs of letters and digits, so every other character
(`_`, `.`, `-`, `/`, `,`, spaces) separates words and `vit_small_patch16_224.augreg_in21k` is
`vit small patch16 224 augreg in21k`. A query word matches an entry word it starts (`resn` finds `resnet50`).
A word of the model's *name* also matches from inside: its suffixes of at least MIN_SUFFIX characters are stored
too, so `resnet50` finds `cspresnet50` and `net50` finds `resnet50`.

The stored text is these words separated by single spaces (with a leading space, so "starts a word" is one
substring test, `' ' + word`, on any database). PostgreSQL indexes the same text as a `tsvector` (migration
catalog.0004) and asks `word:* & word:*`; SQLite runs the equivalent LIKE per word; both answer the same.
Relevance (a query without an ordering): the model name's words, joined as the query's are (`name_key`,
`query_key`), rank the matches in three tiers: (0) the name starts with the query (`resnet50` -> `resnet50.a1_in1k`,
`vit small` -> `vit_small_patch16_224`; the exact name first, since it sorts before its extensions), (1) every query
word starts a word of the name (`small vit`), (2) the other matches (`cspresnet50`, a word of the title or tags).
Within a tier, by the name's words in byte order. Tier 0 is a prefix of one indexed column, so a page of a broad
query is read from an index, in order, without ranking every match.
"""

import re

_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script; `_` is a separator, not a letter
MIN_SUFFIX = 2


def words(text: str) -> list[str]:
    """The lower-cased words of `text`, in order, repeats kept."""
    return _WORD.findall(text.lower())


def _inner_suffixes(word: str) -> list[str]:
    return [word[start:] for start in range(1, len(word) - MIN_SUFFIX + 1)]


def document_text(*, name: str, fields: list[str]) -> str:
    """What an entry stores to be found: the name's words and their inner suffixes, then the other fields' words,
    each once."""
    name_words = words(name)
    found: dict[str, None] = dict.fromkeys(name_words)
    for word in name_words:
        found.update(dict.fromkeys(_inner_suffixes(word)))
    for field in fields:
        found.update(dict.fromkeys(words(field)))
    return " " + " ".join(found) if found else ""


def query_words(query: str) -> list[str]:
    """The words a query asks for, each once; every one must match. Punctuation alone asks for nothing."""
    return list(dict.fromkeys(words(query)))


def tsquery(query_words: list[str]) -> str:
    """A PostgreSQL to_tsquery text: every word as a prefix. Safe to pass as a parameter: words hold only
    letters and digits, none of tsquery's operators."""
    return " & ".join(f"{word}:*" for word in query_words)


def name_key(name: str) -> str:
    """The name's words, each after a space (`" vit small patch16 224"`): what a prefix of the name is tested on."""
    return "".join(f" {word}" for word in words(name))


def query_key(query_words: list[str]) -> str:
    """The query's words as name_key writes a name's, so `name_key(name).startswith(query_key(words))` says the
    name starts with the query (its last word may end inside a word of the name)."""
    return "".join(f" {word}" for word in query_words)
