"""The synthetic fixture generator, the committed fixture files and the ``fixtures``/``iin`` commands."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from shlyuz.cli import main
from shlyuz.fixtures.generate import DEMO_IINS, DEMO_POAS, REF_DATE, generate, write_fixtures
from shlyuz.fixtures.iin import is_valid_bin, is_valid_iin, parse_bin, parse_iin
from shlyuz.fixtures.models import Person
from shlyuz.fixtures.store import FILES, FixtureSet, load_dirs

COMMITTED = Path(__file__).resolve().parents[1] / "fixtures"


def _age(birth: date) -> int:
    return REF_DATE.year - birth.year - ((REF_DATE.month, REF_DATE.day) < (birth.month, birth.day))


def _valid_doc(p: Person) -> bool:
    return any(d.status.code == "00" and (d.end_date is None or d.end_date >= REF_DATE) for d in p.documents)


@pytest.fixture(scope="module", params=[None, 7, 123456], ids=["default", "seed7", "seed123456"])
def fs(request: pytest.FixtureRequest) -> FixtureSet:
    """The default set, plus two other seeds: the invariants must not depend on the seed."""
    return generate() if request.param is None else generate(seed=request.param)


@pytest.fixture(scope="module")
def default_fs() -> FixtureSet:
    return generate()


# --- determinism and the committed files -------------------------------------------------------------------------


def test_generation_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_fixtures(a)
    write_fixtures(b)
    for name in FILES.values():
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_other_seed_gives_other_data_but_same_demo_identities(tmp_path: Path) -> None:
    write_fixtures(tmp_path, seed=1)
    assert (tmp_path / "persons.json").read_bytes() != (COMMITTED / "persons.json").read_bytes()
    other = load_dirs([tmp_path])
    assert set(DEMO_IINS.values()) <= set(other.persons)
    assert set(DEMO_POAS.values()) <= set(other.powers_of_attorney)


def test_committed_files_equal_a_fresh_generation(tmp_path: Path) -> None:
    write_fixtures(tmp_path)
    for name in FILES.values():
        assert (COMMITTED / name).read_bytes() == (tmp_path / name).read_bytes(), (
            f"fixtures/{name} differs from the generator's output: edit the generator and run "
            "`shlyuz fixtures generate`, do not edit the file by hand"
        )


def test_file_format() -> None:
    text = (COMMITTED / "persons.json").read_text(encoding="utf-8")
    assert text.endswith("]\n") and text.startswith('[\n {\n  "iin": ')
    assert "Нұрлан" in text and "\\u" not in text  # ensure_ascii=False
    first = json.loads(text)[0]
    assert {"birthDate", "lifeStatus", "engSurname", "regAddress"} <= set(first)
    assert all(v is not None for v in first.values())  # exclude_none


# --- persons ------------------------------------------------------------------------------------------------------


def test_every_iin_is_valid_and_matches_birth_date_and_gender(fs: FixtureSet) -> None:
    assert len(fs.persons) >= 220
    for iin, p in fs.persons.items():
        assert is_valid_iin(iin), iin
        info = parse_iin(iin)
        assert info.birth_date == p.birth_date, iin
        assert {"M": "1", "F": "2"}[info.sex] == p.gender.code, iin
        assert p.gender.name_ru == {"1": "Мужской", "2": "Женский"}[p.gender.code]


def test_reference_examples_stay_unassigned(fs: FixtureSet) -> None:
    # docs and tests use the kz_egov.md §4 examples as "checksum-valid but not found"
    assert not {"900101300007", "851231400120", "000201500015"} & set(fs.persons)


def test_dictionaries(fs: FixtureSet) -> None:
    nationalities = Counter(p.nationality.code for p in fs.persons.values())
    assert nationalities["005"] > nationalities["001"] > 0 and len(nationalities) > 3
    citizenships = Counter(p.citizenship.code for p in fs.persons.values())
    assert citizenships["398"] > 200 and {"860", "417"} <= set(citizenships)
    for p in fs.persons.values():
        assert p.life_status.code == ("1" if p.death_date else "0")
        assert p.reg_address is not None and p.reg_address.region.code == "750000000"
        assert len(p.reg_address.ar_code) == 16 and p.reg_address.ar_code.isdigit()
        assert p.reg_address.district.code in {
            "751710000", "751510000", "751910000", "752210000", "752410000", "752610000", "752810000", "751210000",
        }  # fmt: skip
        if p.citizenship.code != "398":
            assert [d.type.code for d in p.documents] == ["015"] and "foreigner" in p.tags
        if p.eng_surname:
            assert p.eng_surname.isascii() and p.eng_surname.isupper()


def test_family_links_are_consistent_both_ways(fs: FixtureSet) -> None:
    persons = fs.persons
    for iin, p in persons.items():
        if p.spouse_iin:
            spouse = persons[p.spouse_iin]
            assert spouse.spouse_iin == iin
            assert spouse.family_id == p.family_id is not None
            assert spouse.gender.code != p.gender.code
        for parent in p.parent_iins:
            assert iin in persons[parent].children_iins
            assert _age(persons[parent].birth_date) - _age(p.birth_date) >= 16
        for child in p.children_iins:
            assert iin in persons[child].parent_iins
        assert len(set(p.parent_iins)) == len(p.parent_iins) <= 2
        if "minor" in p.tags and p.parent_iins:
            assert p.family_id in {persons[x].family_id for x in p.parent_iins}
        siblings = [persons[c].name for c in p.children_iins]
        assert len(siblings) == len(set(siblings)), f"{iin}: two children share a name"


def test_person_counts_and_tags(fs: FixtureSet) -> None:
    persons = list(fs.persons.values())
    tags = Counter(t for p in persons for t in p.tags)
    families_with_minors = {p.family_id for p in persons if _age(p.birth_date) < 18 and p.parent_iins}
    assert len(families_with_minors) >= 30
    minors_by_family = Counter(p.family_id for p in persons if "minor" in p.tags and p.parent_iins)
    large = {f for f, n in minors_by_family.items() if n >= 4}
    assert len(large) >= 8
    for p in persons:
        if p.family_id in large:
            assert "large-family" in p.tags
    assert tags["disabled"] >= 20 and tags["deceased"] >= 8 and tags["incapable"] >= 5
    assert tags["invalid-document"] >= 5 and tags["pensioner"] >= 5 and tags["unemployed"] >= 5
    assert tags["candas"] >= 3 and tags["foreigner"] >= 5
    assert any(p.disability and p.disability.group == "child" for p in persons)
    assert {p.disability.group for p in persons if p.disability} >= {"1", "2", "3", "child"}


def test_tags_match_the_records(fs: FixtureSet) -> None:
    for p in fs.persons.values():
        tags = set(p.tags)
        alive = p.death_date is None
        assert ("minor" in tags) == (alive and _age(p.birth_date) < 18)
        assert ("deceased" in tags) == (not alive)
        if not alive:
            assert p.life_status.name_ru == "Умерший" and p.death_certificate_number
            assert p.birth_date < p.death_date < REF_DATE  # type: ignore[operator]
        assert ("disabled" in tags) == (p.disability is not None)
        if p.disability and p.disability.group == "child":
            assert "minor" in tags
        assert ("incapable" in tags) == (p.capable_status is not None and p.capable_status.status.code == "1")
        if "incapable" in tags:
            assert p.capable_status.status.name_ru == "Недееспособный"  # type: ignore[union-attr]
            assert p.capable_status.court.name_ru  # type: ignore[union-attr]
        if "invalid-document" in tags:
            assert p.documents and not _valid_doc(p)
        elif alive and p.documents:
            assert _valid_doc(p), p.iin
            # and stays valid through 2026, so a gateway clock later than REF_DATE sees the same picture
            assert any(d.status.code == "00" and (d.end_date is None or d.end_date >= date(2026, 12, 31))
                       for d in p.documents), p.iin  # fmt: skip
        if "minor" in tags:
            assert p.documents[0].type.code == "003" and p.spouse_iin is None
        elif alive and p.citizenship.code == "398":
            assert any(d.type.code == "002" for d in p.documents)


def test_document_shapes(fs: FixtureSet) -> None:
    numbers = Counter(d.number for p in fs.persons.values() for d in p.documents)
    assert max(numbers.values()) == 1
    for p in fs.persons.values():
        for d in p.documents:
            assert d.begin_date >= p.birth_date
            if d.type.code == "002":
                assert len(d.number) == 9 and d.number.isdigit()
                assert d.issue_organization.code == "002"
                assert d.issue_organization.name_kz == "ҚР ІШКІ ІСТЕР МИНИСТРЛІГІ"
            if d.status.code == "07":
                assert d.invalidity_date and d.status.name_ru == "НЕПРИГОДНОСТЬ ДЛЯ ДАЛЬНЕЙШЕГО ИСПОЛЬЗОВАНИЯ"


def test_demo_identities(default_fs: FixtureSet) -> None:
    persons = default_fs.persons
    assert list(persons)[: len(DEMO_IINS)] == list(DEMO_IINS.values())
    d = {key: persons[iin] for key, iin in DEMO_IINS.items()}
    for key, p in d.items():
        assert "demo" in p.tags, key
    app = d["applicant"]
    assert app.birth_date == date(1990, 1, 1) and app.gender.code == "1" and app.tags == ["demo"]
    assert _valid_doc(app) and app.capable_status is None and app.disability is None
    assert d["minor"].iin in app.children_iins and "minor" in d["minor"].tags
    assert d["deceased"].death_date == date(2025, 6, 10) and "deceased" in d["deceased"].tags
    assert "incapable" in d["incapable"].tags
    doc = d["invalid_document"].documents
    assert len(doc) == 1 and doc[0].status.code == "07"
    big = d["parent_of_large_family"]
    assert "large-family" in big.tags and sum("minor" in persons[c].tags for c in big.children_iins) >= 4
    assert d["disabled"].disability is not None and d["disabled"].disability.group == "2"
    assert _age(d["attorney"].birth_date) >= 18 and d["attorney"].death_date is None and _valid_doc(d["attorney"])
    assert d["foreigner"].citizenship.code == "860"


# --- organisations, powers of attorney, senders ----------------------------------------------------------------


def test_organisations(fs: FixtureSet) -> None:
    orgs = list(fs.organisations.values())
    assert len(orgs) >= 25
    for o in orgs:
        assert is_valid_bin(o.bin), o.bin
        info = parse_bin(o.bin)
        assert (info.registration_year, info.registration_month) == (
            o.registration_date.year, o.registration_date.month,
        )  # fmt: skip
        assert o.head_iin in fs.persons and o.employee_iins
        for iin in [o.head_iin, *o.employee_iins]:
            p = fs.persons[iin]
            assert p.death_date is None and _age(p.birth_date) >= 18 and p.capable_status is None
    names = " ".join(o.name_ru for o in orgs)
    assert "Правительство для граждан" in names and "Управление занятости и социальных программ города Алматы" in names
    assert sum("akimat" in o.tags for o in orgs) == 8
    employers = [o for o in orgs if "foreign-labour-employer" in o.tags]
    assert employers and all(any(fs.persons[i].citizenship.code != "398" for i in o.employee_iins) for o in employers)


def test_powers_of_attorney(fs: FixtureSet) -> None:
    poas = list(fs.powers_of_attorney.values())
    assert len(poas) >= 40
    tags = Counter(t for a in poas for t in a.tags)
    assert tags["expired"] >= 8 and tags["revoked"] >= 6 and tags["not-notarised"] >= 4 and tags["not-yet-valid"] >= 3
    assert sum(a.notarised for a in poas) > len(poas) * 3 // 4
    for a in poas:
        assert (a.principal_iin is None) != (a.principal_bin is None), a.number
        assert a.principal_iin in fs.persons if a.principal_iin else a.principal_bin in fs.organisations
        attorney = fs.persons[a.attorney_iin]
        assert attorney.death_date is None and _age(attorney.birth_date) >= 18 and attorney.capable_status is None
        assert a.attorney_iin != a.principal_iin
        assert a.powers and a.valid_from <= a.valid_to and a.registration_date <= a.valid_from
        assert (a.notary is not None) == a.notarised and ("not-notarised" in a.tags) == (not a.notarised)
        if a.notary:
            assert a.notary.region == "Алматы" and a.notary.license_number
        assert ("expired" in a.tags) == (a.valid_to < REF_DATE)
        assert ("not-yet-valid" in a.tags) == (a.valid_from > REF_DATE)
        assert ("revoked" in a.tags) == a.revoked == (a.revocation_date is not None)
        if a.revocation_date:
            assert a.valid_from <= a.revocation_date < REF_DATE
        if a.principal_iin and "principal-deceased" not in a.tags:
            assert fs.persons[a.principal_iin].death_date is None
        if not {"expired", "revoked", "not-notarised", "not-yet-valid"} & set(a.tags):
            assert a.notarised and a.valid_from <= REF_DATE and a.valid_to > date(2026, 12, 31), a.number
        if "not-yet-valid" in a.tags:
            assert a.valid_from >= date(2026, 6, 1)
        if a.principal_bin and "FOREIGN_LABOUR_PERMIT" in {p.code for p in a.powers}:
            assert "foreign-labour-employer" in fs.organisations[a.principal_bin].tags


def test_demo_powers_of_attorney(default_fs: FixtureSet) -> None:
    poas = default_fs.powers_of_attorney
    assert list(poas)[: len(DEMO_POAS)] == list(DEMO_POAS.values())
    valid = poas[DEMO_POAS["valid"]]
    assert (valid.principal_iin, valid.attorney_iin) == (DEMO_IINS["disabled"], DEMO_IINS["attorney"])
    assert valid.notarised and not valid.revoked and valid.valid_from <= REF_DATE <= valid.valid_to
    assert poas[DEMO_POAS["expired"]].valid_to < REF_DATE
    assert poas[DEMO_POAS["revoked"]].revoked
    nn = poas[DEMO_POAS["not_notarised"]]
    assert not nn.notarised and nn.valid_from <= REF_DATE <= nn.valid_to
    dead = poas[DEMO_POAS["principal_deceased"]]
    assert dead.principal_iin == DEMO_IINS["deceased"] and dead.valid_to > REF_DATE
    # the demo attorney's pairs are unique, so a lookup by (principal, attorney) finds one record
    pairs = Counter((a.principal_iin or a.principal_bin, a.attorney_iin) for a in poas.values())
    assert max(pairs.values()) == 1


def test_senders(default_fs: FixtureSet) -> None:
    s = default_fs.senders
    assert list(s) == ["shlyuz-demo", "ARM_TSON", "EGOV_PORTAL", "ENIS_ONLY", "arm-con", "egov-portal"]
    assert s["shlyuz-demo"].password == "demo-password" and s["shlyuz-demo"].may_call("anything")
    for sid, pw in (("ARM_TSON", "tson-password"), ("EGOV_PORTAL", "portal-password")):
        assert s[sid].password == pw
        assert s[sid].may_call("GBDFL_UniversalServiceSync") and s[sid].may_call("ENIS_POA_CHECK")
        assert not s[sid].may_call("OTHER")
    assert s["ENIS_ONLY"].password == "enis-only-password"
    assert s["ENIS_ONLY"].may_call("ENIS_POA_CHECK") and not s["ENIS_ONLY"].may_call("GBDFL_UniversalServiceSync")
    assert s["arm-con"].may_call("RSHEP_DOCUMENT") and s["arm-con"].may_call("ENIS_POA_CHECK")
    assert s["egov-portal"].may_call("ESOBES_APPLICATION") and not s["egov-portal"].may_call("RSHEP_DOCUMENT")
    assert all(x.description for x in s.values())


# --- loading and layering -------------------------------------------------------------------------------------------


def test_load_committed_dir_and_override(tmp_path: Path, default_fs: FixtureSet) -> None:
    base = load_dirs([COMMITTED])
    assert base.persons == default_fs.persons and base.powers_of_attorney == default_fs.powers_of_attorney
    applicant = base.persons[DEMO_IINS["applicant"]]
    changed = applicant.model_copy(update={"surname": "Override"})
    changed = changed.model_dump(mode="json", by_alias=True, exclude_none=True)
    (tmp_path / "persons.json").write_text(json.dumps([changed], ensure_ascii=False), encoding="utf-8")
    extra_sender = {"senderId": "MY_SYSTEM", "password": "secret", "allowedServices": ["ENIS_POA_CHECK"]}
    (tmp_path / "senders.json").write_text(json.dumps([extra_sender]), encoding="utf-8")
    merged = load_dirs([COMMITTED, tmp_path])
    assert merged.persons[DEMO_IINS["applicant"]].surname == "Override"
    assert len(merged.persons) == len(base.persons)
    assert set(merged.senders) == set(base.senders) | {"MY_SYSTEM"}
    assert merged.organisations == base.organisations


# --- command line --------------------------------------------------------------------------------------------------


def test_cli_fixtures_generate_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "gen"
    assert main(["fixtures", "generate", "--out", str(out)]) == 0
    for name in FILES.values():
        assert (out / name).read_bytes() == (COMMITTED / name).read_bytes()
    assert main(["fixtures", "generate", "--out", str(tmp_path / "small"), "--seed", "5", "--persons", "230"]) == 0
    assert len(load_dirs([tmp_path / "small"]).persons) == 230
    capsys.readouterr()
    assert main(["fixtures", "show", "--fixtures", str(COMMITTED), "--fixtures", str(tmp_path / "small")]) == 0
    text = capsys.readouterr().out
    assert "persons: " in text and "  deceased: " in text and "senders: 6" in text


def test_cli_fixtures_show_reports_bad_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "persons.json").write_text("[{}]", encoding="utf-8")
    assert main(["fixtures", "show", "--fixtures", str(tmp_path)]) == 1
    assert "persons.json" in capsys.readouterr().err


def test_cli_iin_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["iin", "check", "900101300007", "851231400120"]) == 0
    out = capsys.readouterr().out
    assert "900101300007\tvalid\tborn 1990-01-01, sex M" in out and "sex F" in out
    assert main(["iin", "check", "900101300007", "123456789011"]) == 1
    out = capsys.readouterr().out
    assert "123456789011\tinvalid\tbad century digit" in out
    assert main(["iin", "check", "900101300008"]) == 1
    assert "bad checksum" in capsys.readouterr().out
    assert main(["iin", "check", "--bin", "230540000014"]) == 0
    assert main(["iin", "check", "--bin", "123456789021"]) == 1


def test_cli_iin_make(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["iin", "make", "--birth-date", "1990-01-01", "--sex", "M"]) == 0
    assert capsys.readouterr().out.strip() == DEMO_IINS["applicant"]
    assert main(["iin", "make", "--birth-date", "1985-12-31", "--sex", "F", "--serial", "12"]) == 0
    assert capsys.readouterr().out.strip() == "851231400120"
    assert main(["iin", "make", "--birth-date", "1990-01-01", "--sex", "M", "--serial", "10000"]) == 1
    assert "serial must be 0-9999" in capsys.readouterr().err
