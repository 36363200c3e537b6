# regauth: the token service only. Run the registry and nginx next to it, and
# point the registry's rootcertbundle at /data/signing-cert.pem (see README).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY . /src
RUN pip install /src \
 && install -m 0755 /src/scripts/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh \
 && rm -rf /src \
 && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home regauth \
 && mkdir /data \
 && chown regauth:regauth /data

ENV REGAUTH_DATA_DIR=/data \
    REGAUTH_LISTEN=0.0.0.0:5001

VOLUME /data
USER regauth
WORKDIR /data
EXPOSE 5001

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5001/healthz', timeout=4)"]

ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["regauth", "serve"]
