"""Inspection checklists, the grade they give, and where a graded unit goes. Pure: no I/O.

Grade rules (the checks named here are the defaults; a category may leave some out):
- scrap: it does not power on (`powers_on` fails) and its screen is broken (`screen_intact` fails);
- C: it does not power on, or its screen is broken (repair or refurbish);
- A: every check of the category passes, the factory seal (`factory_seal_intact`) included;
- B: it works, but the seal is broken or a cosmetic or accessory check failed (open-box).

An inspector may override the derived grade, and must give a reason to.

Disposition by grade: A → `quarantined` awaiting a technician's sign-off (then new); B → `open-box`;
C → `quarantined` for refurbishment; scrap → `damaged` (written off).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from services.runtime.aggregate import DomainError

Grade = Literal["A", "B", "C", "scrap"]
Condition = Literal["quarantined", "open-box", "damaged"]

GRADES: tuple[Grade, ...] = ("A", "B", "C", "scrap")
POWERS_ON = "powers_on"
SCREEN_INTACT = "screen_intact"
DEFAULT_CATEGORY = "default"
DEFAULT_CHECKS: tuple[str, ...] = (
    POWERS_ON,
    SCREEN_INTACT,
    "accessories_complete",
    "factory_seal_intact",
    "cosmetic_condition",
)


class InvalidInspection(DomainError):
    """The inspection as submitted cannot be recorded: a check is missing or unknown, or a grade
    override has no reason."""


@dataclass(frozen=True)
class InspectionPolicy:
    """The checks an inspector answers, per product category; `default` for every other one."""

    checklists: tuple[tuple[str, tuple[str, ...]], ...] = ((DEFAULT_CATEGORY, DEFAULT_CHECKS),)

    def checks_for(self, category: str) -> tuple[str, ...]:
        checklists = dict(self.checklists)
        return checklists.get(category) or checklists.get(DEFAULT_CATEGORY) or DEFAULT_CHECKS


@dataclass(frozen=True)
class Disposition:
    """The condition a graded unit re-enters stock in, and whether it waits for a sign-off."""

    condition: Condition
    awaiting_signoff: bool


DISPOSITIONS: dict[Grade, Disposition] = {
    "A": Disposition("quarantined", awaiting_signoff=True),
    "B": Disposition("open-box", awaiting_signoff=False),
    "C": Disposition("quarantined", awaiting_signoff=False),
    "scrap": Disposition("damaged", awaiting_signoff=False),
}


def validate_checklist(checklist: Mapping[str, bool], checks: Sequence[str]) -> None:
    """Every check of the category answered, and nothing else."""
    missing = [check for check in checks if check not in checklist]
    unknown = sorted(set(checklist) - set(checks))
    problems = []
    if missing:
        problems.append(f"missing checks: {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown checks: {', '.join(unknown)} (expected {', '.join(checks)})")
    if problems:
        raise InvalidInspection("; ".join(problems))


def derive_grade(checklist: Mapping[str, bool]) -> Grade:
    """The grade the module's rules give a checklist; a check the category lacks cannot fail."""
    powers_on = checklist.get(POWERS_ON, True)
    screen_intact = checklist.get(SCREEN_INTACT, True)
    if not powers_on and not screen_intact:
        return "scrap"
    if not powers_on or not screen_intact:
        return "C"
    if all(checklist.values()):
        return "A"
    return "B"


@dataclass(frozen=True)
class Grading:
    """The grade the rules give, the grade the unit goes by, and why they differ."""

    derived: Grade
    grade: Grade
    override_reason: str | None


def grade(
    checklist: Mapping[str, bool], override: Grade | None, override_reason: str | None
) -> Grading:
    """The derived grade, and the one the unit goes by: an override differs only with a reason."""
    derived = derive_grade(checklist)
    if override is None or override == derived:
        return Grading(derived, derived, None)
    reason = (override_reason or "").strip()
    if not reason:
        raise InvalidInspection(
            f"overriding grade {derived} with {override} needs a reason (override_reason)"
        )
    return Grading(derived, override, reason)
