"""An operator's day in a real browser, in English and in Russian: he logs in with the
password `create_operator_login` gave him, lands on My contacts, goes online (the contact
waiting for him arrives), receives a contact a bot registers over the API, transfers one to
a colleague and closes another. Screenshots: test-artifacts/screenshots/<lang>-op-NN-<what>.png."""

import pytest

from crm.models import Contact, Event, EventType, Operator
from crm.services.accounts import bot_create, operator_login_create
from crm.services.intake import contact_register
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory
from tests.live.browser.test_admin_browser import _css, _register, _submit, _type, _wait

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = {
    "en": {"title": "My contacts", "closed": "Contact #%d is closed.", "online": "online"},
    "ru": {"title": "Мои обращения", "closed": "Обращение №%d закрыто.", "online": "в сети"},
}


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_operator_day_in_the_browser(live_server, browser_factory, screenshot, lang):
    from selenium.webdriver.support.ui import Select

    text = TEXT[lang]
    source = SourceFactory(name="telegram_bot_A")
    ann = OperatorFactory(name="ann", max_load=3, availability=Operator.Availability.OFFLINE)
    bob = OperatorFactory(name="bob", max_load=3)
    OperatorSourceFactory(source=source, operator=ann, weight=100)
    OperatorSourceFactory(source=source, operator=bob, weight=0)  # paused: everything goes to ann
    _, password = operator_login_create(operator_id=ann.pk, username="ann")
    # A contact waits before his day starts: nobody online with room.
    early = contact_register(external_id="early@example.com", source_id=source.pk, name="Early Bird")
    assert early.unassigned_reason == "nobody_online"
    driver = browser_factory(lang)

    # He logs in and lands on My contacts.
    driver.get(f"{live_server.url}/admin/")
    _type(driver, "#id_username", "ann")
    _type(driver, "#id_password", password)
    screenshot(driver, f"{lang}-op-01-login")
    _submit(driver, 'input[type="submit"]')
    assert "/admin/crm/operatorcontact/" in driver.current_url
    assert text["title"] in _css(driver, "#content h1").text
    assert _css(driver, "html").get_attribute("lang") == lang
    screenshot(driver, f"{lang}-op-02-my-contacts-offline")

    # He goes online: the waiting contact is his at once.
    Select(_css(driver, "#availability-select")).select_by_value("online")
    _submit(driver, "#availability-save")
    assert Operator.objects.get(pk=ann.pk).availability == "online"
    assert Contact.objects.get(pk=early.pk).operator_id == ann.pk
    assert text["online"] in _css(driver, "#my-availability").text
    assert "Early Bird" in _css(driver, "#result_list").text
    screenshot(driver, f"{lang}-op-03-online-with-the-waiting-contact")

    # A bot registers a contact over the API: it arrives on his list.
    _, key = bot_create(name=f"bot_{lang}")
    body = _register(live_server, key, "new@example.com", source.pk)
    assert body["operator_id"] == ann.pk
    driver.get(f"{live_server.url}/admin/crm/operatorcontact/")
    assert "new@example.com" in _css(driver, "#result_list").text
    screenshot(driver, f"{lang}-op-04-new-contact-arrived")

    # He transfers the first to bob (a transfer needs an eligible colleague: bob's weight,
    # 0 so far so that routing sent everything to ann, goes up first).
    bob.links.update(weight=1)
    driver.get(f"{live_server.url}/admin/crm/operatorcontact/{early.pk}/change/")
    assert "Early Bird" in _css(driver, "#content").text
    screenshot(driver, f"{lang}-op-05-contact-page")
    Select(_css(driver, "#transfer-operator")).select_by_visible_text("bob")
    _submit(driver, "#transfer-contact")
    assert Contact.objects.get(pk=early.pk).operator_id == bob.pk
    assert Event.objects.filter(type=EventType.CONTACT_TRANSFERRED, contact=early).exists()
    screenshot(driver, f"{lang}-op-06-after-transfer")

    # And closes the other one from its page.
    mine = Contact.objects.get(pk=body["id"])
    driver.get(f"{live_server.url}/admin/crm/operatorcontact/{mine.pk}/change/")
    _submit(driver, "#close-contact")
    _wait(driver, lambda d: "/admin/crm/operatorcontact/" in d.current_url)
    assert text["closed"] % mine.pk in _css(driver, ".messagelist").text
    mine.refresh_from_db()
    assert mine.status == "closed"
    assert Operator.objects.get(pk=ann.pk).open_load == 0
    screenshot(driver, f"{lang}-op-07-after-close")
