"""The request guards' messages show their numbers in the form the number needs."""

from django.utils import translation

from crm.middleware import body_too_large_message


def test_body_cap_message_is_singular_or_plural():
    assert body_too_large_message(1) == "The request body is larger than 1 byte."
    assert body_too_large_message(65536) == "The request body is larger than 65536 bytes."
    with translation.override("ru"):
        assert body_too_large_message(1) == "Тело запроса больше 1 байта."
        assert body_too_large_message(65536) == "Тело запроса больше 65536 байтов."
