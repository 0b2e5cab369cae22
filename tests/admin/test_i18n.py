"""Russian and English: the browser's Accept-Language chooses, English by default, and the
committed compiled catalogue (.mo) is the one its source (.po) describes."""

import os
import shutil
import subprocess
import sys
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


def _msgids(catalogue) -> set:
    return {(entry.msgctxt, entry.msgid, entry.msgid_plural or None) for entry in catalogue if not entry.obsolete}


def test_makemessages_would_change_nothing(tmp_path):
    """No string a user can see lands untranslated: `makemessages`, run on a copy of the tree
    as the README says, finds exactly the msgids the committed catalogue has."""
    root = Path(settings.BASE_DIR)
    ignore = shutil.ignore_patterns(".*", "__pycache__", "test-artifacts", "staticfiles", "*.sqlite3*", "*.mo")
    copy = tmp_path / "tree"
    shutil.copytree(root, copy, ignore=ignore)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "ru", "--no-location", "--no-obsolete", "-v", "0"],
        cwd=copy,
        check=True,
        env={**os.environ, "PYTHONPATH": str(copy)},
    )
    regenerated = polib.pofile(str(copy / "locale" / "ru" / "LC_MESSAGES" / "django.po"))
    committed = polib.pofile(str(PO))
    added = sorted(_msgids(regenerated) - _msgids(committed), key=str)
    dropped = sorted(_msgids(committed) - _msgids(regenerated), key=str)
    assert not added and not dropped, (
        f"the catalogue is out of date: run `.venv/bin/python manage.py makemessages -l ru --no-location "
        f"--no-obsolete`, translate, then compilemessages. New: {added}; gone: {dropped}"
    )


RU = {"HTTP_ACCEPT_LANGUAGE": "ru-RU,ru;q=0.9"}


def _superuser(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("ru-admin", password="pw-12345678"))
    return client


@pytest.mark.django_db
def test_russian_titles_put_the_model_in_the_accusative(client, django_user_model):
    client = _superuser(client, django_user_model)
    operator = OperatorFactory(name="ivan")
    pages = {
        "/admin/crm/operator/": ["Выберите оператора для изменения", "Добавить оператора"],
        "/admin/crm/operator/add/": ["Добавить оператора"],
        f"/admin/crm/operator/{operator.pk}/change/": ["Изменить оператора"],
        "/admin/crm/lead/": ["Выберите лида для просмотра"],
        "/admin/crm/botsource/": ["Выберите привязку бота к источнику для изменения"],
        "/admin/auth/user/": ["Выберите пользователя для изменения", "Добавить пользователя"],
        "/admin/": ["Доступ и интеграции"],
    }
    for url, texts in pages.items():
        page = client.get(url, **RU).content.decode()
        for text in texts:
            assert text in page, (url, text)
        assert "Выберите оператор " not in page, (url, page[page.find("Выберите оператор ") - 200 :][:400])
