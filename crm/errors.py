"""Domain errors raised by services. The API's exception handler turns them into 4xx
responses; the admin and the management commands show their message. Services never import
DRF, so the same rule reads the same everywhere."""


class DomainError(Exception):
    """The request breaks a business rule. `field` names the input at fault, if one is.

    A refusal never tells a caller what he may not read. A message that names such things (an
    operator's name or load, a link's weight, the operator a contact is with) lists in `needs`
    the permissions that reading them takes, and gives in `public` the same refusal without
    them; `message_for(user)` picks. The API, the admin and the operator's workspace show
    `message_for(request.user)`; the management commands, run by whoever holds the shell, the
    whole `message`."""

    status_code = 400
    default_code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        needs: tuple[str, ...] = (),
        public: str | None = None,
    ):
        super().__init__(message)
        if needs and public is None:
            raise TypeError("A message that needs permissions must come with its public form.")
        self.message = message
        self.field = field
        self.code = code or self.default_code
        self.needs = needs
        self.public = public

    def message_for(self, user) -> str:
        """The message, or its public form for a caller without every permission in `needs`."""
        if self.needs and not (user is not None and user.is_authenticated and user.has_perms(self.needs)):
            return self.public
        return self.message


class NotFoundError(DomainError):
    """A referenced row does not exist. With a `field` it is bad input (400); without one,
    the addressed resource itself is missing (404)."""

    default_code = "not_found"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None, **kwargs):
        super().__init__(message, field=field, code=code, **kwargs)
        self.status_code = 400 if field else 404


class ConflictError(DomainError):
    """The request is valid but clashes with the current state of the data."""

    status_code = 409
    default_code = "conflict"


class ForbiddenError(DomainError):
    """The caller is authenticated but may not do this (a bot posting to a source it is not
    bound to, say)."""

    status_code = 403
    default_code = "permission_denied"


class UnprocessableError(DomainError):
    """Well-formed, but cannot be processed as asked (an idempotency key reused with another
    request)."""

    status_code = 422
    default_code = "unprocessable"
