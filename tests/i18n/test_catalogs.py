"""The translation catalogs under locale/ are complete, translated and compiled (docs/i18n.md).

* every msgid of both domains (django, djangojs) has a msgstr in every language, none fuzzy, with
  the plural forms the language has and the same placeholders as the English text;
* the committed .mo files are the compiled .po files (serving reads the .mo files);
* makemessages, run on a copy of the source as ./scripts/messages runs it, finds no string that is
  missing from the catalogs (and the catalogs hold none the source no longer has): a new string
  without its translations fails here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import polib
import pytest
from django.conf import settings
from django.utils.translation import to_locale

from tests.servers import ROOT

LOCALE = ROOT / "locale"
DOMAINS = ("django", "djangojs")
LANGUAGES = [to_locale(code) for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
NPLURALS = {"fa": 2, "zh_Hans": 1, "ru": 3}
# What makemessages must not read: the same list as ./scripts/messages (checked below).
IGNORED = ["var", "bench", "tests", "docs", "staticfiles", "node_modules", "locale"]
# Letters each language is written in: a msgstr without any is English left in place (or worse).
SCRIPTS = {"fa": r"[\u0600-\u06ff]", "zh_Hans": r"[\u4e00-\u9fff]", "ru": r"[\u0400-\u04ff]"}
SAME_IN_EVERY_LANGUAGE = {"E.164"}
# Brand names a language writes in Latin letters (Russian writes Weibo so; Persian and Chinese have their own).
KEPT_IN_LATIN = {"ru": {"Weibo"}}
PLACEHOLDER = re.compile(r"%(?:\([^)]+\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")


def catalog(language: str, domain: str) -> polib.POFile:
    path = LOCALE / language / "LC_MESSAGES" / f"{domain}.po"
    assert path.exists(), f"{path} is missing: run ./scripts/messages"
    return polib.pofile(str(path))


def key(entry) -> tuple:
    return (entry.msgctxt or "", entry.msgid, entry.msgid_plural or "")


def test_every_language_but_english_has_both_catalogs():
    assert sorted(LANGUAGES) == sorted(NPLURALS)
    for language in LANGUAGES:
        for domain in DOMAINS:
            assert len(catalog(language, domain)) > 0


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_msgid_is_translated_and_none_is_fuzzy(language, domain):
    po = catalog(language, domain)
    assert not po.metadata_is_fuzzy
    assert f"nplurals={NPLURALS[language]};" in po.metadata["Plural-Forms"].replace(" ", "")
    problems = []
    for entry in po:
        texts = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        if entry.fuzzy:
            problems.append(f"fuzzy: {entry.msgid!r}")
        if entry.obsolete:
            problems.append(f"obsolete: {entry.msgid!r}")
        if entry.msgid_plural and sorted(entry.msgstr_plural) != list(range(NPLURALS[language])):
            problems.append(f"plural forms {sorted(entry.msgstr_plural)}: {entry.msgid!r}")
        for text in texts:
            if not text.strip():
                problems.append(f"untranslated: {entry.msgid!r}")
                continue
            wanted = sorted(PLACEHOLDER.findall(entry.msgid))
            if sorted(PLACEHOLDER.findall(text)) != wanted:
                problems.append(f"placeholders {wanted} not kept: {entry.msgid!r} -> {text!r}")
            kept = SAME_IN_EVERY_LANGUAGE | KEPT_IN_LATIN.get(language, set())
            if entry.msgid not in kept and not re.search(SCRIPTS[language], text):
                problems.append(f"not written in {language}: {entry.msgid!r} -> {text!r}")
    assert not problems, "\n".join(problems)


def test_persian_uses_persian_letters_and_chinese_uses_full_width_punctuation():
    problems = []
    for domain in DOMAINS:
        for entry in catalog("fa", domain):
            for text in entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]:
                # Arabic yeh and kaf (ي ك) and Arabic digits are Arabic, not Persian (ی ک ۱۲۳).
                if re.search(r"[\u064a\u0643\u0660-\u0669]", text):
                    problems.append(f"fa: Arabic letters or digits in {text!r}")
        for entry in catalog("zh_Hans", domain):
            for text in entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]:
                if re.search(r"[\u4e00-\u9fff][,.;:?!]", text):
                    problems.append(f"zh_Hans: half-width punctuation after a character in {text!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_committed_mo_files_are_the_compiled_catalogs(language, domain):
    po = catalog(language, domain)
    mo_path = LOCALE / language / "LC_MESSAGES" / f"{domain}.mo"
    assert mo_path.exists(), f"{mo_path} is missing: run ./scripts/messages"
    mo = polib.mofile(str(mo_path))

    def entries(file) -> dict:
        return {
            key(entry): (tuple(sorted(entry.msgstr_plural.items())) if entry.msgid_plural else entry.msgstr)
            for entry in file
            if entry.msgid and not entry.obsolete
        }

    assert entries(mo) == entries(po), f"{mo_path} is older than its .po: run ./scripts/messages"


def test_scripts_messages_ignores_what_this_test_ignores():
    script = (ROOT / "scripts" / "messages").read_text()
    for folder in IGNORED:
        assert f"-i {folder}" in script


@pytest.fixture(scope="module")
def fresh_catalogs(tmp_path_factory):
    """The msgids makemessages finds in a copy of today's source, per domain."""
    if not shutil.which("xgettext"):
        pytest.fail("makemessages needs GNU gettext: apt-get install gettext (./scripts/test installs it)")
    copy = tmp_path_factory.mktemp("source") / "hotline"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(".*", "__pycache__", "*.sqlite3", *IGNORED),
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1", "PYTHONPATH": str(copy)}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    ignore = [arg for folder in IGNORED for arg in ("-i", folder)]
    found = {}
    for domain, extra in (("django", []), ("djangojs", ["-e", "js"])):
        subprocess.run(
            [sys.executable, "manage.py", "makemessages", "-l", "fa", "-d", domain, *extra, *ignore, "--no-obsolete"],
            cwd=copy, env=env, check=True, capture_output=True, timeout=240,
        )
        found[domain] = {key(entry) for entry in polib.pofile(str(copy / "locale" / "fa" / "LC_MESSAGES" / f"{domain}.po"))}
    return found


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_makemessages_finds_nothing_missing_from_the_catalogs(fresh_catalogs, language, domain):
    fresh = fresh_catalogs[domain]
    committed = {key(entry) for entry in catalog(language, domain) if not entry.obsolete}
    assert fresh, "makemessages found no string at all"
    missing, stale = sorted(fresh - committed), sorted(committed - fresh)
    assert not missing, f"strings of the source missing from {language}/{domain}.po (run ./scripts/messages, translate): {missing}"
    assert not stale, f"strings no longer in the source left in {language}/{domain}.po (run ./scripts/messages): {stale}"
