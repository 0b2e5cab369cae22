"""The base of our management commands: they speak the language of the shell that runs them.

Django activates no language for a command, so its messages follow LANGUAGE_CODE
(`DJANGO_LANGUAGE_CODE`). From the command line we also honour the POSIX locale (`LC_ALL`,
`LC_MESSAGES`, `LANG`), as other command-line tools do: `LANG=ru_RU.UTF-8 manage.py create_bot
--help` is Russian. An explicit `DJANGO_LANGUAGE_CODE` wins. `call_command` (tests, other code)
keeps the caller's language."""

import os

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import translation

# POSIX's order: the first of these that is set decides the language of messages.
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")


def command_line_language(environ=os.environ) -> str:
    """The language for a command run from a shell: DJANGO_LANGUAGE_CODE if set, else the
    POSIX locale's language if we have it ("ru_RU.UTF-8" is "ru"), else LANGUAGE_CODE."""
    if environ.get("DJANGO_LANGUAGE_CODE"):
        return settings.LANGUAGE_CODE
    for name in LOCALE_VARIABLES:
        value = environ.get(name)
        if not value:
            continue
        code = value.split(".")[0].split("@")[0].replace("_", "-").lower()
        if code in ("c", "posix"):
            break
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            break
    return settings.LANGUAGE_CODE


class LocalisedCommand(BaseCommand):
    """A command whose help, output and errors are in the shell's language (module docstring).
    `help` and the arguments' help are gettext_lazy, translated when `--help` is shown."""

    def run_from_argv(self, argv):
        with translation.override(command_line_language()):
            super().run_from_argv(argv)

    def create_parser(self, prog_name, subcommand, **kwargs):
        # argparse runs regular expressions over the description: it needs a str, and the
        # language to translate it into is the one active now.
        self.help = str(self.help)
        return super().create_parser(prog_name, subcommand, **kwargs)
