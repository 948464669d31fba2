"""In a real browser (docs/browser-tests.md): the State Corporation operator's page enters an application for a person
through a representative with a notarised power of attorney, shows the GBD FL and ENIS checks made over SHEP, and —
after the provider's employee approves it in the АРМ РШЭП inbox page — the provider's verified decision; a power of
attorney ENIS says is revoked is refused with its code on the page."""

from __future__ import annotations

import pytest
from browserkit import browser_fixture, click, fill, live_fixture, read, visible, wait_text  # noqa: F401 - fixtures
from selenium.webdriver.support.ui import Select
from test_browser_portal import SERVICE, inbox_decide

from shlyuz.fixtures.generate import DEMO_IINS

pytestmark = pytest.mark.browser

OPERATOR = "890512397971"  # an employee of the State Corporation's Almaty branch (docs/workstations.md)
APPLICANT = DEMO_IINS["disabled"]
REPRESENTATIVE = "820214300014"
VALID_POA, REVOKED_POA = "ДОВ-2025-000001", "ДОВ-2025-000003"  # docs/workstations.md


def con_login(driver, live) -> None:
    driver.get(live.page("con.html"))
    fill(driver, "#con-login", OPERATOR)
    fill(driver, "#con-password", f"tson-{OPERATOR}")
    click(driver, "#con-login-submit")
    wait_text(driver, "#con-operator-info", OPERATOR, "the operator is logged in")


def enter(driver, poa: str) -> None:
    Select(visible(driver, "#con-service")).select_by_value(SERVICE)
    fill(driver, "#con-applicant", APPLICANT)
    click(driver, "#con-rep")
    fill(driver, "#con-rep-iin", REPRESENTATIVE)
    fill(driver, "#con-poa", poa)
    click(driver, "#con-submit")


def test_operator_enters_an_application_by_a_representative_and_sees_checks_and_the_decision(browser, live):
    con_login(browser, live)
    enter(browser, VALID_POA)
    wait_text(browser, "#con-submit-state", "sent:", "the application is entered and sent")
    assert f"{VALID_POA} is VALID" in read(browser, "[data-testid=con-check-enis]")
    gbdfl = read(browser, "[data-testid=con-check-gbdfl]")
    assert f"({APPLICANT}) found" in gbdfl and "GBDFL_UniversalServiceSync messageId" in gbdfl

    inbox_decide(browser, live, approve=True)

    browser.get(live.page("con.html"))  # still logged in (the token is kept for the tab)
    read(browser, '[data-testid=con-status][data-status="APPROVED"]', message="the operator's list shows the approval")
    click(browser, "tr[data-testid=con-row]")
    assert read(browser, "[data-testid=con-result]", lambda e: e.get_attribute("data-decision")) == "approved"


def test_a_revoked_power_of_attorney_is_refused_with_its_code(browser, live):
    con_login(browser, live)
    enter(browser, REVOKED_POA)
    wait_text(browser, "[data-testid=error-code]", "POA_NOT_VALID", "ENIS's verdict is shown as the code")
    assert read(browser, "[data-testid=error-code]") == "POA_NOT_VALID"  # displayed
    assert "REVOKED" in read(browser, "[data-testid=error-message]")
    assert "not sent" in read(browser, "#con-submit-state")
