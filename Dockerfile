# One image for the whole system: the command picks the process, e.g.
# `python -m services.order.main` or `python -m infra.setup` (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# psycopg (from eventsourcing[postgres]) is the pure-Python build, which loads the system libpq.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml ./
COPY contracts ./contracts
COPY services ./services
COPY infra ./infra
# The pip cache lives in a BuildKit cache mount, so a code change does not download every
# dependency again and the cache never ends up in the image.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install . \
    && rm -rf /src

RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin unitrail \
    && mkdir -p /app/.unitrail/auth /app/.unitrail/shared \
    && chown unitrail /app/.unitrail/auth /app/.unitrail/shared
# (a named volume takes its directory's owner: `setup` writes the signing key to `auth` and the
# public half and the services' tokens to `shared`)
USER unitrail
WORKDIR /app

EXPOSE 8001 8002 8003 8004 8005 8006
CMD ["python", "-m", "infra.setup"]
