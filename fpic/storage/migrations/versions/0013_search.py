"""search: a full-text index of the cases, their notes and their questions

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-09

Issue 20 (part 4): search by a case's reference, its project's name and proponent, its
community's name, and the text of its notes (case_notes) and of its questions and answers
(questions). One index row per case, so that every word of a query may match anywhere in the
case. SQLite: an FTS5 virtual table; PostgreSQL: a tsvector per case with a GIN index. Both
are kept up to date by triggers, in the transaction that writes a case, a note, a question, a
project or a community, so the engine sends no statement for them; the read side is
fpic/read/search.py. Existing rows are indexed here.

No model maps the index (fpic/storage/search_index.py keeps it out of the models' comparison
with the database). On SQLite, a later migration that rebuilds cases, case_notes, questions,
projects or communities in batch mode (a copy renamed into the table's place; adding a column
does not) fails with "error in trigger case_search_...: no such table", since the triggers
name those tables, and would lose the triggers on the table it drops: it must drop them first
(TRIGGERS) and create them again (_sqlite_triggers) after.

Why no stemming: the texts are in Quechua, Aymara, Spanish, Guarani, Shipibo, English and more,
often mixed in one case; an English (or any one language's) stemmer would mangle the others'
words and match words that are not the same. Words are matched as written, letter case and
accents aside (people type "Qollana" for "Qollaña"), and the last word of a query also as a
prefix: the same on both databases, without the unaccent extension (which a managed
PostgreSQL may not offer): SQLite's unicode61 tokenizer folds case and diacritics itself, and
on PostgreSQL search_fold() below does it with translate() (the `simple` configuration, no
dictionary but lower case).
"""

from __future__ import annotations

import string
import unicodedata

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

#: (table, trigger) of every trigger made here, the same names on both databases
TRIGGERS = (
    ("cases", "case_search_case_added"),
    ("cases", "case_search_case_changed"),
    ("cases", "case_search_case_removed"),
    ("case_notes", "case_search_note_added"),
    ("case_notes", "case_search_note_changed"),
    ("case_notes", "case_search_note_removed"),
    ("questions", "case_search_question_added"),
    ("questions", "case_search_question_changed"),
    ("questions", "case_search_question_removed"),
    ("projects", "case_search_project_renamed"),
    ("communities", "case_search_community_renamed"),
)
POSTGRES_FUNCTIONS = (
    "case_search_case_added()",
    "case_search_case_changed()",
    "case_search_case_removed()",
    "case_search_note_added()",
    "case_search_question_added()",
    "case_search_record_changed()",
    "case_search_project_renamed()",
    "case_search_community_renamed()",
    "case_search_document(integer)",
    "search_vector(text)",
    "search_words(text)",
    "search_fold(text)",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_index()
    else:
        _postgres_index()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for _table, trigger in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS case_search")
        return
    for table, trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    op.execute("DROP TABLE IF EXISTS case_search")
    for function in POSTGRES_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")


# --- SQLite: FTS5 ----------------------------------------------------------------------------

#: a case's notes, or its questions with their answers, as one text (the index's column)
_SQLITE_NOTES = """coalesce((SELECT group_concat(text, char(10)) FROM
    (SELECT text FROM case_notes WHERE case_id = {case} ORDER BY id)), '')"""
_SQLITE_QUESTIONS = """coalesce((SELECT group_concat(text, char(10)) FROM
    (SELECT text || ' ' || coalesce(answer, '') AS text FROM questions
     WHERE case_id = {case} ORDER BY id)), '')"""
_SQLITE_PROJECT = (
    "coalesce((SELECT name || ' ' || proponent FROM projects WHERE id = {project}), '')"
)
_SQLITE_COMMUNITY = "coalesce((SELECT name FROM communities WHERE id = {community}), '')"


def _sqlite_index() -> None:
    # unicode61 with remove_diacritics 2 folds letter case and accents (see above); the
    # content is stored (not an external-content table) so that a note appends to its case's
    # row with one UPDATE, FTS5 reading the old text itself; no column sizes (no ranking
    # uses them). The row id is the case's id.
    op.execute(
        """CREATE VIRTUAL TABLE case_search USING fts5(
               reference, project, community, notes, questions,
               tokenize = 'unicode61 remove_diacritics 2', columnsize = 0)"""
    )
    for statement in _sqlite_triggers():
        op.execute(statement)
    project = _SQLITE_PROJECT.format(project="c.project_id")
    community = _SQLITE_COMMUNITY.format(community="c.community_id")
    op.execute(
        f"""INSERT INTO case_search (rowid, reference, project, community, notes, questions)
            SELECT c.id, c.reference, {project}, {community},
                   {_SQLITE_NOTES.format(case="c.id")}, {_SQLITE_QUESTIONS.format(case="c.id")}
            FROM cases AS c"""
    )
    op.execute("INSERT INTO case_search (case_search) VALUES ('optimize')")


def _sqlite_triggers() -> list[str]:
    def renew(column: str, text: str, case: str) -> str:
        return f"UPDATE case_search SET {column} = {text.format(case=case)} WHERE rowid = {case};"

    project = _SQLITE_PROJECT.format(project="NEW.project_id")
    community = _SQLITE_COMMUNITY.format(community="NEW.community_id")
    return [
        f"""CREATE TRIGGER case_search_case_added AFTER INSERT ON cases BEGIN
            INSERT INTO case_search (rowid, reference, project, community, notes, questions)
            VALUES (NEW.id, NEW.reference, {project}, {community}, '', '');
        END""",
        # every action updates its case: only a change of what is indexed touches the index
        f"""CREATE TRIGGER case_search_case_changed
            AFTER UPDATE OF reference, project_id, community_id ON cases
            WHEN OLD.reference IS NOT NEW.reference OR OLD.project_id IS NOT NEW.project_id
                 OR OLD.community_id IS NOT NEW.community_id
        BEGIN
            UPDATE case_search SET reference = NEW.reference, project = {project},
                community = {community} WHERE rowid = NEW.id;
        END""",
        """CREATE TRIGGER case_search_case_removed AFTER DELETE ON cases BEGIN
            DELETE FROM case_search WHERE rowid = OLD.id;
        END""",
        # the hot path: a note (most actions write one) appends to its case's row. FTS5 reads
        # the row's old text again to take its words out and puts them all back with the new
        # ones, so the cost grows with the case's text: a text the row holds already (a note
        # said again word for word: "Recorded in the field.", a suspension's reasons each
        # season) adds no word and is not written at all. Whole lines are compared: "agreed"
        # inside an earlier "disagreed" is a word the row does not hold
        """CREATE TRIGGER case_search_note_added AFTER INSERT ON case_notes BEGIN
            UPDATE case_search SET notes = notes || char(10) || NEW.text
            WHERE rowid = NEW.case_id
              AND instr(char(10) || notes || char(10), char(10) || NEW.text || char(10)) = 0;
        END""",
        # notes are written once and never changed; should one be, its case is read again
        f"""CREATE TRIGGER case_search_note_changed AFTER UPDATE OF case_id, text ON case_notes
        BEGIN
            {renew("notes", _SQLITE_NOTES, "OLD.case_id")}
            {renew("notes", _SQLITE_NOTES, "NEW.case_id")}
        END""",
        f"""CREATE TRIGGER case_search_note_removed AFTER DELETE ON case_notes BEGIN
            {renew("notes", _SQLITE_NOTES, "OLD.case_id")}
        END""",
        """CREATE TRIGGER case_search_question_added AFTER INSERT ON questions BEGIN
            UPDATE case_search
            SET questions = questions || char(10) || NEW.text || ' ' || coalesce(NEW.answer, '')
            WHERE rowid = NEW.case_id
              AND instr(char(10) || questions || char(10),
                        char(10) || NEW.text || ' ' || coalesce(NEW.answer, '') || char(10)) = 0;
        END""",
        # an answer is written into its question's row: the case's questions are read again
        f"""CREATE TRIGGER case_search_question_changed
            AFTER UPDATE OF case_id, text, answer ON questions
        BEGIN
            {renew("questions", _SQLITE_QUESTIONS, "OLD.case_id")}
            {renew("questions", _SQLITE_QUESTIONS, "NEW.case_id")}
        END""",
        f"""CREATE TRIGGER case_search_question_removed AFTER DELETE ON questions BEGIN
            {renew("questions", _SQLITE_QUESTIONS, "OLD.case_id")}
        END""",
        """CREATE TRIGGER case_search_project_renamed AFTER UPDATE OF name, proponent ON projects
            WHEN OLD.name IS NOT NEW.name OR OLD.proponent IS NOT NEW.proponent
        BEGIN
            UPDATE case_search SET project = NEW.name || ' ' || NEW.proponent
            WHERE rowid IN (SELECT id FROM cases WHERE project_id = NEW.id);
        END""",
        """CREATE TRIGGER case_search_community_renamed AFTER UPDATE OF name ON communities
            WHEN OLD.name IS NOT NEW.name
        BEGIN
            UPDATE case_search SET community = NEW.name
            WHERE rowid IN (SELECT id FROM cases WHERE community_id = NEW.id);
        END""",
    ]


# --- PostgreSQL: tsvector and GIN ------------------------------------------------------------


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _folding() -> tuple[str, str]:
    """translate()'s two lists for search_fold: each accented Latin letter (U+00C0 to U+024F,
    either case) to its base letter in lower case, as SQLite's unicode61 folds them, a few
    letters with a stroke that Unicode does not decompose, and combining accents (a text in
    decomposed form) to nothing. Canonical decompositions never change (Unicode's stability
    policy), so this list is the same whatever Python builds it."""
    letters, bases = [], []
    for point in range(0xC0, 0x250):
        letter = chr(point)
        base = "".join(
            c for c in unicodedata.normalize("NFKD", letter) if not unicodedata.combining(c)
        )
        if len(base) == 1 and base.isascii() and base.isalpha() and base != letter:
            letters.append(letter)
            bases.append(base.lower())
    for letter, base in zip("ØøŁłĐđĦħıŦŧƗɨɃƀ", "oollddhhittiibb", strict=True):
        if letter not in letters:
            letters.append(letter)
            bases.append(base)
    accents = "".join(chr(point) for point in range(0x300, 0x370))
    return "".join(letters) + accents, "".join(bases)


#: punctuation that becomes a space before PostgreSQL's parser reads a text: the parser would
#: otherwise read "FPIC-2026-000123" as fpic, -2026, -000123 (signed numbers), "3.14" as one
#: word, and e-mail addresses, paths and URLs whole, where SQLite's tokenizer sees words and
#: numbers; and in the C locale it takes any letter beyond ASCII, curly quotes included, for
#: part of a word
_PUNCTUATION = string.punctuation + "‘’‚‛“”„‟«»‹›¿¡–—‐‑‒―…·•′″§¶°\u00a0"


def _postgres_index() -> None:
    letters, bases = _folding()
    spaces = " " * len(_PUNCTUATION)
    for statement in (
        f"""CREATE FUNCTION search_fold(words text) RETURNS text
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            AS $fold$ SELECT translate(lower(words), {_sql_text(letters)}, {_sql_text(bases)})
            $fold$""",
        f"""CREATE FUNCTION search_words(words text) RETURNS text
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            AS $words$ SELECT translate(search_fold(words), {_sql_text(_PUNCTUATION)},
                                        {_sql_text(spaces)}) $words$""",
        # 'simple': lower case only, no stop words, no stemming (see the top of this file)
        """CREATE FUNCTION search_vector(words text) RETURNS tsvector
            LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $vector$ SELECT to_tsvector('simple', search_words(coalesce(words, '')))
            $vector$""",
        POSTGRES_DOCUMENT,
        """CREATE TABLE case_search (
               case_id integer PRIMARY KEY,
               document tsvector NOT NULL
           )""",
        *POSTGRES_TRIGGERS,
        "INSERT INTO case_search (case_id, document) SELECT id, case_search_document(id) "
        "FROM cases",
        # after the rows: one build instead of an update per row
        "CREATE INDEX case_search_document ON case_search USING gin (document)",
        # the planner guesses how many documents hold a word it has no statistics for from the
        # rarest word it has: with the default hundred, "a word nobody wrote" looked like 400
        # cases, and it walked every case newest first to find 25 of them (150 ms for none)
        # instead of asking the index (under 1 ms)
        "ALTER TABLE case_search ALTER COLUMN document SET STATISTICS 1000",
        "ANALYZE case_search",
    ):
        op.execute(statement)


#: a case's whole document, from its rows: when it is indexed first and when a change other
#: than a new note or question makes the words it had unknown. Each part is cut at 300,000
#: characters: a tsvector holds at most 1 MB of distinct words, and an action must never fail
#: because its case's index is full (the words past that are not found).
POSTGRES_DOCUMENT = """
CREATE FUNCTION case_search_document(wanted integer) RETURNS tsvector
LANGUAGE plpgsql STABLE AS $document$
BEGIN
    -- PL/pgSQL, not SQL: its statement's plan is kept from one call to the next
    RETURN (
        SELECT search_vector(concat_ws(' ', c.reference, p.name, p.proponent, m.name))
            || search_vector(left((SELECT string_agg(n.text, ' ' ORDER BY n.id)
                                   FROM case_notes AS n WHERE n.case_id = c.id), 300000))
            || search_vector(left((SELECT string_agg(concat_ws(' ', q.text, q.answer), ' '
                                                     ORDER BY q.id)
                                   FROM questions AS q WHERE q.case_id = c.id), 300000))
        FROM cases AS c
        JOIN projects AS p ON p.id = c.project_id
        JOIN communities AS m ON m.id = c.community_id
        WHERE c.id = wanted);
END $document$
"""

#: the size (as stored, usually compressed) past which a new note's or question's words are no
#: longer added to its case's document, well below the 1 MB of words a tsvector may hold
_FULL = 400_000

POSTGRES_TRIGGERS = (
    """CREATE FUNCTION case_search_case_added() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           INSERT INTO case_search (case_id, document)
           VALUES (NEW.id, coalesce(case_search_document(NEW.id), ''));
           RETURN NULL;
       END $$""",
    """CREATE TRIGGER case_search_case_added AFTER INSERT ON cases
       FOR EACH ROW EXECUTE FUNCTION case_search_case_added()""",
    """CREATE FUNCTION case_search_case_changed() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           UPDATE case_search SET document = coalesce(case_search_document(NEW.id), '')
           WHERE case_id = NEW.id;
           RETURN NULL;
       END $$""",
    # every action updates its case: only a change of what is indexed touches the index
    """CREATE TRIGGER case_search_case_changed
       AFTER UPDATE OF reference, project_id, community_id ON cases FOR EACH ROW
       WHEN (OLD.reference IS DISTINCT FROM NEW.reference
             OR OLD.project_id IS DISTINCT FROM NEW.project_id
             OR OLD.community_id IS DISTINCT FROM NEW.community_id)
       EXECUTE FUNCTION case_search_case_changed()""",
    """CREATE FUNCTION case_search_case_removed() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           DELETE FROM case_search WHERE case_id = OLD.id;
           RETURN NULL;
       END $$""",
    """CREATE TRIGGER case_search_case_removed AFTER DELETE ON cases
       FOR EACH ROW EXECUTE FUNCTION case_search_case_removed()""",
    # the hot path: a new note or question adds its words to its case's document, which is
    # not read again (tsvector || tsvector)
    f"""CREATE FUNCTION case_search_note_added() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           UPDATE case_search SET document = document || search_vector(NEW.text)
           WHERE case_id = NEW.case_id AND pg_column_size(document) < {_FULL};
           RETURN NULL;
       END $$""",
    """CREATE TRIGGER case_search_note_added AFTER INSERT ON case_notes
       FOR EACH ROW EXECUTE FUNCTION case_search_note_added()""",
    f"""CREATE FUNCTION case_search_question_added() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           UPDATE case_search
           SET document = document || search_vector(concat_ws(' ', NEW.text, NEW.answer))
           WHERE case_id = NEW.case_id AND pg_column_size(document) < {_FULL};
           RETURN NULL;
       END $$""",
    """CREATE TRIGGER case_search_question_added AFTER INSERT ON questions
       FOR EACH ROW EXECUTE FUNCTION case_search_question_added()""",
    # an answer is written into its question's row, and the words a changed or removed record
    # had cannot be taken out of a tsvector: its case's document is made again
    """CREATE FUNCTION case_search_record_changed() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           UPDATE case_search SET document = coalesce(case_search_document(OLD.case_id), '')
           WHERE case_id = OLD.case_id;
           IF TG_OP = 'UPDATE' AND NEW.case_id IS DISTINCT FROM OLD.case_id THEN
               UPDATE case_search SET document = coalesce(case_search_document(NEW.case_id), '')
               WHERE case_id = NEW.case_id;
           END IF;
           RETURN NULL;
       END $$""",
    """CREATE TRIGGER case_search_note_changed AFTER UPDATE OF case_id, text ON case_notes
       FOR EACH ROW EXECUTE FUNCTION case_search_record_changed()""",
    """CREATE TRIGGER case_search_note_removed AFTER DELETE ON case_notes
       FOR EACH ROW EXECUTE FUNCTION case_search_record_changed()""",
    """CREATE TRIGGER case_search_question_changed
       AFTER UPDATE OF case_id, text, answer ON questions
       FOR EACH ROW EXECUTE FUNCTION case_search_record_changed()""",
    """CREATE TRIGGER case_search_question_removed AFTER DELETE ON questions
       FOR EACH ROW EXECUTE FUNCTION case_search_record_changed()""",
    """CREATE FUNCTION case_search_project_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           UPDATE case_search SET document = coalesce(case_search_document(case_id), '')
           WHERE case_id IN (SELECT id FROM cases WHERE project_id = NEW.id);
           RETURN NULL;
       END $$""",
    """CREATE TRIGGER case_search_project_renamed AFTER UPDATE OF name, proponent ON projects
       FOR EACH ROW
       WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.proponent IS DISTINCT FROM NEW.proponent)
       EXECUTE FUNCTION case_search_project_renamed()""",
    """CREATE FUNCTION case_search_community_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           UPDATE case_search SET document = coalesce(case_search_document(case_id), '')
           WHERE case_id IN (SELECT id FROM cases WHERE community_id = NEW.id);
           RETURN NULL;
       END $$""",
    """CREATE TRIGGER case_search_community_renamed AFTER UPDATE OF name ON communities
       FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
       EXECUTE FUNCTION case_search_community_renamed()""",
)
