"""Screenshots of the web console's main pages, after playing the done-when flow of issue 8 in a real browser.

    .venv/bin/python tools/screenshots.py [--out docs/screenshots] [--width 1400] [--height 1000]

It starts the gateway and the NCALayer emulator on free ports (tests/browserkit.py: a fresh data directory and test
PKI under a temporary directory, the gateway clock fixed at 2026-01-15 10:00 +05:00 as in the tests), then, in
headless Chromium: logs into the portal with EDS through the emulator, signs and submits an application, decides it
in the АРМ РШЭП inbox, enters one at the State Corporation's workstation, and saves a PNG of each page — the portal
cabinet with the result, the inbox item, the operator's page with its checks, and the console's overview, journal,
chain run and services pages — into ``--out``. Needs Debian's ``chromium`` and ``chromium-driver``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    args = parser.parse_args(argv)

    import browserkit as bk
    from conftest import GATEWAY_NOW, PKI_NOW
    from selenium.webdriver.common.by import By
    from test_browser_portal import APPLICANT, portal_login_with_eds, submit_application
    from test_browser_workstations import VALID_POA, con_login, enter

    from shlyuz.clock import FixedClock
    from shlyuz.config import load_settings
    from shlyuz.fixtures.store import load_dirs
    from shlyuz.pki.store import Pki, PkiUrls

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="shlyuz-shots-") as tmp:
        pki = Pki.open(Path(tmp) / "pki", now=PKI_NOW, urls=PkiUrls("http://127.0.0.1:8080"))
        pki.ensure_fixture_identities(load_dirs([REPO / "fixtures"]), now=PKI_NOW)
        settings = load_settings(data_dir=Path(tmp) / "var")
        live = bk.LiveGateway(settings, pki, clock=FixedClock(GATEWAY_NOW)).start()
        driver = bk.chromium(width=args.width, height=args.height)
        try:
            def shot(name: str, width: int = args.width) -> None:
                driver.execute_script("window.scrollTo(0, 0)")
                driver.set_window_size(width, args.height)
                # the page is as tall as its content: one image shows all of it
                height = driver.execute_script("return Math.max(document.body.scrollHeight, 600)")
                driver.set_window_size(width, min(max(int(height) + 120, args.height), 4000))
                bk.wait_for(driver, lambda d: d.execute_script(  # rows flash when they arrive: wait until they are still
                    "return document.getAnimations().every(a => a.playState !== 'running')"), "animations finished")
                shots.append(bk.screenshot(driver, out / f"{name}.png"))
                driver.set_window_size(args.width, args.height)

            # the State Corporation's operator enters an application for a person through a representative
            con_login(driver, live)
            enter(driver, VALID_POA)
            bk.wait_text(driver, "#con-submit-state", "sent:")
            bk.click(driver, "tr[data-testid=con-row]")
            bk.visible(driver, "[data-testid=con-check-enis]")
            # the portal: EDS login, sign through NCALayer, submit
            live.select_identity(f"person/{APPLICANT}")
            portal_login_with_eds(driver, live)
            _, run_id = submit_application(driver)
            # the inbox: the portal's application is decided (the operator's waits, as a new item)
            number = inbox_decide_portal(driver, live, bk, By)
            shot("inbox")
            # the cabinet with the verified result
            driver.get(live.page("portal.html"))
            bk.wait_for(driver, lambda d: any(e.get_attribute("data-status") == "APPROVED"
                                              for e in d.find_elements(By.CSS_SELECTOR, "[data-testid=app-status]")),
                        "the cabinet shows the approval")  # fmt: skip
            for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-testid=cabinet-row]"):
                row.click()
                break
            bk.visible(driver, "[data-testid=result-verification]")
            shot("portal")
            driver.get(live.page("con.html"))
            bk.click(driver, "tr[data-testid=con-row]")
            bk.visible(driver, "[data-testid=con-check-enis]")
            shot("con")
            # the console's own pages, where they exist
            static = REPO / "src" / "shlyuz" / "console" / "static"
            for name, page, query in (("overview", "index.html", {}), ("journal", "journal.html", {}),
                                      ("chain-run", "chains.html", {"run": run_id}), ("services", "services.html", {})):  # fmt: skip
                if not (static / page).exists():
                    print(f"skipped {name}: {page} does not exist", file=sys.stderr)
                    continue
                driver.get(live.page(page, **query))
                bk.wait_for(driver, lambda d: d.execute_script("return document.readyState") == "complete", "loaded")
                bk.wait_for(driver, lambda d: _settled(d), f"{page} has drawn its data")
                if name == "chain-run":
                    bk.visible(driver, "#run-sequence svg", "the sequence diagram")
                if name == "journal":  # the operator's GBD FL call opened: the raw messages, pretty-printed
                    bk.wait_text(driver, "tr[data-testid=journal-row]", "GBDFL_UniversalServiceSync", "GBD FL").click()
                    bk.visible(driver, "[data-testid=request-xml]", "the REQUEST's XML")
                shot(name)
            print(f"decided {number}; chain run {run_id}", file=sys.stderr)
        finally:
            driver.quit()
            live.stop()
    for path in shots:
        print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


def inbox_decide_portal(driver, live, bk, By) -> str:
    """Decide the portal's application (the E-sobes item) in the inbox page; the operator's АРМ РШЭП item stays new."""
    iin = _specialist(live)
    driver.get(live.page("inbox.html"))
    bk.fill(driver, "#inbox-iin", iin)
    bk.fill(driver, "#inbox-password", f"rshep-{iin}")
    bk.click(driver, "#inbox-login")
    row = bk.wait_for(driver, lambda d: next((r for r in d.find_elements(By.CSS_SELECTOR, "tr[data-testid=inbox-row]")
                                              if r.get_attribute("data-number").startswith("ESB-")), False),
                      "the portal's application in the inbox")  # fmt: skip
    number = row.get_attribute("data-number")
    row.click()
    bk.wait_text(driver, "#item-title", number)
    bk.click(driver, "#item-take")
    bk.wait_for(driver, lambda d: d.find_element(By.ID, "item-status").get_attribute("data-status") == "taken", "taken")
    bk.click(driver, "#item-approve")
    bk.visible(driver, "[data-testid=item-decided]")
    return number


def _specialist(live) -> str:
    from shlyuz.workstations.rshep_api import employees

    staff = employees(live.gateway.fixtures, live.gateway.settings.provider.bin)
    return next(e.iin for e in staff.values() if e.role == "specialist")


def _settled(driver) -> bool:
    """Nothing on the page says it is still loading (the journal's live stream never ends, so requests can't tell)."""
    return driver.execute_script("return !/loading|connecting…/i.test(document.body.innerText)")


if __name__ == "__main__":
    sys.exit(main())
