"""The edge: what every part of the site shares at the HTTP level. The error middleware and
the registry's error shape (``errors``), who the client is behind a proxy (``forwarded``),
text that cannot be stored (``text_input``), and replies that must not be cached
(``no_store``). Nothing here knows about a particular flow."""
