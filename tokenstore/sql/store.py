"""``SqlStore``: every query of the store's interface, gathered from the groups of this package.

Synchronous by design; the gateway calls it from worker threads so that the database and
bcrypt never run on the event loop. Every method that changes several rows does so in one
transaction, so a failure leaves nothing half-written.
"""

from ..audited_changes import AuditedChanges
from ..robot_controls import RobotControlChanges
from .access import AccessQueries
from .app_tokens import AppTokenQueries
from .accounts import AccountQueries
from .audit import AuditQueries
from .collector import CollectorQueries
from .federation import FederationQueries
from .listings import ListingQueries
from .namespaces import NamespaceQueries
from .permissions import PermissionQueries
from .prototypes import PrototypeQueries
from .readiness import ReadinessQueries
from .refresh_tokens import RefreshTokenQueries
from .registry_activity import RegistryActivityQueries
from .repositories import RepositoryQueries
from .robot_controls import RobotControlQueries
from .robots import RobotQueries
from .secret_lifecycle import SecretLifecycleQueries
from .signin_throttle import SigninThrottleQueries
from .teams import TeamQueries
from .ui_sessions import UiSessionQueries


class SqlStore(
    NamespaceQueries, RobotQueries, SecretLifecycleQueries, RepositoryQueries, PermissionQueries, AccessQueries,
    FederationQueries, RefreshTokenQueries, AccountQueries, AuditQueries, ListingQueries, CollectorQueries,
    UiSessionQueries, AuditedChanges, SigninThrottleQueries, RegistryActivityQueries, ReadinessQueries,
    TeamQueries, AppTokenQueries, RobotControlQueries, RobotControlChanges, PrototypeQueries,
):
    """The store's queries, run on the connection ``db`` a backend gives each thread.

    A backend subclasses it and provides ``db``, ``close``, ``check``, ``watch``,
    ``run_batch``, ``housekeeping`` and the collector's hooks (``tokenstore.interface``
    says what each must do). The groups call one another's queries as plain functions of
    their modules, not through ``self``, so a method a backend overrides changes only what
    the interface's callers get.
    """
