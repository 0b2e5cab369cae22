"""A staff member's day in a real browser, in English and in Russian: log in, set up an
operator, a source and the weights through the admin forms, let a bot register contacts
through the API, close one from the contacts list, see a refused capacity change, and check
that the routing dashboard shows what the database holds. Screenshots go to
test-artifacts/screenshots/<lang>-NN-<what>.png."""

import json
import urllib.request

import pytest
from django.contrib.auth.models import Permission
from django.db.models import Count

from crm.models import Contact, Operator, OperatorSource, Source
from crm.services.accounts import bot_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "browser-test-password"
TEXT = {
    "en": {"dashboard": "Routing dashboard", "closed": "1 contact closed.", "refused": "open contacts"},
    "ru": {"dashboard": "Панель маршрутизации", "closed": "Закрыто 1 обращение.", "refused": "открытых обращений"},
}


def _wait(driver, condition, timeout=10):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _css(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def _all(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def _type(driver, selector, text):
    field = _css(driver, selector)
    field.clear()
    field.send_keys(text)


def _submit(driver, selector='input[name="_save"]'):
    """Click a submit button and wait for the next page to load."""
    from selenium.webdriver.support import expected_conditions as ec

    old = _css(driver, "html")
    _css(driver, selector).click()
    _wait(driver, ec.staleness_of(old))


def _pick_autocomplete(driver, select_id: str, text: str) -> None:
    """Choose `text` in one of the admin's autocomplete (select2) widgets."""
    from selenium.webdriver.common.keys import Keys

    _css(driver, f"#{select_id} + .select2 .select2-selection").click()
    search = _wait(driver, lambda d: _css(d, ".select2-container--open .select2-search__field"))
    search.send_keys(text)
    _wait(
        driver,
        lambda d: any(o.text == text for o in _all(d, ".select2-results__option--highlighted")),
    )
    search.send_keys(Keys.ENTER)
    _wait(driver, lambda d: _css(d, f"#{select_id}").get_attribute("value"))


def _register(live_server, key: str, external_id: str, source_id: int) -> dict:
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/contacts/",
        data=json.dumps({"external_id": external_id, "source_id": source_id}).encode(),
        headers={"Authorization": f"Token {key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        return json.loads(response.read())


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_staff_day_in_the_browser(live_server, browser_factory, screenshot, lang):
    text = TEXT[lang]
    staff = UserFactory(username="staff", is_staff=True)
    staff.set_password(PASSWORD)
    staff.save()
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="crm"))
    driver = browser_factory(lang)

    # Log in.
    driver.get(f"{live_server.url}/admin/")
    assert "/admin/login/" in driver.current_url
    assert _css(driver, "html").get_attribute("lang") == lang
    _type(driver, "#id_username", "staff")
    _type(driver, "#id_password", PASSWORD)
    screenshot(driver, f"{lang}-01-login")
    _submit(driver, 'input[type="submit"]')
    assert _css(driver, "#routing-dashboard-link").text == text["dashboard"]
    screenshot(driver, f"{lang}-02-admin-index")

    # Two operators through the operator form.
    for name, max_load in (("ivan", 3), ("maria", 2)):
        driver.get(f"{live_server.url}/admin/crm/operator/add/")
        _type(driver, "#id_name", name)
        _type(driver, "#id_max_load", str(max_load))
        _submit(driver)
    assert dict(Operator.objects.values_list("name", "max_load")) == {"ivan": 3, "maria": 2}

    # A source with both operators' weights, on the source's page.
    driver.get(f"{live_server.url}/admin/crm/source/add/")
    _type(driver, "#id_name", "telegram_bot_A")
    _pick_autocomplete(driver, "id_links-0-operator", "ivan")
    _type(driver, "#id_links-0-weight", "30")
    _css(driver, "#links-group .add-row a").click()
    _wait(driver, lambda d: _all(d, "#id_links-1-weight"))
    _pick_autocomplete(driver, "id_links-1-operator", "maria")
    _type(driver, "#id_links-1-weight", "10")
    screenshot(driver, f"{lang}-03-source-form-with-weights")
    _submit(driver)
    source = Source.objects.get(name="telegram_bot_A")
    weights = dict(OperatorSource.objects.filter(source=source).values_list("operator__name", "weight"))
    assert weights == {"ivan": 30, "maria": 10}
    page = _css(driver, "#result_list").text
    decimal = "," if lang == "ru" else "."
    assert f"ivan: 30 (75{decimal}0 %)" in page and f"maria: 10 (25{decimal}0 %)" in page
    screenshot(driver, f"{lang}-04-sources-list")

    # A bot registers six contacts through the API: capacity 3 + 2, so one waits.
    _, key = bot_create(name=f"bot_{lang}")
    for i in range(6):
        _register(live_server, key, f"client-{i}@example.com", source.pk)
    assert Contact.objects.filter(operator__isnull=True, status="open").count() == 1

    # Close one from the contacts list.
    driver.get(f"{live_server.url}/admin/crm/contact/")
    victim = Contact.objects.filter(operator__name="ivan", status="open").order_by("id").first()
    _css(driver, f'input[name="_selected_action"][value="{victim.pk}"]').click()
    from selenium.webdriver.support.ui import Select

    Select(_css(driver, 'select[name="action"]')).select_by_value("close_contacts")
    _submit(driver, 'button[name="index"]')
    assert text["closed"] in _css(driver, ".messagelist").text
    victim.refresh_from_db()
    assert victim.status == "closed" and victim.closed_at is not None
    # The freed place went at once to the contact that was waiting (the queue drains itself).
    assert not Contact.objects.filter(operator__isnull=True, status="open").exists()
    assert Operator.objects.get(name="ivan").open_load == 3
    screenshot(driver, f"{lang}-05-contacts-after-close")
    _register(live_server, key, "late@example.com", source.pk)  # everyone is full again: it waits

    # Lowering ivan's max load below his open contacts is refused, with the reason.
    ivan = Operator.objects.get(name="ivan")
    driver.get(f"{live_server.url}/admin/crm/operator/{ivan.pk}/change/")
    _type(driver, "#id_max_load", "1")
    _submit(driver)
    assert text["refused"] in _css(driver, ".field-max_load .errorlist").text
    assert Operator.objects.get(pk=ivan.pk).max_load == 3
    screenshot(driver, f"{lang}-06-max-load-refused")

    # The dashboard, reached from the index, shows what the database holds.
    driver.get(f"{live_server.url}/admin/")
    _css(driver, "#routing-dashboard-link").click()
    _wait(driver, lambda d: "/admin/routing/" in d.current_url)
    _css(driver, '#window-selector a[data-window="all"]').click()
    _wait(driver, lambda d: "window=all" in d.current_url)
    assert text["dashboard"] in _css(driver, "#content").text
    _check_dashboard(driver, source, lang)
    screenshot(driver, f"{lang}-07-routing-dashboard")

    # A contact's page explains the decision that put it where it is.
    contact = Contact.objects.filter(operator__isnull=False, status="open").order_by("id").first()
    driver.get(f"{live_server.url}/admin/crm/contact/{contact.pk}/change/")
    decision = _css(driver, ".field-decision").text
    assert f"{contact.operator.name} (#{contact.operator_id})" in decision
    assert _all(driver, "#reassign-contact") and _all(driver, "#close-contact")
    screenshot(driver, f"{lang}-08-contact-decision")


def _check_dashboard(driver, source, lang):
    box = _css(driver, f"#source-{source.pk}")
    contacts = Contact.objects.filter(source=source)
    assigned = contacts.filter(operator__isnull=False).count()
    waiting = contacts.filter(operator__isnull=True, status="open").count()
    assert int(box.get_attribute("data-contacts")) == contacts.count() == 7
    assert int(box.get_attribute("data-assigned")) == assigned == 6
    assert int(box.get_attribute("data-waiting")) == waiting == 1
    per_operator = dict(contacts.values_list("operator_id").annotate(n=Count("id")))
    links = {link.operator_id: link for link in OperatorSource.objects.filter(source=source).select_related("operator")}
    rows = _all(box, "tr.crm-share-row")
    assert len(rows) == len(links) == 2
    decimal = "," if lang == "ru" else "."
    for row in rows:
        link = links[int(row.get_attribute("data-operator-id"))]
        op = Operator.objects.get(pk=link.operator_id)
        n = per_operator.get(op.pk, 0)
        configured = 100 * link.weight / sum(x.weight for x in links.values())
        actual = 100 * n / assigned
        # What the reader sees, in his language's number format.
        assert _css(row, ".weight").text == str(link.weight)
        assert _css(row, ".contacts").text == str(n)
        assert _css(row, ".configured-percent").text == f"{configured:.1f} %".replace(".", decimal)
        assert _css(row, ".actual-percent").text == f"{actual:.1f} %".replace(".", decimal)
        assert _css(row, ".load").text == f"{op.open_load} / {op.max_load}"
    for row in _all(driver, "#operators tr.operator-row"):
        op = Operator.objects.get(pk=row.get_attribute("data-operator-id"))
        assert _css(row, ".open-load").text == str(Contact.objects.filter(operator=op, status="open").count())
        assert _css(row, ".max-load").text == str(op.max_load)
        assert ("crm-row-full" in row.get_attribute("class")) == (op.open_load >= op.max_load)
    [waiting_row] = _all(driver, "#waiting tr.waiting-row")
    assert int(waiting_row.get_attribute("data-waiting")) == waiting
    assert _css(driver, "#total-waiting").text == str(waiting)
