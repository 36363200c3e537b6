"""``regauth gc``: the collector, run once now."""

from .output import print_json
from .store import open_existing


def collect(config, args):
    print_json({"removed": open_existing(config).collect_garbage(audit_retention=config.audit_retention_seconds)})
