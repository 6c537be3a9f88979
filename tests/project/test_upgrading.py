"""The dependencies whose private or copied APIs hotline relies on are the versions docs/upgrading.md
was checked against: an upgrade fails here, pointing at that page, until its entries are re-checked."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "upgrading.md"
REQUIRED = {"Django", "channels", "channels-redis", "asgiref", "daphne", "Twisted", "django-otp"}


def checked_against() -> dict[str, str]:
    section = PAGE.read_text().split("## Checked against", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| ([A-Za-z][\w.-]*) \| (\d[\w.]*) \|$", section, re.MULTILINE))


def test_the_page_lists_every_package_it_covers():
    listed = checked_against()
    assert REQUIRED <= set(listed), f"docs/upgrading.md must say which version of each was checked: {REQUIRED - set(listed)}"
    entries = PAGE.read_text().split("## What we rely on", 1)[1]
    for package in listed:
        assert f"| {package} " in entries, f"docs/upgrading.md lists {package} but says nothing it relies on"


def test_installed_versions_are_the_ones_the_page_was_checked_against():
    changed = {
        package: (expected, importlib.metadata.version(package))
        for package, expected in checked_against().items()
        if importlib.metadata.version(package) != expected
    }
    assert not changed, "\n".join(
        [f"{package} is {installed}, but docs/upgrading.md was checked against {expected}."
         for package, (expected, installed) in changed.items()]
        + ["Re-check that package's entries in docs/upgrading.md (what to look at, and the tests to run), "
           "then update its 'Checked against' version there."]
    )


def test_requirements_pin_the_checked_versions():
    """A fresh install gets exactly these versions (Twisted too, which daphne would otherwise float)."""
    pins = {}
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            match = re.match(r"^([A-Za-z][\w.-]*)(\[[\w,]+\])?==([\w.]+)", line.strip())
            if match:
                pins[match.group(1).lower()] = match.group(3)
    for package, version in checked_against().items():
        assert pins.get(package.lower()) == version, f"pin {package}=={version} in requirements.txt (docs/upgrading.md)"
