"""Who may call what. Authentication (crm.api.authentication) leaves two answers on the
user, `crm_can_add_contact` and `crm_bound_to_sources`, read by the one token query; only this
module reads them, so no service ever depends on how the caller was authenticated."""

from django.utils.translation import gettext
from rest_framework.permissions import BasePermission, DjangoModelPermissions

from crm.errors import ForbiddenError
from crm.models import BotSource, Operator, Source
from crm.selectors import operator_for_user


class StaffModelPermissions(DjangoModelPermissions):
    """Staff users holding the model permission for the method (reads need `view_*`).
    Bots are not staff: they get 403 here whatever their permissions."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view):
        user = request.user
        if user and user.is_authenticated and not user.is_staff:
            return False
        return super().has_permission(request, view)


def can_add_contact(user) -> bool:
    """crm.add_contact, answered by the token query when there was one (see
    crm.api.authentication), else by Django's permission backend (a session)."""
    known = getattr(user, "crm_can_add_contact", None)
    if known is not None:
        return bool(user.is_active and (user.is_superuser or known))
    return user.has_perm("crm.add_contact")


class CanRegisterContacts(BasePermission):
    """`crm.add_contact`: what the bots group grants, and staff with that permission. The
    object is the source the contact comes through (the view checks it once the body is
    valid, before anything is written): a client bound to sources (a bot made with
    --source) may post only to those; one bound to none, to every source."""

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and request.method == "POST" and can_add_contact(user))

    def has_object_permission(self, request, view, obj: Source):
        user = request.user
        # The token query already says whether the client has any binding; none: no query.
        if getattr(user, "crm_bound_to_sources", None) is not False:
            bound = set(BotSource.objects.filter(user=user).values_list("source_id", flat=True))
            if bound and obj.pk not in bound:
                # Raised rather than returned: the body names the code, like every other 403.
                raise ForbiddenError(
                    gettext("This client may not register contacts through source %(id)d.") % {"id": obj.pk}
                )
        return True


class CanReadContacts(BasePermission):
    """Staff holding `crm.view_contact` read every contact. A client that may register
    contacts but is not staff (a bot) reads back only the contacts it registered: the view
    narrows its queryset. Anyone else: 403."""

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if user.is_staff:
            return user.has_perm("crm.view_contact")
        return can_add_contact(user)


def can_read(user, model) -> bool:
    """Staff holding `view_<model>`: who may see `model`'s rows, in a list, a detail or the
    answer to a write (see crm.api.views.AnswerWhatCallerMayRead)."""
    opts = model._meta
    return bool(
        user and user.is_authenticated and user.is_staff and user.has_perm(f"{opts.app_label}.view_{opts.model_name}")
    )


class StaffChangePermissions(StaffModelPermissions):
    """For POST verbs that change an existing row (close, reassign): `change_*`, not `add_*`."""

    perms_map = {**StaffModelPermissions.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


def request_operator(request):
    """The operator whose login made this request (None for staff, bots, anonymous); read
    once per request."""
    if not hasattr(request, "_crm_operator"):
        user = getattr(request, "user", None)
        request._crm_operator = operator_for_user(user) if user is not None and user.is_authenticated else None
    return request._crm_operator


class IsOperator(BasePermission):
    """A user who is an operator's login (not staff). What he may touch is narrowed by the
    view's queryset to his own contacts."""

    def has_permission(self, request, view):
        return request_operator(request) is not None


class CanReadOperators(BasePermission):
    """`view_operator` as well: for answers that name operators with their loads (statistics)."""

    def has_permission(self, request, view):
        return can_read(request.user, Operator)
