"""Every model admin's own pages in Russian, in a real browser: the add form, the change form
of an existing row, the delete confirmation of one row and the bulk delete confirmation of
the list's action, wherever a superuser may reach them. Each page is screenshotted
(test-artifacts/screenshots/ru-pages-<model>-<page>.png, read by a person) and checked for the
English of the admin's frame and of our forms, and for the wrong Russian case of Django's
generic titles ("Добавить оператор" where the accusative "оператора" is needed)."""

import re

import pytest
from django.contrib import admin
from django.contrib.admin import helpers
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation

from crm.models import IdempotencyKey
from crm.services import routing_config
from crm.services.accounts import bot_create, operator_login_create
from crm.services.intake import contact_register
from crm.services.webhook_outbox import webhook_send_test
from crm.services.webhooks import webhook_endpoint_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "browser-test-password"
# English words of the admin's frame and of our field labels that a Russian page must not show
# (codes such as "contact.registered" or "webhook.test" are data, not words).
ENGLISH = re.compile(
    r"(?<![.\w])(Save|Delete|Add|Change|History|Are you sure|Yes, I.m sure|No, take me back|Summary|Objects|"
    r"Knox|auth token|Can (?:add|change|delete|view)|operator|source|contact|lead|weight|webhook|delivery|token|"
    r"key|created|expiry)(?![.\w])"
)


def _nominative_after_a_verb() -> list[str]:
    """What Django's generic texts would say with a model's name in the nominative where
    Russian needs the accusative ("Добавить привязка", "удалить пользователь")."""
    wrong = []
    for model, model_admin in admin.site._registry.items():
        for name, accusative in (
            (model._meta.verbose_name, model_admin.accusative_name()),
            (model._meta.verbose_name_plural, model_admin.accusative_name(plural=True)),
        ):
            if str(name) != str(accusative):
                wrong += [f"{verb} {name}".lower() for verb in ("добавить", "изменить", "удалить", "просмотреть")]
    return wrong


def _data(actor) -> None:
    """One row of every model, so that every change and delete page has something to show."""
    source = routing_config.source_create(name="tg", actor=actor)
    operator = routing_config.operator_create(name="ivan", max_load=5, actor=actor)
    routing_config.link_create(operator_id=operator.pk, source_id=source.pk, weight=10, actor=actor)
    operator_login_create(operator_id=operator.pk, username="ivan")
    bot, _ = bot_create(name="bot", sources=[str(source.pk)])
    contact = contact_register(external_id="anna@example.com", source_id=source.pk, registered_by=bot)
    IdempotencyKey.objects.create(
        user=bot, key="k-1", fingerprint="f", response_status=201, response_body={}, contact=contact
    )
    endpoint = webhook_endpoint_create(url="http://127.0.0.1:9/hook", events=["contact.registered"]).endpoint
    webhook_send_test(endpoint_id=endpoint.pk)


def _pages(superuser) -> list[tuple[str, str]]:
    """(name, path) of every add, change, delete and bulk-delete page a superuser may open."""
    request = RequestFactory().get("/admin/")
    request.user = superuser
    pages = []
    for model, model_admin in admin.site._registry.items():
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        label = f"{model._meta.app_label}-{model._meta.model_name}"
        obj = model_admin.get_queryset(request).order_by("pk").first()
        if model_admin.has_add_permission(request):
            pages.append((f"{label}-add", reverse(f"{prefix}_add")))
        if obj is not None:
            pages.append((f"{label}-change", reverse(f"{prefix}_change", args=[obj.pk])))
            if model_admin.has_delete_permission(request, obj):
                pages.append((f"{label}-delete", reverse(f"{prefix}_delete", args=[obj.pk])))
            if "delete_selected" in model_admin.get_actions(request):
                pages.append((f"{label}-bulk-delete", reverse(f"{prefix}_changelist") + f"#bulk:{obj.pk}"))
    return pages


def _open(driver, live_server, path: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    if "#bulk:" not in path:
        driver.get(live_server.url + path)
        return
    changelist, pk = path.split("#bulk:")
    driver.get(live_server.url + changelist)
    driver.find_element(By.CSS_SELECTOR, f'input[name="{helpers.ACTION_CHECKBOX_NAME}"][value="{pk}"]').click()
    Select(driver.find_element(By.NAME, "action")).select_by_value("delete_selected")
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, 'button[name="index"]').click()
    WebDriverWait(driver, 30).until(ec.staleness_of(old))  # the confirmation page has loaded


def test_every_admin_page_reads_in_russian(live_server, browser_factory, screenshot, settings):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    superuser.set_password(PASSWORD)
    superuser.save()
    _data(superuser)
    with translation.override("ru"):
        pages = _pages(superuser)
        wrong = _nominative_after_a_verb()
    driver = browser_factory("ru")
    driver.set_page_load_timeout(60)
    driver.get(f"{live_server.url}/admin/login/")
    driver.find_element(By.ID, "id_username").send_keys("root")
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, 'input[type="submit"]').click()
    # The login's POST and its redirect must be over before the first page is asked for, or
    # that redirect lands on top of it (the admin index has no breadcrumbs).
    WebDriverWait(driver, 30).until(ec.staleness_of(old))
    WebDriverWait(driver, 30).until(ec.presence_of_element_located((By.ID, "user-tools")))

    problems = []
    for name, path in pages:
        _open(driver, live_server, path)
        screenshot(driver, f"ru-pages-{name}")
        text = (
            driver.find_element(By.ID, "content").text + "\n" + driver.find_element(By.CLASS_NAME, "breadcrumbs").text
        )
        if driver.find_element(By.TAG_NAME, "html").get_attribute("lang") != "ru":
            problems.append(f"{name}: not Russian")
        for word in sorted(set(ENGLISH.findall(text))):
            problems.append(f"{name}: English {word!r}")
        for phrase in wrong:
            if re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text.lower()):
                problems.append(f"{name}: {phrase!r}")
    assert pages and not problems, "\n".join(problems)
