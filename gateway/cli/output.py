"""How commands end: their result as indented JSON on stdout, an error as status 1."""

import json

EXIT_ERROR = 1


def print_json(value) -> None:
    """Print ``value`` as JSON indented by two spaces."""
    print(json.dumps(value, indent=2))
