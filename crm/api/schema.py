"""drf-spectacular extensions: describe our token scheme in the OpenAPI document."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "crm.api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "An API key from `manage.py create_bot` or `create_api_token`, sent as "
            "`Authorization: Token <key>`.",
        }
