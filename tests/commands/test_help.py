"""Our commands' `--help` speaks the shell's language: the description and every argument's
help are translated, and `LANG=ru_RU.UTF-8` (or DJANGO_LANGUAGE_CODE=ru) shows them in Russian.
(bench/ commands are for developers and stay English.)"""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command, load_command_class
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from crm.management.base import LocalisedCommand, command_line_language

COMMANDS = sorted(
    path.stem
    for path in (Path(settings.BASE_DIR) / "crm" / "management" / "commands").glob("*.py")
    if path.stem != "__init__"
)
# Django's own options (--verbosity, --settings, ...): Django's texts, not ours.
DJANGO_OPTIONS = {action.dest for action in BaseCommand().create_parser("manage.py", "x")._actions}


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _our_help_texts(command, name, *, nested: bool = True) -> list:
    """The help of the description and of each of our arguments (with `nested`, the
    subcommands' arguments too, which only the subcommand's --help shows)."""
    parser = command.create_parser("manage.py", name)
    texts = [type(command).help]
    parsers = [parser]
    while parsers:
        current = parsers.pop()
        for action in current._actions:
            if action.dest in DJANGO_OPTIONS:
                continue
            if action.help:
                texts.append(action.help)
            for choice in getattr(action, "_choices_actions", []):
                texts.append(choice.help)
            parsers.extend(
                (getattr(action, "choices", None) or {}).values() if nested and action.nargs == "A..." else []
            )
    return texts


@pytest.fixture
def russian_shell(monkeypatch):
    for name in ("DJANGO_LANGUAGE_CODE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")


@pytest.mark.parametrize("name", COMMANDS)
def test_every_help_text_of_ours_is_translated(name):
    command = load_command_class("crm", name)
    assert isinstance(command, LocalisedCommand)
    for text in _our_help_texts(command, name):
        with translation.override("en"):
            english = str(text)
        with translation.override("ru"):
            russian = str(text)
        assert russian != english, f"{name}: not in the Russian catalogue: {english!r}"


@pytest.mark.parametrize("name", COMMANDS)
def test_help_is_russian_under_a_russian_locale(name, russian_shell, capsys):
    command = load_command_class("crm", name)
    with pytest.raises(SystemExit):
        command.run_from_argv(["manage.py", name, "--help"])
    shown = _flat(capsys.readouterr().out)
    with translation.override("ru"):
        for text in _our_help_texts(load_command_class("crm", name), name, nested=False):
            assert _flat(str(text)) in shown


def test_subcommands_help_is_russian(russian_shell, capsys):
    with pytest.raises(SystemExit):
        load_command_class("crm", "api_keys").run_from_argv(["manage.py", "api_keys", "revoke", "--help"])
    assert "Первые символы ключа" in capsys.readouterr().out


def test_an_error_of_a_command_follows_the_locale(russian_shell, db):
    # run_from_argv closes the database connections when it ends: in a test, the language it
    # would choose and call_command instead.
    with (
        translation.override(command_line_language()),
        pytest.raises(CommandError, match=r"Пользователя 'nobody' не существует\."),
    ):
        call_command("create_api_token", "nobody")


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"LANG": "ru_RU.UTF-8"}, "ru"),
        ({"LANG": "ru"}, "ru"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LC_ALL": "ru_RU.UTF-8", "LANG": "en_US.UTF-8"}, "ru"),
        ({"LC_MESSAGES": "en_GB.UTF-8", "LANG": "ru_RU.UTF-8"}, "en"),
        ({"LANG": "de_DE.UTF-8"}, "en"),  # not ours: the default
        ({"LANG": "C.UTF-8"}, "en"),
        ({}, "en"),
    ],
)
def test_the_command_line_language(environ, expected, settings):
    settings.LANGUAGE_CODE = "en"
    assert command_line_language(environ) == expected


def test_an_explicit_language_code_wins_over_the_locale(settings):
    settings.LANGUAGE_CODE = "ru"
    assert command_line_language({"DJANGO_LANGUAGE_CODE": "ru", "LANG": "en_US.UTF-8"}) == "ru"
