"""The worker's Celery app, built from `service.settings` (`celery -A workers.celery_app worker`)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, signals

from indexers.configs import EncoderConfig
from service.jobs import celery_config
from service.settings import Settings, get_settings

__all__ = ["app", "make_celery"]

logger = logging.getLogger(__name__)
EMBEDDED_POLL_S = 0.2


def make_celery(settings: Settings) -> Celery:
    """A Celery app for `settings` with the index tasks registered."""
    celery = Celery("tessera", include=["workers.tasks"])
    celery.conf.update(celery_config(settings))
    if settings.mode == "embedded":
        from kombu.transport import sqlalchemy

        # Transport options go to create_engine for this transport, so poll faster via the class.
        sqlalchemy.Transport.polling_interval = EMBEDDED_POLL_S
    return celery


app = make_celery(get_settings())


@signals.worker_process_init.connect  # type: ignore[untyped-decorator]
def _preload_models(**_: Any) -> None:
    """Load the configured encoders once per worker process (prefork children and the solo pool)."""
    from indexers.models.encoders import load_token_encoder

    for model in get_settings().preload_models:
        logger.info("preloading encoder %s", model)
        load_token_encoder(EncoderConfig(model=model)).encode(["warm up"], is_query=True)
