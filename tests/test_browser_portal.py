"""In a real browser (headless Chromium through Selenium, docs/browser-tests.md): the portal page logs in with EDS and
signs the application through the NCALayer emulator over wss://, the АРМ РШЭП inbox page takes and decides it, and
the cabinet, the chain run and the journal show what happened. The gateway runs with its delivery loop, as served."""

from __future__ import annotations

import pytest
from browserkit import browser_fixture, click, fill, live_fixture, read, visible, wait_for, wait_text  # noqa: F401 - fixtures
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from shlyuz.fixtures.generate import DEMO_IINS

pytestmark = pytest.mark.browser

APPLICANT = DEMO_IINS["disabled"]  # no automatic provider rule decides her applications: they wait in the inbox
SERVICE = "disabled-children-home-education"


def specialist(live) -> str:
    from shlyuz.workstations.rshep_api import employees

    staff = employees(live.gateway.fixtures, live.gateway.settings.provider.bin)
    return next(e.iin for e in staff.values() if e.role == "specialist")


def portal_login_with_eds(driver, live, iin: str = APPLICANT) -> None:
    driver.get(live.page("portal.html"))
    wait_text(driver, "#ncalayer-status", "NCALayer 1.4", "the portal page reaches the NCALayer emulator")
    click(driver, "#eds-login")
    wait_text(driver, "#user-account", iin, "logged in with the AUTH key NCALayer signed the challenge with")


def submit_application(driver) -> tuple[str, str]:
    """Choose the service, sign through NCALayer, submit; the application's id and its chain run from the cabinet."""
    Select(visible(driver, "#service-select")).select_by_value(SERVICE)
    click(driver, "#sign-submit")
    wait_text(driver, "#submit-state", "submitted:", "the signed application is accepted")
    app_id = read(driver, "tr[data-testid=cabinet-row]", lambda e: e.get_attribute("data-id"), "a cabinet row")
    run = read(driver, f'tr[data-id="{app_id}"] [data-testid=app-chain-run]', message="its chain run")
    return app_id, run


def inbox_decide(driver, live, *, approve: bool, reason: tuple[str, str] | None = None) -> str:
    """Log into the inbox page, open the new item, take it, decide it; returns its number."""
    iin = specialist(live)
    driver.get(live.page("inbox.html"))
    fill(driver, "#inbox-iin", iin)
    fill(driver, "#inbox-password", f"rshep-{iin}")
    click(driver, "#inbox-login")
    number = read(driver, "tr[data-testid=inbox-row]", lambda e: e.get_attribute("data-number"),
                  "the application delivered over the async channel appears in the inbox")  # fmt: skip
    click(driver, f'tr[data-testid=inbox-row][data-number="{number}"]')
    wait_text(driver, "#item-title", number)
    click(driver, "#item-take")
    wait_for(driver, lambda d: d.find_element(By.ID, "item-status").get_attribute("data-status") == "taken", "taken")
    if approve:
        click(driver, "#item-approve")
    else:
        fill(driver, "#item-reason-code", reason[0])
        fill(driver, "#item-reason", reason[1])
        click(driver, "#item-refuse")
    want = "approved" if approve else "refused"
    assert read(driver, "[data-testid=item-decided]", lambda e: e.get_attribute("data-status"), "the decision") == want
    return number


def test_portal_sign_submit_inbox_approve_and_the_cabinet_chain_and_journal_show_it(browser, live):
    """The done-when flow of issue 8, from the browser alone. The journal page (live) and the chain run page are
    kept open in their own tabs and are watched updating, not reloaded."""
    live.select_identity(f"person/{APPLICANT}")
    portal_tab = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(live.page("journal.html"))
    wait_text(browser, "#journal-live", "live", "the journal page is connected to the live stream")
    journal_tab = browser.current_window_handle

    browser.switch_to.window(portal_tab)
    portal_login_with_eds(browser, live)
    app_id, run_id = submit_application(browser)
    run = live.call(live.gateway.chains.get(run_id))
    assert run["status"] == "waiting" and run["waitingFor"] == "procedure main step 3", run["status"]
    request = run["requestMessageId"]

    browser.switch_to.window(journal_tab)  # the REQUEST's delivery arrived in the open tab over the live stream
    row = wait_text(browser, "tr[data-testid=journal-row]", request, "the journal page shows the portal's REQUEST")
    assert "egov-portal" in row.text and "ESOBES_APPLICATION" in row.text and "DELIVERED" in row.text

    browser.switch_to.new_window("tab")
    browser.get(live.page("chains.html", run=run_id))
    chain_tab = browser.current_window_handle
    wait_text(browser, "#run-sequence", "waiting for a decision: procedure main step 3", "the diagram shows the wait")

    browser.switch_to.window(portal_tab)
    number = inbox_decide(browser, live, approve=True)

    browser.switch_to.window(chain_tab)  # the page polls a waiting run: the decision appears without a reload
    decided = '#run-sequence g.step[data-ref="procedure main step 3"] g.branch[data-branch="approve"]'
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, decided), "the diagram shows the inbox's approval")
    step = read(browser, 'tr[data-testid=run-step][data-ref="procedure main step 3"]')
    assert f"approved in the esobes inbox: {number}" in step
    assert "result" in read(browser, "#run-summary")
    response = live.call(live.gateway.chains.get(run_id))["trace"]["steps"]
    response = next(c["message_id"] for st in response if st["ref"] == "procedure main step 3" for c in st["calls"])

    browser.switch_to.window(journal_tab)  # and the RESPONSE carrying the decision, in the same open tab
    row = wait_text(browser, "tr[data-testid=journal-row]", response, "the journal page shows the decision's RESPONSE")
    assert "esobes" in row.text and "ESOBES_APPLICATION" in row.text

    browser.switch_to.window(portal_tab)
    browser.get(live.page("portal.html"))
    read(browser, '[data-testid=app-status][data-status="APPROVED"]', message="the cabinet shows the approval")
    click(browser, f'tr[data-id="{app_id}"]')
    assert read(browser, "[data-testid=result-decision]", lambda e: e.get_attribute("data-decision")) == "approved"
    assert read(browser, "[data-testid=result-verification]", lambda e: e.get_attribute("data-verified")) == "true"
    assert number in read(browser, "[data-testid=app-number]")
    assert read(browser, "[data-testid=detail-chain-run]") == run_id
    run = live.call(live.gateway.chains.get(run_id))
    assert run["status"] == "done" and run["trace"]["outcome"] == "result"


def portal_register_and_login(driver, live, iin: str = APPLICANT, password: str = "Qwerty2026x") -> None:
    driver.get(live.page("portal.html"))
    fill(driver, "#login-iin", iin)
    fill(driver, "#login-password", password)
    click(driver, "#register-submit")  # registers the account, then logs in with the password
    wait_text(driver, "#user-methods", "password", "logged in by IIN and password")
    assert iin in driver.find_element(By.ID, "user-account").text


def test_a_refusal_in_the_inbox_reaches_the_cabinet_with_its_reason(browser, live):
    """Logged in by IIN and password this time; the application is still signed through NCALayer."""
    live.select_identity(f"person/{APPLICANT}")
    portal_register_and_login(browser, live)
    wait_text(browser, "#ncalayer-status", "NCALayer 1.4")
    _, run_id = submit_application(browser)
    inbox_decide(browser, live, approve=False, reason=("R_DOCS", "the medical conclusion is missing"))
    browser.get(live.page("portal.html"))
    read(browser, '[data-testid=app-status][data-status="REFUSED"]', message="the cabinet shows the refusal")
    click(browser, "tr[data-testid=cabinet-row]")
    decision = read(browser, "[data-testid=result-decision]", lambda e: (e.get_attribute("data-decision"), e.text))
    assert decision[0] == "refused"
    assert "R_DOCS" in decision[1] and "the medical conclusion is missing" in decision[1]
    run = live.call(live.gateway.chains.get(run_id))
    assert run["trace"]["refusal"] == {"code": "R_DOCS", "text": "the medical conclusion is missing"}


def test_signing_with_a_revoked_certificate_is_refused_with_its_code_on_the_page(browser, live):
    live.select_identity(f"person/{APPLICANT}")
    portal_login_with_eds(browser, live)
    assert not browser.find_element(By.ID, "devsign-submit").is_displayed()  # no test-only signing: NCALayer runs
    identity = visible(browser, "[data-testid=ncalayer-identity]")  # the tester picks a revoked key on the page
    identity.clear()
    identity.send_keys("bad/revoked")
    Select(visible(browser, "#service-select")).select_by_value(SERVICE)
    click(browser, "#sign-submit")
    wait_text(browser, "[data-testid=error-code]", "CERT_REVOKED", "the refusal's code is shown")
    assert read(browser, "[data-testid=error-code]") == "CERT_REVOKED"  # read() waits for it to be displayed
    assert "not submitted" in read(browser, "#submit-state")
    assert not browser.find_elements(By.CSS_SELECTOR, "tr[data-testid=cabinet-row]")
