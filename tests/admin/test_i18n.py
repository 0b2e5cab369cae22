"""Russian and English: the browser's Accept-Language chooses, English by default, and the
committed compiled catalogue (.mo) is the one its source (.po) describes."""

from pathlib import Path

import polib
import pytest
from django.conf import settings

from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

PO = Path(settings.BASE_DIR) / "locale" / "ru" / "LC_MESSAGES" / "django.po"


def _messages(catalogue) -> dict:
    return {
        (entry.msgctxt, entry.msgid): (entry.msgstr, tuple(sorted(entry.msgstr_plural.items())))
        for entry in catalogue
        if not entry.obsolete
    }


def test_compiled_catalogue_matches_its_source():
    po = polib.pofile(str(PO))
    mo = polib.mofile(str(PO.with_suffix(".mo")))
    assert _messages(mo) == _messages(po), (
        "locale/ru/LC_MESSAGES/django.mo is stale: run `python manage.py compilemessages` (or polib's "
        "save_as_mofile) after editing the .po"
    )


def test_every_message_is_translated():
    po = polib.pofile(str(PO))
    assert not po.fuzzy_entries() and not po.untranslated_entries()


@pytest.mark.django_db
def test_english_by_default(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert "Routing dashboard" in page and "Log out" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "texts"),
    [
        # Ours and Django admin's own ("Выйти": log out).
        ("/admin/", ["Панель маршрутизации", "Маршрутизация обращений", "Выйти"]),
        ("/admin/routing/", ["Заданная и фактическая доля по источникам", "Ожидают оператора", "последние 24 часа"]),
        ("/admin/crm/operator/", ["Включить выбранных операторов", "Обслуживаемые источники", "Нагрузка"]),
        ("/admin/crm/contact/", ["Закрыть выбранные обращения", "ожидает оператора"]),
        ("/admin/crm/source/", ["Операторы: вес и доля"]),
    ],
)
def test_accept_language_russian(admin_client, url, texts):
    src = SourceFactory(name="tg")
    OperatorSourceFactory(operator=OperatorFactory(name="ivan"), source=src)
    response = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="ru-RU,ru;q=0.9,en;q=0.5")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="ru"' in page
    for text in texts:
        assert text in page
