"""OpenAPI description of API-key authentication (imported in AccountsConfig.ready)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api_auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "sk_live_… (secret, servers) or pk_live_… (publishable, browsers)",
            "description": (
                "Send `Authorization: Bearer <key>`. Secret keys may call every endpoint; "
                "publishable keys only the browser endpoints, and only from their allowed origins."
            ),
        }
