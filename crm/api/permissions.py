from rest_framework.permissions import DjangoModelPermissions


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


class CanRegisterContacts(DjangoModelPermissions):
    """`crm.add_contact`: what the bots group grants, and staff with that permission."""

    perms_map = {"POST": ["%(app_label)s.add_%(model_name)s"]}


class StaffChangePermissions(StaffModelPermissions):
    """For POST verbs that change an existing row (close, reassign): `change_*`, not `add_*`."""

    perms_map = {**StaffModelPermissions.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}
