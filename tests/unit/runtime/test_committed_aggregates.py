"""What a process's kept aggregates may be taken as: current up to where the store stood when a
unit of work last read it under its lock, and only then."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from services.runtime.eventstore import CommittedAggregates


@dataclass
class Kept:
    version: int
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    pending_events: list[Any] = field(default_factory=list)


def current(kept: CommittedAggregates, aggregate: Kept) -> bool | None:
    """Whether `take` calls it current (it is taken out); None when none is kept."""
    taken = kept.take(aggregate.id)
    return None if taken is None else taken[1]


def test_nothing_is_current_before_the_store_was_read_under_its_lock() -> None:
    kept = CommittedAggregates(10)
    cam = Kept(version=3)
    kept.keep_committed([(cam, 3, True)])
    assert kept.through is None
    assert current(kept, cam) is False


def test_a_unit_of_work_s_commit_moves_the_position_past_its_own_events() -> None:
    kept = CommittedAggregates(10)
    cam, lens = Kept(version=1), Kept(version=1)
    kept.bring_up_to_date(100, None)
    kept.keep_committed([(cam, 1, True), (lens, 1, True)], locked_at=100, position=102)
    assert kept.through == 102
    dock = Kept(version=4)
    kept.keep_committed([(dock, 4, True)], locked_at=102, position=105)  # the next batch

    assert kept.through == 105
    assert [current(kept, each) for each in (cam, lens, dock)] == [True, True, True]


def test_what_was_stored_since_is_forgotten_and_the_rest_stays_current() -> None:
    kept = CommittedAggregates(10)
    cam, lens, dock = Kept(version=1), Kept(version=1), Kept(version=1)
    kept.bring_up_to_date(100, None)
    kept.keep_committed(
        [(cam, 1, True), (lens, 1, True), (dock, 1, True)], locked_at=100, position=102
    )

    kept.bring_up_to_date(110, [cam.id])  # another process stored to it

    assert (current(kept, cam), current(kept, lens)) == (None, True)
    kept.bring_up_to_date(2_000, None)  # too much stored since to list
    assert current(kept, dock) is False


def test_a_commit_read_over_by_a_later_lock_moves_nothing_and_keeps_nothing_current() -> None:
    """A thread that commits, then keeps its aggregates after another unit of work took the
    lock and read the store: what it kept may be behind what that one stored."""
    kept = CommittedAggregates(10)
    kept.bring_up_to_date(100, None)
    late = Kept(version=2)
    kept.bring_up_to_date(120, [])  # the other unit of work's read, after this one's commit
    kept.keep_committed([(late, 2, True)], locked_at=100, position=110)

    assert kept.through == 120
    assert current(kept, late) is False


def test_loaded_before_the_lock_or_changed_since_is_not_current_or_not_kept() -> None:
    kept = CommittedAggregates(10)
    kept.bring_up_to_date(100, None)
    before_lock, changed = Kept(version=1), Kept(version=2)
    stale = Kept(version=1, id=changed.id)
    kept.keep_committed([(stale, 1, True)], locked_at=100, position=100)
    changed.pending_events.append("decided, never saved")
    kept.keep_committed([(before_lock, 1, False), (changed, 1, True)], locked_at=100, position=101)

    assert current(kept, before_lock) is False
    assert current(kept, changed) is None, "the older one kept is forgotten with it"


def test_a_copy_kept_outside_a_unit_of_work_is_not_current() -> None:
    kept = CommittedAggregates(10)
    kept.bring_up_to_date(100, None)
    copy = Kept(version=5)
    kept.keep_copies([copy])
    assert current(kept, copy) is False
