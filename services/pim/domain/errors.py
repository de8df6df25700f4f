"""Rule violations that name the field at fault, so an import can report row, field and problem."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from services.runtime.aggregate import DomainError


class FieldError(DomainError):
    """A value of one field broke a rule; `problem` says how, naming the value."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem

    @property
    def details(self) -> list[dict[str, str]]:
        """The field and what is wrong with it (the HTTP answer's `details`)."""
        return [{"field": self.field, "problem": self.problem}]


@contextlib.contextmanager
def about(field: str) -> Iterator[None]:
    """Attribute any rule violation inside to `field` (unless it already names a field)."""
    try:
        yield
    except FieldError as error:
        if error.field:
            raise
        raise FieldError(field, error.problem) from None
    except DomainError as error:
        raise FieldError(field, str(error)) from None
