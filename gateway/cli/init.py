"""``regauth init``: the signing key, its certificate, the key set and the database."""

from tokenstore import open_store

from ..config import Config
from ..token import keyring, keys
from .output import print_json


def init(config: Config, args) -> int:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    config.data_dir.chmod(0o700)  # the database holds secret hashes; keep it private
    if config.key_path.exists():
        ring = keyring.load(config)  # after rotations, every trusted key goes in the key set
        key = ring.signing
        created = False
    else:
        key = keys.generate(config.key_path, config.certificate_path, config.signing_alg)
        ring = keyring.load(config)
        created = True
    open_store(config.database_location, bcrypt_cost=config.bcrypt_cost).close()
    keyring.publish(config, ring)
    print_json({
        "data_dir": str(config.data_dir),
        "database": config.database_shown,
        "key": str(config.key_path),
        "certificate": str(config.certificate_path),
        "jwks": str(config.jwks_path),
        "algorithm": key.algorithm,
        "kid": key.kid,
        "certificate_expires": key.certificate_expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "created": created,
    })
    return 0
