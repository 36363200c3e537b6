"""Plain records returned by the store. None of them holds a secret in its repr."""

from dataclasses import dataclass, field

from .permissions import Role


@dataclass(frozen=True)
class Namespace:
    id: int
    name: str
    kind: str
    created: float


@dataclass(frozen=True)
class Robot:
    id: int
    namespace_id: int
    namespace: str
    shortname: str
    description: str
    unstructured_metadata: dict
    created: float
    last_accessed: float | None
    #: When the robot was disabled (None while enabled): a disabled robot logs in nowhere.
    disabled_at: float | None = None

    @property
    def username(self) -> str:
        return f"{self.namespace}+{self.shortname}"

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True)
class SecretInfo:
    """A stored secret's metadata (never the secret or its hash)."""

    id: int
    created: float
    expires_at: float | None
    last_used: float | None = None


@dataclass(frozen=True)
class IssuedSecret:
    """A robot with the clear secret just created for it; returned only by create and regenerate."""

    robot: Robot
    secret_id: int
    created: float
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Repository:
    id: int
    namespace_id: int
    namespace: str
    name: str
    visibility: str
    description: str
    created: float

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def is_public(self) -> bool:
        return self.visibility == "public"


@dataclass(frozen=True)
class Permission:
    """A robot's role on one repository, or on its whole namespace (``repository`` None)."""

    robot: str
    namespace: str
    repository: str | None
    role: Role
    is_public: bool = False

    @property
    def target(self) -> str:
        return f"{self.namespace}/{self.repository}" if self.repository else self.namespace


@dataclass(frozen=True)
class Principal:
    """Who a token request comes from: a robot, a person (kind ``user``, logged in with an
    app token: ``user_id``, ``token_id`` and ``token_title`` say whose and which), or nobody
    (anonymous)."""

    kind: str
    username: str = ""
    robot_id: int | None = None
    namespace_id: int | None = None
    secret_id: int | None = None
    user_id: int | None = None
    token_id: int | None = None
    token_title: str | None = None

    @property
    def is_robot(self) -> bool:
        return self.kind == "robot"

    @property
    def is_user(self) -> bool:
        return self.kind == "user"


ANONYMOUS = Principal(kind="anonymous")


@dataclass(frozen=True)
class AccessReads:
    """What issuing a token to ``principal`` will read in the writer's transaction: the
    confirmation of its credential (``confirm``) and its role on each repository named
    (``authorize``). A store may read these for a whole batch at once (``run_batch``).

    For a refresh token, whose principal is known only once it is redeemed, ``principal``
    is None and ``refresh_token`` is the token: its redemption (``redeem_refresh_token``)
    and its robot's roles are what will be read."""

    principal: Principal | None
    repositories: tuple[str, ...] = ()
    refresh_token: str | None = field(default=None, repr=False)
