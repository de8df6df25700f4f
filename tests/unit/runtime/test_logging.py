"""Log lines below the configured level cost next to nothing: a consumer has one per message."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
import structlog

from services.runtime.logging import configure_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    config = structlog.get_config()
    yield
    structlog.configure(**config)


def test_a_line_below_the_level_is_dropped_before_any_processor_runs(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("test", level="info")
    processed: list[str] = []

    def spy(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        processed.append(event_dict["event"])
        return event_dict

    processors = structlog.get_config()["processors"]
    structlog.configure(processors=[processors[0], spy, *processors[1:]])
    log = structlog.get_logger("consumer")
    log.debug("message handled", offset=1)
    log.info("batch applied one by one", size=2)

    assert processed == ["batch applied one by one"]
    assert "batch applied one by one" in capsys.readouterr().err
