"""The token path: ``GET /token`` and ``POST /token``."""
