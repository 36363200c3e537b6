"""Keyless robots: a CI job's OIDC token traded for a short-lived robot credential.

- ``exchange``: ``GET /oauth2/federation/robot/token``, the trade itself.
- ``oidc``: verifying the CI job's ID token against its issuer's published keys.
- ``issuer_policy``: which issuers regauth may fetch keys from (https, public addresses).

The credential it hands out is then a password at ``/token``, checked by
``gateway.token.authn``; the settings themselves are managed through ``gateway.api.federation``.
"""
