"""gateway: regauth's HTTP side, by flow: ``token`` (the token path), ``federation``,
``registry``, ``api``, ``ui`` and ``cli``, wired together in ``app``. The README's
"Architecture" section has the map, docs/architecture.md the reasons."""
