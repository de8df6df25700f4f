"""The launcher's decisions that need no process: how many of each service, how many partitions
the keyed topics get, and when a service process counts as drained, read from its `/health`
answer."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from contracts.topics import KEYED_PARTITIONS, SERVICES
from infra.drain import consumed_so_far, partner_messages_pending, unfinished_work, unpublished
from infra.embedded import PGSERVER_LOGGER, LoggedErrors
from infra.processes import keyed_partitions, process_counts
from infra.stack import restart_delay

CAUGHT_UP: dict[str, Any] = {
    "consumer": {"alive": True, "lag": 0},
    "relays": {"order.events.v1": {"alive": True, "leader": True, "lag": 0}},
}


def test_processes_apply_to_each_consuming_service_and_a_service_setting_overrides() -> None:
    counts = process_counts(2, {"UNITRAIL_ORDER_PROCESSES": "3"})
    assert counts["pim"] == 1  # it consumes nothing
    assert counts["order"] == 3
    assert all(counts[name] == 2 for name in SERVICES if name not in ("pim", "order"))


def test_zero_processes_is_refused_with_the_service_named() -> None:
    with pytest.raises(ValueError, match="inventory"):
        process_counts(1, {"UNITRAIL_INVENTORY_PROCESSES": "0"})


def test_keyed_topics_get_a_partition_for_each_process_of_the_busiest_service() -> None:
    assert keyed_partitions(process_counts(1, {}), None) == KEYED_PARTITIONS
    assert keyed_partitions(process_counts(KEYED_PARTITIONS, {}), None) == KEYED_PARTITIONS
    counts = process_counts(1, {"UNITRAIL_ORDER_PROCESSES": "5"})
    assert keyed_partitions(counts, None) == 5
    # Set by the operator: kept, even below the processes (the launcher says what that means).
    assert keyed_partitions(counts, 3) == 3


def test_a_process_with_every_lag_zero_has_nothing_left() -> None:
    assert unfinished_work(CAUGHT_UP, consumes=True, relays=True) == []


def test_lag_and_a_dead_loop_are_named() -> None:
    health = {
        "consumer": {"alive": True, "lag": 12},
        "relays": {
            "inventory.events.v1": {"alive": False, "leader": True, "lag": 0},
            "inventory.movements.v1": {"alive": True, "leader": True, "lag": 3},
        },
    }
    assert unfinished_work(health, consumes=True, relays=True) == [
        "consumer lag 12",
        "relay inventory.events.v1 not running (lag 0)",
        "relay inventory.movements.v1 lag 3",
    ]


def test_a_relay_that_is_not_the_leader_publishes_nothing_and_is_not_waited_for() -> None:
    health = CAUGHT_UP | {"relays": {"order.events.v1": {"alive": True, "leader": False, "lag": 9}}}
    assert unfinished_work(health, consumes=True, relays=True) == []


def test_what_is_not_reported_is_unknown_and_never_counts_as_drained() -> None:
    assert unfinished_work({"status": "ok"}, consumes=True, relays=True) == [
        "consumer lag unknown",
        "relay lag unknown",
    ]
    assert unfinished_work(
        CAUGHT_UP | {"consumer": {"alive": True, "lag": None}}, consumes=True, relays=True
    )
    assert unfinished_work(None, consumes=True, relays=True) == ["no answer from /health"]


def test_a_service_that_consumes_or_relays_nothing_is_not_asked_about_it() -> None:
    assert unfinished_work(CAUGHT_UP | {"consumer": None}, consumes=False, relays=True) == []
    assert (
        unfinished_work({"consumer": {"alive": True, "lag": 0}}, consumes=True, relays=False) == []
    )
    assert unfinished_work({"relays": {}}, consumes=True, relays=True) == ["consumer lag unknown"]


def test_the_count_of_consumed_messages_is_read_where_a_consumer_reports_one() -> None:
    assert consumed_so_far({"consumer": {"alive": True, "lag": 0, "messages": 42}}) == 42
    assert consumed_so_far({"relays": {}}) is None
    assert consumed_so_far(None) is None


def test_only_partners_messages_not_yet_consumed_would_be_lost_with_the_broker() -> None:
    """Events behind (consumed or published) are in the stores and published again at the next
    start; partners' messages live on the embedded broker only."""
    behind_on_events = {
        "consumer": {"alive": True, "lag": 4180, "partner_lag": 0},
        "relays": {"shipping.events.v1": {"alive": True, "leader": True, "lag": 7}},
    }
    assert partner_messages_pending(behind_on_events, consumes=True) == []
    assert unpublished(behind_on_events, relays=True) == ["relay shipping.events.v1 lag 7"]

    behind_on_scans = {"consumer": {"alive": True, "lag": 12, "partner_lag": 2}}
    assert partner_messages_pending(behind_on_scans, consumes=True) == [
        "2 partner messages not yet consumed"
    ]
    assert partner_messages_pending({"status": "ok"}, consumes=True) == ["consumer lag unknown"]
    assert partner_messages_pending(None, consumes=True) == ["consumer lag unknown"]
    assert partner_messages_pending(None, consumes=False) == []


def test_a_process_that_keeps_exiting_waits_longer_each_time_up_to_half_a_minute() -> None:
    assert [restart_delay(exits) for exits in range(8)] == [0, 1, 2, 4, 8, 16, 30, 30]


def test_what_pg_ctl_said_on_a_failed_restart_is_kept_though_its_logger_is_quiet() -> None:
    logger = logging.getLogger(PGSERVER_LOGGER)
    logger.setLevel(logging.CRITICAL)  # as the launcher leaves it
    with LoggedErrors(PGSERVER_LOGGER) as said:
        logger.info("running pg_ctl")
        logger.error("Failed postgres command:\n  stderr:\n  could not start server")
    logger.error("after the restart: not kept")
    assert said.text() == "Failed postgres command: stderr: could not start server"
    assert (logger.level, logger.propagate) == (logging.CRITICAL, True)
