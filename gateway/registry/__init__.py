"""What the registry itself sends regauth: its notifications at ``POST /registry/events``
(``events``), authenticated by a bearer token only its configuration holds (``events_token``)."""
