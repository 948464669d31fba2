"""The browser kit itself: without Chromium or its driver the browser tests fail, naming what is missing and how to
install it — they are never skipped (docs/browser-tests.md)."""

from __future__ import annotations

from pathlib import Path

import browserkit
import pytest


@pytest.mark.parametrize("name", ["CHROMIUM", "CHROMEDRIVER"])
def test_a_missing_browser_or_driver_fails_with_the_install_command(monkeypatch, tmp_path, name):
    missing = tmp_path / "absent"
    monkeypatch.setattr(browserkit, name, missing)
    with pytest.raises(pytest.fail.Exception) as failed:
        browserkit.chromium()
    assert f"{missing} not found" in str(failed.value)
    assert "apt-get install -y chromium chromium-driver" in str(failed.value)


def test_the_browser_and_its_driver_are_debians_packages():
    assert browserkit.CHROMEDRIVER == Path("/usr/bin/chromedriver")
    assert browserkit.CHROMIUM == Path("/usr/bin/chromium")
