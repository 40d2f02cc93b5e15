# syntax=docker/dockerfile:1
# releasegate in HTTP mode: `docker run -p 3000:3000 --env-file .env -v $PWD/policy.yml:/srv/releasegate/policy.yml:ro
# -v $PWD/releases:/srv/releasegate/releases:ro releasegate`. Settings are the ones in DESIGN.md; relative
# defaults (./policy.yml, ./releases, ./releasegate.db) resolve under /srv/releasegate, the only writable place.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# A venv copies cleanly into the runtime stage and leaves the build tools behind.
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies come from pyproject.toml alone, so a code change reuses this (large: scipy, matplotlib,
# scikit-image) layer instead of reinstalling it.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt
COPY . .
RUN pip install --no-deps . \
    && releasegate --help > /dev/null

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    PORT=3000
# A fixed numeric UID lets Kubernetes' runAsNonRoot verify the user without reading /etc/passwd.
RUN groupadd --system --gid 10001 releasegate \
    && useradd --system --uid 10001 --gid releasegate --home-dir /srv/releasegate --create-home \
        --shell /usr/sbin/nologin releasegate
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/releasegate
USER 10001:10001
EXPOSE 3000
# The slim image has no curl; urlopen raises on anything but 2xx (the app answers 503 when the database
# is unreachable), which makes the exit status non-zero.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
# serve handles SIGTERM itself (drains background work), so it runs as PID 1 without a shell in between.
CMD ["releasegate", "serve"]
