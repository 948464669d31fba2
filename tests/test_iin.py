"""IIN/BIN checksum and structure (kz_egov.md §4)."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from shlyuz.fixtures.iin import (
    iin_check_digit,
    is_valid_bin,
    is_valid_iin,
    make_bin,
    make_iin,
    parse_bin,
    parse_iin,
)

KNOWN_VALID_IINS = ["900101300007", "851231400120", "000201500015"]


def _first_pass(digits11: str) -> int:
    return sum(int(d) * w for d, w in zip(digits11, range(1, 12))) % 11


def _make_or_skip(birth: date, sex: str, serial: int) -> str:
    try:
        return make_iin(birth, sex, serial)
    except ValueError as exc:
        assert "no valid check digit" in str(exc)
    assume(False)  # about one prefix in eleven has no check digit: skip the example
    raise AssertionError("unreachable")


# --- known values ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("iin", KNOWN_VALID_IINS)
def test_known_valid_iins(iin: str) -> None:
    assert is_valid_iin(iin)
    assert iin_check_digit(iin[:11]) == int(iin[11])


def test_known_iin_details() -> None:
    info = parse_iin("900101300007")
    assert (info.birth_date, info.sex, info.century, info.century_digit, info.serial) == (
        date(1990, 1, 1), "M", 1900, 3, 0,
    )  # fmt: skip
    info = parse_iin("851231400120")
    assert (info.birth_date, info.sex, info.serial, info.check_digit) == (date(1985, 12, 31), "F", 12, 0)
    info = parse_iin("000201500015")
    assert (info.birth_date, info.sex, info.century) == (date(2000, 2, 1), "M", 2000)


def test_nca_test_certificate_values_are_invalid() -> None:
    assert not is_valid_iin("123456789011")
    assert not is_valid_bin("123456789021")


def test_known_valid_bin() -> None:
    assert is_valid_bin("230540000014")
    info = parse_bin("230540000014")
    assert (info.registration_year, info.registration_month, info.type, info.attribute, info.serial) == (
        2023, 5, 4, 0, 1,
    )  # fmt: skip
    assert info.type_name == "resident legal entity" and info.attribute_name == "head unit"
    assert make_bin(2023, 5, 4, 0, 1) == "230540000014"


def test_make_iin_examples() -> None:
    assert make_iin(date(1990, 1, 1), "M", 0) == "900101300007"
    assert make_iin(date(1985, 12, 31), "F", 12) == "851231400120"
    assert make_iin(date(2000, 2, 1), "M", 1) == "000201500015"
    assert make_iin(date(1899, 12, 31), "F", 5)[6] == "2"
    assert make_iin(date(2020, 6, 1), "F", 5)[6] == "6"


def test_second_weight_pass_is_used() -> None:
    # a prefix whose first pass gives 10 gets its digit from the second weights
    prefix = next(f"{n:011d}" for n in range(10**10, 10**10 + 10_000) if _first_pass(f"{n:011d}") == 10)
    second = sum(int(d) * w for d, w in zip(prefix, (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2))) % 11
    assert iin_check_digit(prefix) == (None if second == 10 else second)


def test_prefix_without_check_digit() -> None:
    birth = date(1990, 1, 1)
    missing = [s for s in range(10_000) if iin_check_digit(f"900101{3}{s:04d}") is None]
    assert missing, "some serials have no valid check digit"
    with pytest.raises(ValueError, match="no valid check digit exists for the IIN prefix 9001013"):
        make_iin(birth, "M", missing[0])
    # and no 12th digit makes such a prefix valid
    prefix = f"9001013{missing[0]:04d}"
    assert not any(is_valid_iin(prefix + str(k)) for k in range(10))
    with pytest.raises(ValueError, match="bad checksum: no valid check digit exists"):
        parse_iin(prefix + "0")


def test_iin_check_digit_rejects_bad_input() -> None:
    for bad in ("", "1234567890", "123456789012", "1234567890a"):
        with pytest.raises(ValueError, match="expected 11 digits"):
            iin_check_digit(bad)


def test_make_iin_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="sex must be 'M' or 'F'"):
        make_iin(date(1990, 1, 1), "X", 1)
    with pytest.raises(ValueError, match="birth year must be 1800-2099"):
        make_iin(date(2100, 1, 1), "M", 1)
    with pytest.raises(ValueError, match="serial must be 0-9999"):
        make_iin(date(1990, 1, 1), "M", 10_000)


def test_make_bin_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="registration year"):
        make_bin(2050, 1, 4, 0, 1)
    with pytest.raises(ValueError, match="month must be 1-12"):
        make_bin(2020, 13, 4, 0, 1)
    with pytest.raises(ValueError, match="type must be 4, 5 or 6"):
        make_bin(2020, 1, 3, 0, 1)
    with pytest.raises(ValueError, match="attribute must be 0-3"):
        make_bin(2020, 1, 4, 4, 1)
    with pytest.raises(ValueError, match="serial must be 0-99999"):
        make_bin(2020, 1, 4, 0, 100_000)


# --- parse errors name the problem -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("90010130000", "must be 12 digits long, got 11"),
        ("9001013000077", "must be 12 digits long, got 13"),
        ("", "must be 12 digits long, got 0"),
        ("90010130000x", "must contain only digits"),
        (" 90010130000", "must contain only digits"),
        ("９００１０１３０００７", "must be 12 digits long|must contain only digits"),
        ("900101000007", "bad century digit: the 7th digit must be 1-6, got 0"),
        ("900101700007", "bad century digit: the 7th digit must be 1-6, got 7"),
        ("900101900007", "bad century digit: the 7th digit must be 1-6, got 9"),
        ("900230300007", r"impossible birth date 1990-02-30"),
        ("901301300007", r"impossible birth date 1990-13-01"),
        ("000229300007", r"impossible birth date 1900-02-29"),
        ("900101300008", "bad checksum: check digit is 8, expected 7"),
    ],
)
def test_parse_iin_errors(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_iin(value)
    assert not is_valid_iin(value)


def test_parse_iin_non_string() -> None:
    with pytest.raises(ValueError, match="must be a string"):
        parse_iin(900101300007)  # type: ignore[arg-type]
    assert not is_valid_iin(None)


def test_leap_day_2000_is_possible() -> None:
    assert parse_iin(make_iin(date(2000, 2, 29), "F", 7)).birth_date == date(2000, 2, 29)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("23054000001", "must be 12 digits long"),
        ("2305400000a4", "must contain only digits"),
        ("231340000014", "bad registration month"),
        ("230030000014", "bad registration month"),
        ("230530000014", "bad entity type: the 5th digit must be 4, 5 or 6, got 3"),
        ("230544000014", "bad attribute: the 6th digit must be 0-3, got 4"),
        ("230540000015", "bad checksum: check digit is 5, expected 4"),
    ],
)
def test_parse_bin_errors(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_bin(value)
    assert not is_valid_bin(value)


# --- properties --------------------------------------------------------------------------------------------------

dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))
sexes = st.sampled_from(["M", "F"])
serials = st.integers(min_value=0, max_value=9999)


@given(dates, sexes, serials)
def test_make_iin_round_trips(birth: date, sex: str, serial: int) -> None:
    iin = _make_or_skip(birth, sex, serial)
    assert re.fullmatch(r"\d{12}", iin)
    info = parse_iin(iin)
    assert (info.birth_date, info.sex, info.serial) == (birth, sex, serial)
    assert info.century == birth.year // 100 * 100
    assert is_valid_iin(iin)


@given(dates, sexes, serials, st.integers(min_value=0, max_value=9))
def test_changed_check_digit_is_invalid(birth: date, sex: str, serial: int, digit: int) -> None:
    iin = _make_or_skip(birth, sex, serial)
    assume(str(digit) != iin[11])
    changed = iin[:11] + str(digit)
    assert not is_valid_iin(changed)
    with pytest.raises(ValueError, match="bad checksum"):
        parse_iin(changed)


@given(dates, sexes, serials, st.integers(min_value=0, max_value=9), st.integers(min_value=0, max_value=9))
def test_single_digit_change_is_caught_by_the_first_pass(
    birth: date, sex: str, serial: int, position: int, digit: int
) -> None:
    """Weights 1..10 are non-zero mod 11, so changing one of the first ten digits changes the first-pass sum; the
    change goes unnoticed only when the second weight pass takes over (a first-pass sum of 10)."""
    iin = _make_or_skip(birth, sex, serial)
    assume(str(digit) != iin[position])
    changed = iin[:position] + str(digit) + iin[position + 1 :]
    assume(_first_pass(iin[:11]) != 10 and _first_pass(changed[:11]) != 10)
    assert not is_valid_iin(changed)


def test_eleventh_digit_has_weight_eleven() -> None:
    """A documented blind spot of the algorithm: the 11th digit weighs 11 (= 0 mod 11) in the first pass."""
    assert is_valid_iin("900101300007") and is_valid_iin("900101300017")


@given(
    st.integers(min_value=1950, max_value=2049),
    st.integers(min_value=1, max_value=12),
    st.sampled_from([4, 5, 6]),
    st.integers(min_value=0, max_value=3),
    st.integers(min_value=0, max_value=99999),
)
def test_make_bin_round_trips(year: int, month: int, kind: int, attribute: int, serial: int) -> None:
    try:
        value = make_bin(year, month, kind, attribute, serial)
    except ValueError as exc:
        assert "no valid check digit" in str(exc)
        assume(False)
        return
    info = parse_bin(value)
    assert (info.registration_year, info.registration_month, info.type, info.attribute, info.serial) == (
        year, month, kind, attribute, serial,
    )  # fmt: skip
    assert is_valid_bin(value)
    assert not is_valid_bin(value[:11] + str((int(value[11]) + 1) % 10))


@given(st.text(alphabet="0123456789", max_size=20).filter(lambda s: len(s) != 12))
def test_wrong_length_is_rejected(value: str) -> None:
    with pytest.raises(ValueError, match="must be 12 digits long"):
        parse_iin(value)
