"""The service-definition loader refuses malformed and hostile files with a message naming file, path and problem."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shlyuz.services.loader import (
    MAX_FILE_BYTES,
    ServiceCatalogue,
    ServiceDefinitionError,
    load_service,
    parse_service,
    services_dir,
)  # fmt: skip
from shlyuz.services.model import Service

SAMPLE = services_dir() / "disabled-children-home-education.yaml"


@pytest.fixture(scope="module")
def sample() -> dict:
    return yaml.safe_load(SAMPLE.read_bytes())


def dump(data: dict) -> bytes:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()


def error_of(data: bytes, file: str = "x.yaml") -> ServiceDefinitionError:
    with pytest.raises(ServiceDefinitionError) as info:
        parse_service(data, file)
    return info.value


def test_a_real_definition_round_trips(sample: dict):
    s = parse_service(dump(sample))
    assert isinstance(s, Service) and s.id == "disabled-children-home-education"


def test_too_large_is_refused_before_parsing():
    err = error_of(b"a: " + b"x" * MAX_FILE_BYTES)
    assert err.file == "x.yaml" and "over the" in err.problem and str(MAX_FILE_BYTES) in err.problem


def test_not_utf8_names_the_byte():
    err = error_of(b"id: \xff\xfe")
    assert "not UTF-8" in err.problem and "0xff" in err.problem


def test_yaml_syntax_error_names_line_and_column():
    err = error_of(b"id: a\nnames: [unclosed\n")
    assert err.path.startswith("line ") and "column" in err.path


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (b"a: &x [1, 2]\nb: *x\n", "anchors (&x) are not allowed"),
        (b"a: [1]\nb: *x\n", "aliases"),
        (b"id: a\nid: b\n", "duplicate key 'id' (first at line 1)"),
        (b"yes: process 5\n", "is not a string (YAML reads a bare yes/no"),
        (b"1: x\n", "mapping key 1 is not a string"),
    ],
)
def test_hostile_or_ambiguous_yaml_is_refused(text: bytes, problem: str):
    err = error_of(text)
    assert problem in err.problem
    assert err.path.startswith("line ")


def test_billion_laughs_is_refused_without_expanding():
    lol = b'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, 9):
        lol += f"{chr(97 + i)}: &{chr(97 + i)} [*{chr(96 + i)},*{chr(96 + i)},*{chr(96 + i)},*{chr(96 + i)}]\n".encode()
    assert "anchors" in error_of(lol).problem


def test_deep_nesting_is_refused():
    assert "nesting deeper than" in error_of(b"a: " + b"[" * 200 + b"]" * 200).problem


@pytest.mark.parametrize("root", [b"- 1\n- 2\n", b"just text\n", b"42\n", b""])
def test_root_must_be_a_mapping(root: bytes):
    assert "must be a mapping" in error_of(root).problem


def _set(data: dict, path: list, value) -> dict:
    data = copy.deepcopy(data)
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


PORTAL = 2  # channels[2] of the sample is the portal chain; chain[2] is condition 1, chain[3] process 2


@pytest.mark.parametrize(
    ("path", "value", "where", "problem"),
    [
        (["id"], "Not A Slug", "id", "should match pattern"),
        (["names", "en"], KeyError, "names.en", "Field required"),
        (["channels", PORTAL, "chain", 2, "if_no"], "process 99", "channels[2].chain[2].if_no", "branch to 'process 99', which the 'portal' chain does not have"),
        (["channels", PORTAL, "chain", 2, "if_no"], "refusal R_NOPE", "channels[2].chain[2].if_no", "branch to unknown refusal 'R_NOPE'"),
        (["channels", PORTAL, "chain", 2, "if_no"], "go away", "channels[2].chain[2].if_no", "should match pattern"),
        (["channels", PORTAL, "chain", 2, "checks"], ["portal_auth", "telepathy"], "channels[2].chain[2].checks[1]", "Input should be"),
        (["channels", PORTAL, "chain", 2, "if_yes"], KeyError, "channels[2].chain[2]", "needs both 'if_yes' and 'if_no'"),
        (["channels", PORTAL, "chain", 3, "number"], 1, "channels[2].chain[3].number", "process number(s) [1] used twice"),
        (["channels", PORTAL, "chain", 3, "refusal"], "R_NOPE", "channels[2].chain[3].refusal", "unknown refusal 'R_NOPE'"),
        (["channels", PORTAL, "chain", 3, "duration"], "twenty minutes", "channels[2].chain[3].duration", "cannot parse duration 'twenty minutes'"),
        (["channels", PORTAL, "chain", 3, "duration"], "soon", "channels[2].chain[3].duration", "unknown duration unit 'soon'"),
        (["channels", PORTAL, "chain", 3, "duration"], "3 fortnights", "channels[2].chain[3].duration", "unknown duration unit 'fortnights'"),
        (["channels", PORTAL, "chain", 3, "duration"], {"unit": "minutes"}, "channels[2].chain[3].duration", "needs a value"),
        (["channels", PORTAL, "chain", 3, "systems"], ["portal", "mainframe"], "channels[2].chain[3].systems[1]", "Input should be"),
        (["procedures", 0, "steps", 1, "number"], 6, "procedures[0].steps", "step numbers must run 1..5 in order, got [1, 6, 3, 4, 5]"),
        (["procedures", 0, "steps", 1, "number"], 4, "procedures[0].steps[3].number", "step number(s) [4] used twice"),
        (["channels", 1, "steps", 2, "number"], 2, "channels[1].steps[2].number", "step number(s) [2] used twice"),
        (["channels", 0, "procedures"], ["nope"], "channels[0].procedures[0]", "runs unknown procedure 'nope'"),
        (["channels", PORTAL, "chain", 8, "wraps_procedure"], "nope", "channels[2].chain[8].wraps_procedure", "unknown procedure 'nope'"),
        (["deadlines", 0, "of"], KeyError, "deadlines[0].of", "a computed total needs 'of'"),
        (["no_channel"], {"portal": "excluded"}, "channels[2].id", "both listed and excluded"),
        (["required_documents", "inferred"], False, "required_documents.inferred", "Input should be True"),
        (["annexes", "order_2017", "number"], 0, "annexes.order_2017.number", "greater than or equal to 1"),
        (["surprise"], 1, "surprise", "Extra inputs are not permitted"),
    ],
)
def test_invalid_definition_names_the_path(sample: dict, path: list, value, where: str, problem: str):
    err = error_of(dump(_set(sample, path, value)), "svc.yaml")
    assert err.file == "svc.yaml"
    assert err.path.startswith(where), err
    assert problem in err.problem, err
    assert str(err).startswith("svc.yaml: ")


def test_file_name_must_match_the_id(tmp_path: Path):
    target = tmp_path / "wrong-name.yaml"
    target.write_bytes(SAMPLE.read_bytes())
    with pytest.raises(ServiceDefinitionError) as info:
        load_service(target)
    assert info.value.path == "id" and "does not match the file name 'wrong-name.yaml'" in info.value.problem


def test_catalogue_refuses_two_services_on_one_annex(tmp_path: Path, sample: dict):
    (tmp_path / f"{sample['id']}.yaml").write_bytes(dump(sample))
    twin = {**copy.deepcopy(sample), "id": "twin"}
    (tmp_path / "twin.yaml").write_bytes(dump(twin))
    with pytest.raises(ServiceDefinitionError) as info:
        ServiceCatalogue.load(tmp_path)
    assert "annex 2 of 2017 is also" in info.value.problem


def test_catalogue_lookups():
    c = ServiceCatalogue.load()
    assert c.get("wheelchairs").annexes.order_2017.number == 11
    assert c.by_annex(6, order=2015).id == "targeted-social-assistance"
    assert c.find("15").id == "tsa-membership-certificate"
    with pytest.raises(KeyError, match="no service 'nope'; known: child-allowance"):
        c.get("nope")
    with pytest.raises(KeyError, match="no service is annex 3 of the 2015"):
        c.by_annex(3, order=2015)
    with pytest.raises(ValueError, match="2017 or 2015"):
        c.by_annex(1, order=2016)


def test_missing_directory_is_named(tmp_path: Path):
    with pytest.raises(ServiceDefinitionError, match="not a directory"):
        ServiceCatalogue.load(tmp_path / "absent")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_crash_the_loader(data: bytes):
    try:
        parse_service(data, "fuzz.yaml")
    except ServiceDefinitionError as exc:
        assert str(exc).startswith("fuzz.yaml")


YAMLISH = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 100) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_definitions_fail_with_a_path(sample: dict, data: st.DataObject):
    """Replace one value anywhere in a valid definition: the result is valid or a precise error, never a crash."""
    mutated = copy.deepcopy(sample)
    node, path = mutated, []
    while isinstance(node, (dict, list)) and node:
        keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
        key = data.draw(st.sampled_from(keys))
        path.append(key)
        if not isinstance(node[key], (dict, list)) or data.draw(st.booleans()):
            node[key] = data.draw(YAMLISH)
            break
        node = node[key]
    try:
        parse_service(dump(mutated), "m.yaml")
    except ServiceDefinitionError as exc:
        assert exc.file == "m.yaml" and exc.problem
