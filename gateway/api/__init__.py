"""The management API, shaped like Red Hat Quay's API v1 (``/api/v1/...``).

``routes.add_routes(app)`` wires it into the application. Handlers authenticate with an API
bearer token (``auth.py``), read bodies with the checks in ``bodies.py``, answer with the
Quay shapes in ``views.py``, and fail with ``errors.ApiError`` (Quay's error body).
"""
