"""The docs say what the code does: every error code and every setting is documented."""

from __future__ import annotations

import re
from pathlib import Path

from shlyuz.config import JournalSettings, Limits, PkiSettings, Settings
from shlyuz.errors import ErrorCode

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_error_code_is_documented_with_its_faultcode():
    text = (DOCS / "errors.md").read_text()
    rows = dict(re.findall(r"^\| `([A-Z_0-9]+)` \| `soap:(\w+)` \|", text, re.M))
    assert rows == {c.value: c.kind.value for c in ErrorCode}


def test_every_setting_is_documented():
    text = (DOCS / "configuration.md").read_text()
    nested = {"limits": Limits, "pki": PkiSettings, "journal": JournalSettings}
    for name in Settings.model_fields:
        if name in nested:
            for sub in nested[name].model_fields:
                assert f"`{name}.{sub}`" in text, sub
        else:
            assert f"`{name}`" in text, name
            assert f"SHLYUZ_{name.upper()}" in text, name
