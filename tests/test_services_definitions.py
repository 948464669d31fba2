"""The 15 service definitions in fixtures/services/: they load, and they say what the seed says.

Faithfulness is checked three ways: every Kazakh quote (``kk``) is a verbatim passage of the seed (whitespace
collapsed); every duration's number and unit agree with its own Kazakh wording; and the numbering of every chain
(sub-item, process/condition and number) equals the one extracted here, independently, from digest.md's tables.
Step and chain counts per service are also written out by hand below, from the digest.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shlyuz.services.duration import Bound, Unit, totals
from shlyuz.services.loader import ServiceCatalogue, services_dir
from shlyuz.services.model import Service
from shlyuz.services.vocab import ChannelId, Check

SEED_DIR = Path(__file__).resolve().parents[2] / "shared" / "seed"  # the test bed: ../shared/seed
SEED = SEED_DIR / "000_b311d17a8f8c4e50.txt"
DIGEST = SEED_DIR / "digest.md"

# (2017 annex, id): {procedure id: steps}, {channel: (unnumbered, processes, conditions)}, {channel: steps}
EXPECTED = {
    (1, "child-allowance"): ({"main": 5}, {"state-corp": (1, 8, 2)}, {"state-corp": 7}),
    (2, "disabled-children-home-education"): ({"main": 5}, {"portal": (1, 7, 3)}, {"state-corp": 7}),
    (3, "employment-referrals"): ({"main": 4}, {"portal": (1, 6, 3)}, {}),
    (4, "foreign-labour-permits"): ({"issue": 14, "reissue": 10, "extend": 10, "ict": 13}, {"portal": (1, 7, 3)}, {}),
    (5, "targeted-social-assistance"): ({"main": 7}, {"state-corp": (1, 8, 2)}, {"state-corp": 8}),
    (6, "local-social-assistance"): ({"main": 7}, {"portal": (1, 7, 3)}, {}),
    (7, "semey-test-site-victims"): ({"main": 6}, {}, {"state-corp": 8}),  # 9 numbers, 2) and 3) one step
    (8, "prosthetic-orthopaedic-aid"): ({"main": 5}, {}, {}),
    (9, "hearing-vision-hygiene-aids"): ({"main": 5}, {}, {}),
    (10, "personal-assistant-sign-language"): ({"main": 5}, {}, {}),
    (11, "wheelchairs"): ({"main": 5}, {}, {}),
    (12, "sanatorium-treatment"): ({"main": 5}, {}, {}),
    (13, "home-care-social-services"): ({"main": 13}, {}, {}),
    (14, "medical-social-institutions"): ({"main": 13}, {}, {}),
    (15, "tsa-membership-certificate"): ({"main": 4}, {"portal": (1, 7, 3)}, {"state-corp": 6}),
}
# Each service's section of digest.md starts with one of these headings.
DIGEST_SECTIONS = {
    "child-allowance": "### 1. Annex 1", "disabled-children-home-education": "### 2. Annex 2",
    "employment-referrals": "### 3. Annex 3", "foreign-labour-permits": "### 4. Annex 4",
    "targeted-social-assistance": "### B1.", "local-social-assistance": "### B2.", "semey-test-site-victims": "### B3.",
    "prosthetic-orthopaedic-aid": "### B4.", "hearing-vision-hygiene-aids": "### B5.",
    "personal-assistant-sign-language": "### S1.", "wheelchairs": "### S2.", "sanatorium-treatment": "### S3.",
    "home-care-social-services": "### S4.", "medical-social-institutions": "### S5.", "tsa-membership-certificate": "### S6.",
}  # fmt: skip


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def catalogue() -> ServiceCatalogue:
    return ServiceCatalogue.load()


@pytest.fixture(scope="module")
def seed() -> str:
    return _norm(SEED.read_text(encoding="utf-8"))  # FileNotFoundError names the path when the test bed lacks it


@pytest.fixture(scope="module")
def digest() -> str:
    return DIGEST.read_text(encoding="utf-8")


def test_every_file_loads_and_the_catalogue_has_the_15_services(catalogue: ServiceCatalogue):
    files = sorted(p.stem for p in services_dir().glob("*.yaml"))
    assert files == sorted(s.id for s in catalogue)
    assert [s.annexes.order_2017.number for s in catalogue] == list(range(1, 16))
    assert {(s.annexes.order_2017.number, s.id) for s in catalogue} == set(EXPECTED)


def test_annexes_2015_follow_the_seed(catalogue: ServiceCatalogue):
    # 2017 annex N restates 2015 annex N for 1-2 and N+1 from 3 on (subparagraph 3) was deleted)
    for s in catalogue:
        n = s.annexes.order_2017.number
        assert s.annexes.order_2015.number == (n if n <= 2 else n + 1), s.id
    inferred = {s.id for s in catalogue if s.annexes.order_2015.inferred or s.annexes.order_2017.inferred}
    assert inferred == {"wheelchairs", "sanatorium-treatment"}  # their annex headers are missing from the seed


@pytest.mark.parametrize(("annex", "service_id"), sorted(EXPECTED))
def test_counts_match_the_digest(catalogue: ServiceCatalogue, annex: int, service_id: str):
    s = catalogue.by_annex(annex)
    assert s.id == service_id
    procedures, chains, steps = EXPECTED[(annex, service_id)]
    assert {p.id: len(p.steps) for p in s.procedures} == procedures
    got_chains = {
        ch.id.value: tuple(sum(1 for c in ch.chain if c.kind == k) for k in ("unnumbered", "process", "condition"))
        for ch in s.channels if ch.chain
    }  # fmt: skip
    assert got_chains == chains
    assert {ch.id.value: len(ch.steps) for ch in s.channels if ch.steps} == steps


def _digest_chain_rows(digest: str, service_id: str) -> list[tuple[int, str, int | None]]:
    """(sub-item, kind, number) rows of the chain tables in this service's digest section."""
    start = digest.index(DIGEST_SECTIONS[service_id])
    nxt = re.compile(r"^### ", re.M).search(digest, start + 4)
    section = digest[start : nxt.start() if nxt else len(digest)]
    rows = []
    for m in re.finditer(r"^\| (\d+)\) \| (?:\*\*(\d+)[ -](процесс|шарт)\*\*|\((?:registration|pre-step|no number)\))", section, re.M):
        kind = {"процесс": "process", "шарт": "condition", None: "unnumbered"}[m[3]]
        rows.append((int(m[1]), kind, int(m[2]) if m[2] else None))
    return rows


@pytest.mark.parametrize("service_id", sorted(DIGEST_SECTIONS))
def test_chain_numbering_equals_the_digest_tables(catalogue: ServiceCatalogue, digest: str, service_id: str):
    s = catalogue.get(service_id)
    ours = [(c.item, c.kind, c.number) for ch in s.channels for c in ch.chain]
    assert ours == _digest_chain_rows(digest, service_id)


def test_every_kazakh_quote_is_in_the_seed(catalogue: ServiceCatalogue, seed: str):
    missing = []
    for s in catalogue:
        quotes = [s.result.kk, *s.no_channel.values()]
        for p in s.procedures:
            quotes += [st.kk for st in p.steps if st.kk]
        for ch in s.channels:
            quotes += [st.kk for st in ch.steps if st.kk] + [c.kk for c in ch.chain]
        quotes += [r.kk for r in s.refusals if r.kk]
        missing += [(s.id, q[:80]) for q in quotes if _norm(q) not in seed]
    assert missing == []


NUMBER_WORDS = {"бір": 1, "екі": 2, "үш": 3, "төрт": 4, "бес": 5, "алты": 6, "сегіз": 8, "тоғыз": 9, "он": 10,
                "жиырма": 20, "отыз": 30}  # fmt: skip
UNIT_WORDS = [("жұмыс күн", Unit.WORKING_DAYS), ("минут", Unit.MINUTES), ("сағат", Unit.HOURS), ("ай", Unit.MONTHS),
              ("күн", Unit.DAYS_UNSPECIFIED)]  # fmt: skip


def _all_durations(s: Service):
    for p in s.procedures:
        for st in p.steps:
            yield f"{p.id} step {st.number}", st.kk, st.duration
            for extra in st.more_durations:
                yield f"{p.id} step {st.number} ({extra.label})", st.kk, extra.duration
    for ch in s.channels:
        for st in ch.steps:
            yield f"{ch.id.value} step {st.number}", st.kk, st.duration
            for extra in st.more_durations:
                yield f"{ch.id.value} step {st.number} ({extra.label})", st.kk, extra.duration
        for c in ch.chain:
            yield f"{ch.id.value} {c.label}", c.kk, c.duration


def test_every_duration_agrees_with_its_kazakh_wording(catalogue: ServiceCatalogue):
    checked = 0
    for s in catalogue:
        for where, kk, d in _all_durations(s):
            if d.unit is Unit.NOT_STATED:
                continue
            assert d.kk, f"{s.id} {where}: a stated duration needs its Kazakh wording"
            assert kk is not None and _norm(d.kk) in _norm(kk), f"{s.id} {where}: {d.kk!r} is not in the step's text"
            if d.unit is Unit.SAME_DAY:
                assert "күні" in d.kk, (s.id, where)
                continue
            digits = re.search(r"\d+", d.kk)
            word = next((v for w, v in NUMBER_WORDS.items() if re.search(rf"(?<!\w){w}(?!\w)", d.kk)), None)
            number = int(digits[0]) if digits else word
            assert number == d.value, f"{s.id} {where}: {d.kk!r} says {number}, the definition {d.value}"
            unit = next(u for w, u in UNIT_WORDS if w in d.kk)
            assert unit is d.unit, f"{s.id} {where}: {d.kk!r} is {unit.value}, the definition {d.unit.value}"
            checked += 1
    assert checked >= 200  # every stated duration (200 today) was compared


def _sum(durations, with_extras: list | None = None):
    out = totals(list(durations) + (with_extras or []))
    return out


def test_computed_totals_are_the_sum_of_the_steps(catalogue: ServiceCatalogue):
    seen = 0
    for s in catalogue:
        for d in s.deadlines:
            if d.basis != "computed":
                continue
            if d.of == "procedure":
                steps = s.procedure(d.procedure).steps
            elif d.of == "steps":
                steps = s.channel(d.channel).steps
            else:
                steps = None
            if steps is not None:
                extras = [x.duration for st in steps for x in st.more_durations if x.sequential]
                got = _sum([st.duration for st in steps], extras)
            else:
                got = _sum([c.duration for c in s.channel(d.channel).chain])
            assert got == totals(d.total), f"{s.id} {d.channel.value} {d.of} {d.procedure}"
            seen += 1
    assert seen >= 22


def test_lead_times_are_not_summed():
    from shlyuz.services.duration import Duration

    assert totals([Duration(value=3, unit=Unit.WORKING_DAYS, bound=Bound.AT_LEAST), Duration.model_validate("2 hours")]) == {
        Unit.HOURS: 2
    }


def test_every_condition_branches_and_every_check_is_known(catalogue: ServiceCatalogue):
    conditions = [(s.id, c) for s in catalogue for ch in s.channels for c in ch.chain if c.kind == "condition"]
    assert len(conditions) == 19  # 2 + 3 + 3 + 3 + 2 + 3 + 3 over the seven chains
    for sid, c in conditions:
        assert c.if_yes and c.if_no and c.if_yes != c.if_no, (sid, c.label)
        assert c.inferred, f"{sid} {c.label}: every branch is inferred (the diagrams were lost)"
        assert set(c.checks) <= set(Check)


def test_portal_eds_conditions_check_validity_revocation_and_identity(catalogue: ServiceCatalogue):
    for s in catalogue:
        if ChannelId.PORTAL not in {ch.id for ch in s.channels}:
            continue
        c2 = s.channel("portal").find("condition 2")
        assert c2 is not None
        assert {Check.EDS_VALID, Check.EDS_NOT_REVOKED} <= set(c2.checks), s.id
        assert {Check.EDS_IIN_MATCH, Check.EDS_IIN_BIN_MATCH} & set(c2.checks), s.id


def test_required_documents_are_marked_inferred(catalogue: ServiceCatalogue):
    for s in catalogue:
        assert s.required_documents.inferred is True
        assert "item 9" in s.required_documents.note
        assert any(d.id == "application" for d in s.required_documents.items)


def test_seed_defects_are_kept_as_notes(catalogue: ServiceCatalogue):
    kinds = {s.id: {n.kind.value for n in s.notes} for s in catalogue}
    assert "duplicate_numbering" in kinds["disabled-children-home-education"]  # result '4)' twice
    assert "duplicate_numbering" in kinds["semey-test-site-victims"]  # SC sub-items 2) and 3) are one step
    assert "unit_missing" in kinds["semey-test-site-victims"]  # '20 (жиырма) күн'
    assert "copied_text" in kinds["employment-referrals"]  # 'registration as unemployed'
    assert "copied_text" in kinds["home-care-social-services"]  # medical-social institution
    assert all(kinds.values()), "every regulation has at least one note"
    semey = catalogue.get("semey-test-site-victims").channel("state-corp").steps
    assert [(st.number, st.merged_numbers) for st in semey][:2] == [(1, []), (2, [3])]


def test_days_without_a_unit_stay_unspecified(catalogue: ServiceCatalogue):
    found = {
        s.id for s in catalogue for _, _, d in _all_durations(s) if d.unit is Unit.DAYS_UNSPECIFIED
    }
    assert found == {"foreign-labour-permits", "semey-test-site-victims"}


def test_chain_quotes_are_the_numbered_items(catalogue: ServiceCatalogue):
    """The kk quote of 'N процесс' / 'N шарт' starts with that label in the seed (hyphenated in annex 15)."""
    word = {"process": "процесс", "condition": "шарт"}
    for s in catalogue:
        for ch in s.channels:
            for c in ch.chain:
                if c.kind != "unnumbered":
                    assert re.match(rf"{c.number}[ -]{word[c.kind]}\b", c.kk), (s.id, ch.id.value, c.label, c.kk[:30])
