"""The token path: ``GET /token`` and ``POST /token``, module by module.

1. ``endpoint`` (GET) or ``grants`` (POST): the service, the scopes (``scopes``), the
   credentials (``basic_auth``, or the form).
2. ``login``: the credentials go through the authenticators in order (``authn``); anonymous
   requests skip it and are authorized on a database thread.
3. ``authn``: the first authenticator that claims them (robot secrets through
   ``credential_cache`` and ``login_throttle``) confirms the principal in a writer
   transaction, and runs the issuance in it.
4. ``issuance``: the grant (``authz``), the refresh token if asked for, the audit rows.
5. ``response``: once committed, the token is minted (``tokens``, key from ``keys``) and sent.
   A refusal goes back through ``login``: its audit row (``audit``), then a 401.

docs/architecture.md, "The token path", tells the same with the reasons.
"""
