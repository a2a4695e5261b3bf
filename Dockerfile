# Tessera: one image for the API (`tessera serve`) and the index workers (`tessera worker`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TESSERA_DATA_DIR=/data

RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY indexers ./indexers
COPY service ./service
COPY workers ./workers
COPY evals ./evals
# CPU torch first (the default index would pull a multi-GB CUDA build), then the package.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install --constraint constraints.txt ".[cpu]"

RUN useradd --create-home tessera && mkdir -p /data && chown tessera /data
USER tessera
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --retries=6 CMD curl -fsS http://127.0.0.1:8000/v1/health || exit 1
CMD ["tessera", "serve", "--host", "0.0.0.0", "--port", "8000"]
