"""What the three ways of managing robots (the API, the web UI and the CLI) share: Quay's
JSON shapes and date format (``presenters``), lifetimes people type (``lifetimes``), new
secrets hashed off the event loop (``secret_hashing``), an audit row's performer fields
(``audit_fields``) and the audit log's page tokens (``log_pages``)."""
