"""Remote clients, safely (docs/security.md): CURVE keys, the ZAP authenticator, roles, exposure checks."""
