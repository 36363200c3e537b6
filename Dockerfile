# regauth: the token service only. Run the registry and nginx next to it, and
# point the registry's rootcertbundle at /data/signing-cert.pem (see README).
#
# `docker build .` installs from the checkout and PyPI on python:3.11-slim.
# scripts/build-image.sh builds with no registry and no network inside: a base
# made from Debian's packages (BASE) and a wheelhouse in the context (WHEELS).
ARG BASE=python:3.11-slim
FROM ${BASE}

# A directory of the build context holding regauth's wheel and its
# dependencies; empty means install /src from PyPI.
ARG WHEELS=

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/regauth/bin:$PATH \
    REGAUTH_DATA_DIR=/data \
    REGAUTH_LISTEN=0.0.0.0:5001

# A virtualenv, since Debian's python3 has no pip outside one.
COPY . /src
RUN python3 -m venv /opt/regauth \
 && if [ -n "$WHEELS" ]; then \
        pip install --no-index --find-links "/src/$WHEELS" regauth; \
    else \
        pip install /src; \
    fi \
 && install -m 0755 /src/scripts/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh \
 && rm -rf /src \
 && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home regauth \
 && mkdir /data \
 && chown regauth:regauth /data

VOLUME /data
USER regauth
WORKDIR /data
EXPOSE 5001

# /readyz on loopback at REGAUTH_LISTEN's port, so the check follows a moved port
# (regauth must then listen on 0.0.0.0 or 127.0.0.1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ['REGAUTH_LISTEN'].rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/readyz', timeout=4)"]

ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["regauth", "serve"]
