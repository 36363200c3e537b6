"""Running ``regauth serve``: the worker processes and their shared socket (``workers``), the
health check (``health``), and what each worker runs beside its requests: the store's watch
(``database_watch``) and the collector's schedule (``gc_schedule``)."""
