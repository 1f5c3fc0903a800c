"""The verification fast paths the benchmarks led to (docs/performance.md, B3 and B6) give the
same answers as the plain specification, event for event and break for break."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fpic.trail import audit

JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
JSON_DATA = st.dictionaries(
    st.text(max_size=6),
    st.recursive(
        JSON_LEAVES,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
        max_leaves=6,
    ),
    max_size=4,
)
TEXT = st.text(max_size=12)  # quotes, backslashes, control characters and any script


def chain_rows(chain: str, datas: list[dict[str, Any]], actor: str = "rep") -> list[dict]:
    """A chain as the database stores it, ``data`` as its stored text."""
    rows, prev = [], audit.GENESIS
    for seq, data in enumerate(datas, start=1):
        body = {
            "chain": chain, "seq": seq, "at": "2026-03-02T09:00:00.000000Z", "actor": actor,
            "role": "representative", "action": "suspend_process", "outcome": "done",
            "case": 7, "from": "negotiation", "to": "suspended", "data": data,
        }  # fmt: skip
        digest = audit.link_hash(prev, body)
        rows.append({**body, "prev_hash": prev, "hash": digest})
        prev = digest
    return rows


def stored(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "data": audit.StoredText(audit.canonical_json(row["data"]))}


def _no_float(text: str) -> None:
    raise ValueError(f"a number with a fraction or exponent ({text})")


def _decode(text: str) -> Any:
    return json.loads(text, parse_float=_no_float, parse_constant=_no_float)


def reference(rows: list[dict], heads: dict[str, tuple[int, str]]) -> audit.Verification:
    """The specification, plainly: decode every event, keep every chain's state to the end."""
    states: dict[str, list[Any]] = {}
    breaks = []
    events = 0
    for row in rows:
        events += 1
        state = states.setdefault(row["chain"], [0, audit.GENESIS, False])
        if state[2]:
            continue
        try:
            plain = {
                **row,
                "data": _decode(row["data"]) if isinstance(row["data"], str) else row["data"],
            }
        except ValueError as exc:
            plain = {**row, "data": None}
            malformed: str | None = f"malformed event: {exc}"
        else:
            malformed = None
        problem = None
        text = row["data"] if isinstance(row["data"], str) else None
        if row["seq"] != state[0] + 1:
            problem = f"expected sequence number {state[0] + 1}, found {row['seq']!r}"
        elif row["prev_hash"] != state[1]:
            problem = "prev_hash does not match the previous event's hash"
        elif malformed:
            problem = malformed
        else:
            try:
                if row["hash"] != audit.link_hash(state[1], audit.event_body(plain)):
                    problem = "hash does not match the event's content"
                elif text is not None and text != audit.canonical_json(plain["data"]):
                    problem = "malformed event: data is not in canonical form (section 3)"
            except (KeyError, ValueError, TypeError) as exc:
                problem = f"malformed event: {exc}"
        if problem:
            state[2] = True
            breaks.append(audit.Break(row["chain"], row["seq"], problem))
            continue
        state[0], state[1] = row["seq"], row["hash"]
    for chain, (seq, digest) in heads.items():
        seen, last, broken = states.get(chain, [0, audit.GENESIS, False])
        if broken:
            continue
        if seen < seq:
            breaks.append(audit.Break(chain, seen + 1, f"missing: the chain head is at {seq}"))
        elif seen > seq or last != digest:
            breaks.append(audit.Break(chain, seq, "does not match the recorded chain head"))
    result = audit.Verification(chains=len(states), events=events)
    result.breaks = sorted(breaks, key=lambda b: (b.chain, b.seq))
    return result


def same(rows: list[dict], heads: dict[str, tuple[int, str]]) -> audit.Verification:
    fast = audit.verify_rows(rows, heads)
    slow = reference(rows, heads)
    assert (fast.events, fast.chains) == (slow.events, slow.chains)
    assert sorted(fast.breaks or [], key=lambda b: (b.chain, b.seq)) == slow.breaks
    return fast


@settings(max_examples=150, deadline=None)
@given(st.lists(JSON_DATA, min_size=1, max_size=4), TEXT)
def test_stored_text_verifies_as_the_decoded_event(datas, actor):
    rows = [stored(r) for r in chain_rows("case:7", datas, actor)]
    heads = {"case:7": (len(rows), rows[-1]["hash"])}
    assert same(rows, heads).intact


def test_non_canonical_stored_text_gets_the_specifications_verdict():
    # hashed over the canonical text, stored spaced out: refused, as its export would not be
    # byte for byte what was hashed
    [row] = chain_rows("case:7", [{"b": [1, "ä"], "a": None}])
    spaced = {**row, "data": audit.StoredText(json.dumps(row["data"], indent=1))}
    assert same([spaced], {"case:7": (1, row["hash"])}).first_break == audit.Break(
        "case:7", 1, "malformed event: data is not in canonical form (section 3)"
    )


def test_stored_data_that_is_not_an_object_is_malformed_even_when_its_hash_matches():
    [row] = chain_rows("case:7", [{"a": 1}])
    body = {**audit.event_body(row), "data": [1, 2]}
    digest = audit.link_hash(audit.GENESIS, body)
    forged = {**row, "data": audit.StoredText("[1,2]"), "hash": digest}
    first = audit.verify_rows([forged], {"case:7": (1, digest)}).first_break
    assert first == audit.Break("case:7", 1, "malformed event: data is not an object")


def test_text_hashed_in_a_non_canonical_spelling_verifies_stored_and_breaks_exported():
    # the one answer the fast path gives on purpose against the specification (see
    # audit._expected_hash): only a writer computing hashes itself can store such text
    [row] = chain_rows("case:7", [{"a": 1, "b": 2}])
    text = '{"b":2,"a":1}'
    spliced = audit._spliced_body(row, text)
    assert spliced is not None
    digest = audit.hashlib.sha256((audit.GENESIS + spliced).encode()).hexdigest()
    forged = {**row, "data": audit.StoredText(text), "hash": digest}
    heads = {"case:7": (1, digest)}
    assert audit.verify_rows([forged], heads).intact
    exported = {**forged, "data": json.loads(text)}
    assert audit.verify_rows([exported], heads).first_break == audit.Break(
        "case:7", 1, "hash does not match the event's content"
    )


@settings(max_examples=200, deadline=None)
@given(JSON_DATA)
def test_canonical_json_is_the_specifications_encoding(value):
    # canonical_json calls the C encoder directly; the specification names json.dumps' form
    assert audit.canonical_json(value) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def test_changed_stored_text_breaks_the_chain_as_before():
    [row] = chain_rows("case:7", [{"text": "Consent given."}])
    changed = {**row, "data": audit.StoredText('{"text":"Consent withheld."}')}
    result = same([changed], {"case:7": (1, row["hash"])})
    assert result.first_break == audit.Break("case:7", 1, "hash does not match the event's content")


def test_a_float_in_stored_text_is_malformed_as_before():
    [row] = chain_rows("case:7", [{"votes": 3}])
    result = same([{**row, "data": audit.StoredText('{"votes":3.0}')}], {})
    assert result.first_break is not None
    assert result.first_break.problem.startswith("malformed event")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=4),
    st.randoms(use_true_random=False),
    st.sampled_from(["grouped", "shuffled", "tail_moved", "row_dropped", "head_off"]),
)
def test_closing_finished_chains_changes_no_answer(lengths, rng, disorder):
    """Chains let go when their rows end must answer as if every state were kept: in order,
    interleaved, with a chain's rows coming back after it closed, with rows or heads off."""
    chains = {f"case:{n}": chain_rows(f"case:{n}", [{"n": i} for i in range(k)])
              for n, k in enumerate(lengths, start=1)}  # fmt: skip
    heads = {c: (len(r), r[-1]["hash"]) for c, r in chains.items()}
    rows = [stored(row) for rs in chains.values() for row in rs]
    if disorder == "shuffled":
        by_chain = [list(rs) for rs in chains.values()]
        rows = []
        while any(by_chain):
            rows.append(stored(rng.choice([c for c in by_chain if c]).pop(0)))
    elif disorder == "tail_moved" and len(rows) > 1:
        rows.append(rows.pop(0))
    elif disorder == "row_dropped":
        rows.pop(rng.randrange(len(rows)))
    elif disorder == "head_off":
        chain = rng.choice(list(heads))
        heads[chain] = (heads[chain][0] - 1, heads[chain][1])
    same(rows, heads)


def test_a_chain_that_comes_back_after_its_head_is_longer_than_recorded():
    first, second = chain_rows("case:1", [{"n": 1}, {"n": 2}]), chain_rows("case:2", [{"n": 1}])
    heads = {"case:1": (1, first[0]["hash"]), "case:2": (1, second[0]["hash"])}
    rows = [stored(first[0]), stored(second[0]), stored(first[1])]
    result = same(rows, heads)
    assert result.first_break == audit.Break("case:1", 1, "does not match the recorded chain head")


def test_stored_heads_of_one_chain(world, community):
    case_id = world.open_case(community)
    with world.db.read_session() as session:
        everything = audit.stored_heads(session)
        one = audit.stored_heads(session, chain=audit.case_chain(case_id))
        assert one == {audit.case_chain(case_id): everything[audit.case_chain(case_id)]}
        assert audit.verify_database(session).intact
