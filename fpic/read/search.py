"""Search: the cases a person may see whose reference, project, community, notes or questions
hold the words asked for, a page at a time, with where the words were found.

The index is the database's own (migration 0013: FTS5 on SQLite, a tsvector with a GIN index on
PostgreSQL), one document per case, so every word may match anywhere in the case. A query is
never handed to the database as it was typed: it is cut into words here (letters and digits,
any script), and each run of words typed together is sent as one quoted phrase, so no
character of it can be read as FTS5's or tsquery's syntax. Every word must be found
(AND); the last one also as the beginning of a longer word. Letter case and accents do not
matter. Which cases a person sees is decided by ``visible_cases`` alone, as for the case list;
the newest case comes first, which both databases read from their indexes without ranking
every match.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, column, func, literal_column, select, table
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.sql import Executable

from fpic.i18n import N_, Reason
from fpic.read.queries import PER_PAGE, Page, paginate, visible_cases
from fpic.storage.models import Case, CaseNote, Question
from fpic.storage.search_index import SEARCH_TABLE
from fpic.workflow.actors import Actor

#: longer queries are refused (a search box, not a document)
MAX_QUERY_LENGTH = 200
MAX_WORDS = 12
#: the last word also matches longer words from this many letters: "a" would match nearly
#: every case, and cost as much
PREFIX_FROM = 3
#: the places in a case shown for one hit, at most
MATCHES_SHOWN = 3
#: words of context around the first word found, before and after
CONTEXT_BEFORE, CONTEXT_AFTER = 6, 14

#: where in a case the words were found, as a reader is told (the snippet's label)
SOURCE_TITLES = {
    "reference": N_("Reference"),
    "project": N_("Project"),
    "community": N_("Community"),
    "note": N_("Note"),
    "question": N_("Question"),
}

#: a word: letters and digits of any script (an underscore separates, as in the index)
_WORD = re.compile(r"[^\W_]+")
_SPACES = re.compile(r"\s+")
#: letters with a stroke that Unicode does not decompose, folded as the index folds them
_STROKES = str.maketrans("ØøŁłĐđĦħıŦŧƗɨɃƀ", "oollddhhittiibb")


@dataclass(frozen=True)
class Query:
    """What was asked: runs of words typed together, each found as a phrase."""

    phrases: tuple[tuple[str, ...], ...]
    #: the last word also matches as the beginning of a longer word
    prefix: bool

    @property
    def words(self) -> list[str]:
        return [word for phrase in self.phrases for word in phrase]


@dataclass(frozen=True)
class Excerpt:
    """A short piece of text, as (text, matched) parts: the matched ones are words asked for."""

    parts: tuple[tuple[str, bool], ...]


@dataclass(frozen=True)
class Match:
    """One place of a case where the words were found."""

    #: reference, project, community, note, question (SOURCE_TITLES)
    source: str
    excerpt: Excerpt

    @property
    def title(self) -> str:
        return SOURCE_TITLES[self.source]


@dataclass(frozen=True)
class Hit:
    case: Case
    #: where the words were found, at most MATCHES_SHOWN; empty when no one place holds a word
    #: as this module folds it (the database found the words running from one field into the
    #: next, or folded a letter that Python does not)
    matches: list[Match]


@dataclass(frozen=True)
class SearchResult:
    """A page of hits, or why the query was not run (``problem``: nothing to search for, or
    too long)."""

    text: str
    page: Page | None
    problem: Reason | None = None


def parse(text: str) -> Query | Reason:
    """The words of a query, or the reason there are none to look for."""
    text = unicodedata.normalize("NFC", text.strip())
    if len(text) > MAX_QUERY_LENGTH:
        return Reason(
            "query_too_long",
            N_("Search for at most %(max)s characters."),
            {"max": MAX_QUERY_LENGTH},
        )
    phrases = tuple(tuple(words) for chunk in text.split() if (words := _WORD.findall(chunk)))
    count = sum(len(phrase) for phrase in phrases)
    if not count:
        return Reason("query_empty", N_("Type a word to search for: a reference, a name or "
                                        "words of a note or a question."))  # fmt: skip
    if count > MAX_WORDS:
        return Reason(
            "query_too_many_words",
            N_("Search for at most %(max)s words."),
            {"max": MAX_WORDS},
        )
    return Query(phrases, prefix=len(phrases[-1][-1]) >= PREFIX_FROM)


def search_cases(
    session: Session, actor: Actor, text: str, *, page: int = 1, per_page: int = PER_PAGE
) -> SearchResult:
    """The cases ``actor`` may see that hold every word of ``text``, newest first."""
    query = parse(text)
    if isinstance(query, Reason):
        return SearchResult(text, None, query)
    matching, ordered = matching_cases(session, visible_cases(actor), query)
    ordered = ordered.options(joinedload(Case.community), joinedload(Case.project))
    found = paginate(session, matching, ordered, page, per_page)
    hits = _hits(session, query, found.items)
    return SearchResult(text, Page(hits, found.total, found.page, found.per_page, found.more))


# --- the database's index ----------------------------------------------------------------------

_INDEX = table(SEARCH_TABLE, column("rowid"), column("case_id"), column("document"))


def matching_cases(
    session: Session, cases: Select[Case], query: Query
) -> tuple[Select[Case], Select[Case]]:
    """``cases`` (those a person may see) that hold the query, joined to the index of the
    session's database: to be counted, and newest first, to be shown.

    On SQLite both are in the index's order: SQLite then reads the matches from the index
    newest first and stops at the page or at the count's end (joined the other way round, a
    representative's cases first by their community, it would run the full-text query again
    for each of them). On PostgreSQL the count is not ordered (sorting every match costs more
    than counting them); the page walks the cases' key backwards when the words are common,
    and sorts the few matches when they are rare, as the planner finds cheaper."""
    if session.get_bind().dialect.name == "sqlite":
        match = literal_column(SEARCH_TABLE).op("MATCH")(fts5_expression(query))
        newest_first = (
            cases.join(_INDEX, _INDEX.c.rowid == Case.id)
            .where(match)
            .order_by(_INDEX.c.rowid.desc())
        )
        return newest_first, newest_first
    # search_fold (migration 0013) folds the words as the documents were folded; the
    # operators and quotes are ASCII punctuation, which it leaves as they are
    tsquery = func.to_tsquery(
        literal_column("'simple'::regconfig"), func.search_fold(tsquery_text(query))
    )
    matching = cases.join(_INDEX, _INDEX.c.case_id == Case.id).where(
        _INDEX.c.document.op("@@")(tsquery)
    )
    return matching, matching.order_by(Case.id.desc())


def fts5_expression(query: Query) -> str:
    """FTS5's query: each phrase a quoted string (FTS5 reads what is inside a string as words
    only), joined by AND; the last one marked as a prefix."""
    strings = ['"' + " ".join(phrase).replace('"', '""') + '"' for phrase in query.phrases]
    if query.prefix:
        strings[-1] += " *"
    return " AND ".join(strings)


def tsquery_text(query: Query) -> str:
    """PostgreSQL's tsquery, as text: each word a quoted lexeme, the words of a phrase one
    after the other (<->), the phrases joined by &; the last word marked as a prefix (:*)."""
    lexemes = [["'" + _tsquery_quoted(word) + "'" for word in phrase] for phrase in query.phrases]
    if query.prefix:
        lexemes[-1][-1] += ":*"
    return " & ".join("(" + " <-> ".join(phrase) + ")" for phrase in lexemes)


def _tsquery_quoted(word: str) -> str:
    # words are letters and digits only; quoting what tsquery reads in a quoted lexeme all
    # the same, should that ever change
    return word.replace("\\", "\\\\").replace("'", "''")


# --- where the words were found --------------------------------------------------------------


def fold(text: str) -> str:
    """A word (or a text) as the index compares it: lower case, without accents."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_STROKES))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


#: the words of texts repeat: each is folded once (words only; a text is folded as it comes)
_folded_word = functools.lru_cache(maxsize=4096)(fold)


@dataclass(frozen=True)
class _Words:
    """The query's words, folded, for finding them again in a hit's texts."""

    exact: frozenset[str]
    prefix: str | None

    @classmethod
    def of(cls, query: Query) -> _Words:
        words = [fold(word) for word in query.words]
        if query.prefix:
            return cls(frozenset(words[:-1]), words[-1])
        return cls(frozenset(words), None)

    def may_be_in(self, text: str) -> bool:
        """Whether ``text`` may hold one of the words (a quick look before the words are cut
        out one by one: most of a case's notes hold none of them)."""
        folded = fold(text)
        return any(word in folded for word in self.exact) or (
            self.prefix is not None and self.prefix in folded
        )

    def match(self, word: str) -> bool:
        folded = _folded_word(word)
        return folded in self.exact or (self.prefix is not None and folded.startswith(self.prefix))


def excerpt(text: str, words: _Words) -> Excerpt | None:
    """The words around the first one asked for in ``text``, the words asked for marked; None
    when none of them is in it."""
    if not words.may_be_in(text):
        return None
    spans = [m.span() for m in _WORD.finditer(text)]
    found = [i for i, (start, end) in enumerate(spans) if words.match(text[start:end])]
    if not found:
        return None
    first = found[0]
    low, high = max(0, first - CONTEXT_BEFORE), min(len(spans) - 1, first + CONTEXT_AFTER)
    start = 0 if low == 0 else spans[low][0]
    end = len(text) if high == len(spans) - 1 else spans[high][1]
    parts: list[tuple[str, bool]] = [("…", False)] if start > 0 else []
    cursor = start
    for i in (i for i in found if low <= i <= high):
        word_start, word_end = spans[i]
        if word_start > cursor:
            parts.append((text[cursor:word_start], False))
        parts.append((text[word_start:word_end], True))
        cursor = word_end
    if end > cursor:
        parts.append((text[cursor:end], False))
    if end < len(text):
        parts.append(("…", False))
    return Excerpt(tuple(_one_line(parts)))


def _one_line(parts: Iterable[tuple[str, bool]]) -> Iterable[tuple[str, bool]]:
    """Line breaks and runs of spaces as one space: an excerpt is a line of a list."""
    for piece, matched in parts:
        yield _SPACES.sub(" ", piece), matched


def _hits(session: Session, query: Query, cases: Sequence[Case]) -> list[Hit]:
    """Each case of the page with where the words were found: its own fields, then its notes
    and questions (read for these cases only)."""
    if not cases:
        return []
    words = _Words.of(query)
    ids = [case.id for case in cases]
    notes = _texts(
        session,
        select(CaseNote.case_id, CaseNote.text)
        .where(CaseNote.case_id.in_(ids))
        .order_by(CaseNote.id),
    )
    questions = _texts(
        session,
        select(Question.case_id, Question.text, Question.answer)
        .where(Question.case_id.in_(ids))
        .order_by(Question.id),
    )
    hits = []
    for case in cases:
        places = [
            ("reference", [case.reference]),
            ("project", [f"{case.project.name} · {case.project.proponent}"]),
            ("community", [case.community.name]),
            ("note", notes.get(case.id, [])),
            ("question", questions.get(case.id, [])),
        ]
        hits.append(Hit(case, _matches(places, words)))
    return hits


def _texts(session: Session, stmt: Executable) -> dict[int, list[str]]:
    """Each case's texts in order (a question with its answer after it)."""
    texts: dict[int, list[str]] = {}
    for case_id, *parts in session.execute(stmt):
        texts.setdefault(case_id, []).append(" ".join(part for part in parts if part))
    return texts


def _matches(places: list[tuple[str, list[str]]], words: _Words) -> list[Match]:
    matches = []
    for source, texts in places:
        for text in texts:
            found = excerpt(text, words)
            if found is not None:
                matches.append(Match(source, found))
                break  # one excerpt per kind of place: the first note, the first question
        if len(matches) == MATCHES_SHOWN:
            break
    return matches
