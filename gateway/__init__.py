"""gateway: regauth's HTTP side. The token endpoint, JWT minting, the API and the CLI."""
