"""The bridge from service refusals to admin forms.

Every write of the admin goes through crm.services, so the admin obeys the same rules as the API
(capacity, locks, queue behaviour): forms check only shape (types, ranges), the services decide,
and a rule they refuse is shown on the form field it concerns.

How a refusal reaches the form: Django's admin saves inside one transaction. A service that
raises DomainError from `save_model`/`save_formset` is re-raised as `ServiceRejectedError`, which
rolls that transaction back (nothing of the save stays), and `changeform_view` then renders
the same POST once more with the reason attached to the form, so the user's input is kept.
"""

import re

from django.core.exceptions import ValidationError
from django.db import transaction

from crm.errors import DomainError
from crm.models import Operator
from crm.services import routing_config
from crm.services.locking import routing_locked

# Inline rows name the other end of a link: "<prefix>-<n>-source" or "<prefix>-<n>-operator".
_INLINE_FIELD = re.compile(r"^[\w-]+-\d+-(source|operator)$")


class ServiceRejectedError(Exception):
    """A service refused a save made from an admin form. `inline` is None for the main form,
    else the inline formset's prefix the refused row belongs to."""

    def __init__(self, error: DomainError, message: str, *, inline: str | None = None):
        super().__init__(message)
        self.error = error
        self.message = message
        self.inline = inline


class ServiceFormMixin:
    """A model form that can carry a service's refusal from the previous attempt."""

    service_error: ServiceRejectedError | None = None

    def clean(self):
        cleaned = super().clean()
        if self.service_error is not None:
            field = self.service_error.error.field
            self.add_error(field if field in self.fields else None, self.service_error.message)
        return cleaned

    def _get_validation_exclusions(self):
        # Uniqueness of names is the service's rule (case-insensitive, with a message that
        # says so); the model's own check would add a second, cryptic "constraint violated".
        exclusions = super()._get_validation_exclusions()
        exclusions.add("name")
        return exclusions


class ServiceFormSetMixin:
    """An inline formset that can carry a service's refusal of one of its rows."""

    service_error: ServiceRejectedError | None = None

    def clean(self):
        super().clean()
        if self.service_error is not None:
            raise ValidationError(self.service_error.message)


class ServiceAdminMixin:
    """Re-render a refused save with the service's reason (see the module docstring)."""

    # (field, code) → the admin's own wording of a refusal (services speak the active language too;
    # these say it the way a form needs it).
    service_messages: dict = {}

    def service_message(self, error: DomainError, obj=None, *, user=None) -> str:
        message = self.service_messages.get((error.field, error.code))
        if callable(message):
            return message(error, obj)
        return str(message) if message else error.message_for(user)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            if request.method != "POST":
                return super().changeform_view(request, object_id, form_url, extra_context)
            with transaction.atomic(), routing_locked(**self.routing_lock_scope(request, object_id), covering=True):
                # One save may call several services (the object, then each inline row), each
                # locking a different set of operators; two such rounds in one transaction
                # could take locks out of id order and deadlock with an intake. So a save
                # first locks, in one statement in id order, every operator any of them will
                # lock: the object's, those of the sources concerned (see routing_lock_scope).
                # Never every operator row: intake on an unrelated source goes on meanwhile.
                # `covering`: a link committed while this lock waited is read once we hold
                # it and its operator locked too (in order, under a savepoint), so the
                # services' own locks take nothing new (crm.services.locking._lock_serving).
                return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRejectedError as rejected:
            # The admin's transaction has been rolled back by the exception: render the same
            # POST again; this time the form (or the formset) carries the reason and is invalid.
            request._crm_service_rejected = rejected
            return super().changeform_view(request, object_id, form_url, extra_context)

    def routing_lock_scope(self, request, object_id) -> dict:
        """What the save may lock, as routing_locked's arguments: for an operator, him and
        every source he serves (with their operators); for a source, its operators; plus
        the sources or operators named by the posted link rows (new links) and theirs."""
        posted: dict[str, list[int]] = {"source": [], "operator": []}
        for key, value in request.POST.items():
            match = _INLINE_FIELD.match(key)
            if match and value.isdigit():
                posted[match.group(1)].append(int(value))
        pk = int(object_id) if object_id is not None and str(object_id).isdigit() else None
        if self.model is Operator:
            return {"serving": [pk], "source_ids": posted["source"], "operator_ids": posted["operator"]}
        return {"source_ids": [pk, *posted["source"]] if pk else posted["source"], "operator_ids": posted["operator"]}

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        rejected = getattr(request, "_crm_service_rejected", None)
        if rejected is not None and rejected.inline is None:
            form = type(form.__name__, (form,), {"service_error": rejected})
        return form

    def call_service(self, request, fn, *, obj=None, inline=None, **kwargs):
        if fn.__module__ == routing_config.__name__:
            kwargs.setdefault("actor", request.user)  # the routing history names who did it
        try:
            return fn(**kwargs)
        except DomainError as exc:
            raise ServiceRejectedError(exc, self.service_message(exc, obj, user=request.user), inline=inline) from exc


def adopt(obj, saved) -> None:
    """Make the admin's unsaved instance stand for the row a service created."""
    obj.pk = saved.pk
    obj.name = saved.name
    obj._state.adding = False
    obj._state.db = saved._state.db
