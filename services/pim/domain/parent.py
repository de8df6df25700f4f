"""Parent products: up to six variant axes (colour, storage, region, voltage, plug, bundle), their
values, and the combinations no variant may take. Pure: no I/O.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Self

from services.pim.domain.errors import FieldError
from services.pim.domain.identifiers import check_sku
from services.pim.domain.spec import AXES, Axis, AxisValue, ExcludedCombination
from services.runtime.aggregate import Aggregate

PARENT_NAMESPACE = uuid.UUID("0b8e1f52-7c3d-4a9e-b6f0-3e2d1c4b5a69")


def parent_id_for(code: str) -> uuid.UUID:
    return uuid.uuid5(PARENT_NAMESPACE, code)


class ParentProduct(Aggregate):
    """A product family whose variants differ along declared axes, e.g. colour and storage."""

    class Declared(Aggregate.Created):
        code: str
        name: str
        brand: str | None
        axes: tuple[Axis, ...]
        # Absent from events stored before parents could exclude combinations: none.
        excluded: tuple[ExcludedCombination, ...] = ()

        def apply(self, parent: ParentProduct) -> None:
            parent.code = self.code
            parent.name = self.name
            parent.brand = self.brand
            parent.axes = self.axes
            parent.excluded = self.excluded

    class Changed(Aggregate.Event):
        code: str
        name: str
        brand: str | None
        axes: tuple[Axis, ...]
        excluded: tuple[ExcludedCombination, ...] = ()

        def apply(self, parent: ParentProduct) -> None:
            parent.name = self.name
            parent.brand = self.brand
            parent.axes = self.axes
            parent.excluded = self.excluded

    if TYPE_CHECKING:
        code: str
        name: str
        brand: str | None
        axes: tuple[Axis, ...]
        excluded: tuple[ExcludedCombination, ...]

    @classmethod
    def declare(
        cls,
        code: str,
        name: str,
        brand: str | None,
        axes: tuple[Axis, ...],
        excluded: tuple[ExcludedCombination, ...] = (),
    ) -> Self:
        check_sku(code, "parent")
        axes = _check_axes(name, axes)
        excluded = _check_excluded(axes, excluded)
        return cls._create(
            cls.Declared,
            id=parent_id_for(code),
            code=code,
            name=name,
            brand=brand,
            axes=axes,
            excluded=excluded,
        )

    def change(
        self,
        name: str,
        brand: str | None,
        axes: tuple[Axis, ...],
        excluded: tuple[ExcludedCombination, ...] = (),
    ) -> None:
        """Rename, redeclare the axes or the excluded combinations; the same declaration again
        changes nothing."""
        axes = _check_axes(name, axes)
        excluded = _check_excluded(axes, excluded)
        if (name, brand, axes, excluded) != (self.name, self.brand, self.axes, self.excluded):
            self.trigger_event(
                self.Changed, code=self.code, name=name, brand=brand, axes=axes, excluded=excluded
            )

    def check_combination(self, axes: tuple[AxisValue, ...]) -> None:
        """A variant takes exactly one declared value on every axis of its parent."""
        given = {a.axis: a.value for a in axes}
        for axis in self.axes:
            if axis.name not in given:
                raise FieldError(
                    "axes", f"variant of {self.code} needs a value for axis {axis.name!r}"
                )
            if given[axis.name] not in axis.values:
                raise FieldError(
                    "axes",
                    f"{axis.name} {given[axis.name]!r} is not a value of {self.code} "
                    f"(declared: {', '.join(axis.values)})",
                )
        extra = sorted(set(given) - {axis.name for axis in self.axes})
        if extra:
            raise FieldError("axes", f"{self.code} declares no axis {extra[0]!r}")
        for rule in self.excluded:
            if all(given.get(value.axis) == value.value for value in rule.values):
                raise FieldError("axes", f"{self.code} excludes {rule.describe()}: {rule.reason}")

    def ordered(self, axes: tuple[AxisValue, ...]) -> tuple[AxisValue, ...]:
        """The variant's axis values in the order the parent declares its axes."""
        order = {axis.name: i for i, axis in enumerate(self.axes)}
        return tuple(sorted(axes, key=lambda a: order.get(a.axis, len(order))))


def _check_excluded(
    axes: tuple[Axis, ...], excluded: tuple[ExcludedCombination, ...]
) -> tuple[ExcludedCombination, ...]:
    """Each excluded combination names declared values of distinct axes, with a reason."""
    declared = {axis.name: axis.values for axis in axes}
    for rule in excluded:
        if not rule.values:
            raise FieldError("excluded", "an excluded combination names at least one axis value")
        if not rule.reason.strip():
            raise FieldError("excluded", f"excluding {rule.describe()} needs a reason")
        names = [value.axis for value in rule.values]
        if len(set(names)) != len(names):
            raise FieldError("excluded", f"{rule.describe()} names an axis twice")
        for value in rule.values:
            if value.value not in declared.get(value.axis, ()):
                raise FieldError(
                    "excluded", f"{value.axis} {value.value!r} is not a declared axis value"
                )
    order = {name: position for position, name in enumerate(declared)}
    normalised = tuple(
        ExcludedCombination(
            tuple(sorted(rule.values, key=lambda value: order[value.axis])), rule.reason.strip()
        )
        for rule in excluded
    )
    if len({rule.values for rule in normalised}) != len(normalised):
        raise FieldError("excluded", "a combination is excluded twice")
    return normalised


def _check_axes(name: str, axes: tuple[Axis, ...]) -> tuple[Axis, ...]:
    if not name.strip():
        raise FieldError("name", "a parent product needs a name")
    if not axes:
        raise FieldError("axes", "a parent product declares at least one variant axis")
    if len(axes) > len(AXES):
        raise FieldError("axes", f"at most {len(AXES)} variant axes, not {len(axes)}")
    names = [axis.name for axis in axes]
    for axis in axes:
        if axis.name not in AXES:
            raise FieldError("axes", f"{axis.name!r} is not a variant axis ({', '.join(AXES)})")
        if not axis.values or any(not value.strip() for value in axis.values):
            raise FieldError("axes", f"axis {axis.name!r} needs non-empty values")
        if len(set(axis.values)) != len(axis.values):
            raise FieldError("axes", f"axis {axis.name!r} lists a value twice")
    if len(set(names)) != len(names):
        raise FieldError("axes", "an axis is declared twice")
    return tuple(axes)
