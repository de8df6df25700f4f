"""RMAs, eligibility, grades, dispositions and refunds, without any infrastructure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contracts import returns as contracts
from contracts.warehouse import PackedUnit, ShipmentConfirmed
from services.returns.application import ReturnsApplication, ShippedLine
from services.returns.config import ReturnsSettings
from services.returns.domain import (
    DEFAULT_CHECKS,
    Address,
    DeliveredUnits,
    Grade,
    InvalidInspection,
    ReturnLine,
    ReturnPolicy,
    Rma,
    RmaStatus,
    add_months,
    decide_eligibility,
    derive_grade,
    rma_id_for,
)
from services.returns.translators import shipped_lines, to_contract
from services.runtime.aggregate import DomainError

DELIVERED = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
POLICY = ReturnPolicy(return_window_days=30, channel_return_window_days=(("marketplace", 14),))
ADDRESS = Address("Grace Hopper", "2 Compiler Road", None, "Arlington", "VA", "22201", "US")
ALL_PASS = dict.fromkeys(DEFAULT_CHECKS, True)


def line(channel: str = "webshop") -> ReturnLine:
    return ReturnLine(
        order_id=uuid.uuid4(),
        line_number=1,
        sku="LAPTOP-14",
        channel=channel,
        unit_price=Decimal("1199.00"),
        currency="USD",
        ship_to=ADDRESS,
    )


def request(
    *,
    days_after_delivery: float = 3,
    channel: str = "webshop",
    warranty_months: int = 24,
    serials: tuple[str, ...] = ("SN-1",),
) -> Rma:
    return Rma.request(
        uuid.uuid4(),
        line=line(channel),
        units=DeliveredUnits(
            serials=serials,
            delivered_at=DELIVERED,
            shipped_from="WH-A",
            quantity=max(1, len(serials)),
        ),
        warranty_months=warranty_months,
        reason="fan noise",
        customer_note="it rattles",
        requested_at=DELIVERED + timedelta(days=days_after_delivery),
        policy=POLICY,
    )


def received(serial: str | None = "SN-1") -> Rma:
    rma = request(serials=("SN-1", "SN-2"))
    rma.record_receipt(location="WH-A", sku="LAPTOP-14", serial=serial, received_at=DELIVERED)
    return rma


def checklist(**failed: bool) -> dict[str, bool]:
    return ALL_PASS | failed


def event_names(rma: Rma) -> list[str]:
    return [type(event).__name__ for event in rma.collect_events()]


# -- eligibility ----------------------------------------------------------------------------------


def test_a_request_within_the_return_window_is_authorised_on_that_basis() -> None:
    rma = request(days_after_delivery=30)
    assert rma.status is RmaStatus.AUTHORISED
    assert rma.basis == "return-window"
    assert rma.eligibility == (
        "requested 2026-03-31, within the 30-day return window of webshop "
        "(delivered 2026-03-01, ends 2026-03-31)"
    )
    assert (rma.expected_serials, rma.return_from, rma.return_to) == (("SN-1",), ADDRESS, "WH-A")
    assert event_names(rma) == ["Requested", "Authorised"]


def test_a_channel_with_its_own_window_decides_by_it() -> None:
    assert request(channel="marketplace", days_after_delivery=14).basis == "return-window"
    late = request(channel="marketplace", days_after_delivery=15)
    assert late.basis == "warranty"
    assert "the 14-day return window of marketplace" in (late.eligibility or "")


def test_after_the_window_the_warranty_counts_from_delivery() -> None:
    rma = request(days_after_delivery=200, warranty_months=12)
    assert (rma.status, rma.basis) == (RmaStatus.AUTHORISED, "warranty")
    assert rma.eligibility == (
        "requested 2026-09-17, after the 30-day return window of webshop "
        "(delivered 2026-03-01, ends 2026-03-31) but within the 12-month warranty "
        "(ends 2027-03-01)"
    )


def test_outside_the_window_and_the_warranty_the_return_is_rejected_with_the_dates() -> None:
    rma = request(days_after_delivery=400, warranty_months=12)
    assert rma.status is RmaStatus.REJECTED
    assert rma.basis is None
    assert event_names(rma) == ["Requested", "Rejected"]
    assert rma.eligibility == (
        "requested 2027-04-05, after the 30-day return window of webshop "
        "(delivered 2026-03-01, ends 2026-03-31) and after the 12-month warranty (ends 2027-03-01)"
    )
    with pytest.raises(DomainError, match="rejected: no unit is expected back"):
        rma.record_receipt(location="WH-A", sku="LAPTOP-14", serial="SN-1", received_at=DELIVERED)


def test_a_zero_day_window_and_no_warranty_reject_the_day_after_delivery() -> None:
    decision = decide_eligibility(
        ReturnPolicy(return_window_days=0),
        channel="webshop",
        delivered_at=DELIVERED,
        warranty_months=0,
        requested_at=DELIVERED + timedelta(seconds=1),
    )
    assert not decision.eligible


def test_warranty_months_are_calendar_months_clamped_to_the_months_end() -> None:
    assert add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2026, 11, 15, tzinfo=UTC), 26) == datetime(2029, 1, 15, tzinfo=UTC)


def test_a_request_needs_a_reason() -> None:
    with pytest.raises(DomainError, match="needs a reason"):
        Rma.request(
            uuid.uuid4(),
            line=line(),
            units=DeliveredUnits(("SN-1",), DELIVERED, "WH-A", quantity=1),
            warranty_months=0,
            reason=" ",
            customer_note="",
            requested_at=DELIVERED,
            policy=POLICY,
        )


def test_the_rma_id_is_derived_from_the_line_and_the_request() -> None:
    order_id = uuid.uuid4()
    assert rma_id_for(order_id, 1, 1) == rma_id_for(order_id, 1, 1)
    assert (
        len({rma_id_for(order_id, 1, 1), rma_id_for(order_id, 1, 2), rma_id_for(order_id, 2, 1)})
        == 3
    )


def test_channel_windows_are_configured_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNITRAIL_RETURNS_RETURN_WINDOW_DAYS", "21")
    monkeypatch.setenv("UNITRAIL_RETURNS_CHANNEL_RETURN_WINDOW_DAYS", '{"marketplace": 14}')
    policy = ReturnsSettings().return_policy()
    assert (policy.window_days("webshop"), policy.window_days("marketplace")) == (21, 14)
    assert ReturnsSettings().inspection_policy().checks_for("cameras") == DEFAULT_CHECKS


# -- receipt, serial check and review -----------------------------------------------------------


def test_the_unit_shipped_coming_back_is_recorded_as_matching() -> None:
    rma = received("SN-2")
    assert rma.receipt is not None
    assert rma.receipt.serial_matches
    assert (rma.status, rma.block_reason, rma.refund_allowed) == (RmaStatus.RECEIVED, None, True)
    assert event_names(rma)[2:] == ["ReceiptRecorded"]


@pytest.mark.parametrize(
    ("serial", "received_as"), [("SN-9", "SN-9"), (None, "no serial")], ids=["other", "none"]
)
def test_another_serial_or_none_blocks_the_refund_for_review(
    serial: str | None, received_as: str
) -> None:
    rma = received(serial)
    assert rma.receipt is not None
    assert not rma.receipt.serial_matches
    assert rma.status is RmaStatus.UNDER_REVIEW
    assert rma.block_reason == f"serial mismatch: expected SN-1 or SN-2, received {received_as}"
    assert event_names(rma)[2:] == ["ReceiptRecorded", "RefundBlocked"]
    assert not rma.refund_allowed
    with pytest.raises(DomainError, match="a reviewer must decide first"):
        rma.inspect(inspector="ines", checklist=ALL_PASS, checks=DEFAULT_CHECKS)
    assert "Dispositioned" not in event_names(rma)


def test_a_unit_of_another_sku_blocks_the_refund() -> None:
    rma = request()
    rma.record_receipt(location="WH-A", sku="CAMERA-X", serial="SN-1", received_at=DELIVERED)
    assert rma.block_reason == "SKU mismatch: expected LAPTOP-14, received CAMERA-X"


def test_a_reviewer_who_decides_refund_lets_the_inspection_and_refund_go_ahead() -> None:
    rma = received("SN-9")
    rma.resolve_review("refund", reviewer="rita", note="our capture was wrong")
    rma.resolve_review("refund", reviewer="rita", note="clicked twice")
    rma.inspect(
        inspector="ines", checklist=checklist(cosmetic_condition=False), checks=DEFAULT_CHECKS
    )
    assert rma.refund is not None
    assert rma.refund.amount == Decimal("1199.00")
    assert event_names(rma)[4:] == [
        "ReviewResolved",
        "Inspected",
        "Graded",
        "Dispositioned",
        "RefundIssued",
    ]


def test_a_reviewer_who_rejects_closes_the_case_without_refund_or_disposition() -> None:
    rma = received("SN-9")
    rma.resolve_review("reject", reviewer="rita", note="a different laptop")
    assert rma.status is RmaStatus.REFUSED
    with pytest.raises(DomainError, match="already decided reject"):
        rma.resolve_review("refund", reviewer="rob", note="changed my mind")
    with pytest.raises(DomainError, match="cannot be inspected"):
        rma.inspect(inspector="ines", checklist=ALL_PASS, checks=DEFAULT_CHECKS)
    assert not {"Inspected", "Graded", "Dispositioned", "RefundIssued"} & set(event_names(rma))


def test_only_a_blocked_rma_is_reviewed() -> None:
    with pytest.raises(DomainError, match="nothing to review"):
        received("SN-1").resolve_review("refund", reviewer="rita", note="?")


def test_the_same_dock_receipt_again_changes_nothing_and_a_second_unit_is_refused() -> None:
    rma = received("SN-1")
    rma.collect_events()
    rma.record_receipt(location="WH-A", sku="LAPTOP-14", serial="SN-1", received_at=DELIVERED)
    assert rma.collect_events() == []
    with pytest.raises(DomainError, match="a second unit under one RMA is refused"):
        rma.record_receipt(location="WH-A", sku="LAPTOP-14", serial="SN-2", received_at=DELIVERED)


# -- a line of a product whose units carry no serial --------------------------------------------


def unserialized_received(serial: str | None = None, sku: str = "LAPTOP-14") -> Rma:
    rma = request(serials=())
    rma.record_receipt(location="WH-A", sku=sku, serial=serial, received_at=DELIVERED)
    return rma


def test_a_unit_of_an_unserialized_line_is_authorised_with_no_serial_to_expect() -> None:
    rma = request(serials=())
    assert (rma.status, rma.basis) == (RmaStatus.AUTHORISED, "return-window")
    assert (rma.expected_serials, rma.serialized, rma.return_to) == ((), False, "WH-A")
    late = request(serials=(), days_after_delivery=400, warranty_months=12)
    assert late.status is RmaStatus.REJECTED, "the same window and warranty"


@pytest.mark.parametrize("serial", [None, "SCANNED-ANYWAY"], ids=["none", "scanned"])
def test_an_unserialized_unit_is_checked_by_sku_only_and_goes_back_without_a_serial(
    serial: str | None,
) -> None:
    rma = unserialized_received(serial)
    assert rma.receipt is not None
    assert (rma.receipt.serial, rma.receipt.serial_matches) == (serial, True)
    assert (rma.status, rma.block_reason, rma.refund_allowed) == (RmaStatus.RECEIVED, None, True)
    rma.collect_events()
    rma.inspect(
        inspector="ines", checklist=checklist(factory_seal_intact=False), checks=DEFAULT_CHECKS
    )
    inspected, graded, dispositioned, refund = rma.collect_events()
    assert isinstance(inspected, Rma.Inspected)
    assert isinstance(graded, Rma.Graded)
    assert graded.grade == inspected.grade
    assert inspected.grade == "B"
    assert isinstance(dispositioned, Rma.Dispositioned)
    assert graded.serial == dispositioned.serial
    assert (dispositioned.serial, dispositioned.location, dispositioned.condition) == (
        None,
        "WH-A",
        "open-box",
    )
    assert isinstance(refund, Rma.RefundIssued)
    assert refund.amount == Decimal("1199.00")
    assert rma.status is RmaStatus.REFUNDED


def test_an_unserialized_unit_of_another_sku_still_blocks_the_refund() -> None:
    rma = unserialized_received(sku="CABLE-USB-C")
    assert rma.status is RmaStatus.UNDER_REVIEW
    assert rma.block_reason == "SKU mismatch: expected LAPTOP-14, received CABLE-USB-C"


def test_a_serialized_line_still_blocks_a_unit_without_a_serial() -> None:
    rma = request(serials=("SN-1",))
    assert rma.serialized
    rma.record_receipt(location="WH-A", sku="LAPTOP-14", serial=None, received_at=DELIVERED)
    assert rma.status is RmaStatus.UNDER_REVIEW
    assert rma.block_reason == "serial mismatch: expected SN-1, received no serial"


def test_a_grade_a_unserialized_unit_is_signed_off_without_a_serial() -> None:
    rma = unserialized_received("SCANNED-ANYWAY")
    rma.inspect(inspector="ines", checklist=ALL_PASS, checks=DEFAULT_CHECKS)
    rma.collect_events()
    rma.sign_off("tom")
    (signed,) = rma.collect_events()
    assert isinstance(signed, Rma.SignedOff)
    assert (signed.serial, signed.location) == (None, "WH-A")


def test_the_units_left_to_return_are_the_delivered_ones_not_under_a_return() -> None:
    cables = DeliveredUnits(serials=(), delivered_at=DELIVERED, shipped_from="WH-A", quantity=3)
    assert not cables.serialized
    assert [cables.left_to_return(taken) for taken in (0, 2, 3, 4)] == [3, 1, 0, 0]
    laptops = DeliveredUnits(("SN-1", "SN-2"), DELIVERED, "WH-A", quantity=2)
    assert (laptops.serialized, laptops.left_to_return(1), laptops.left_to_return(2)) == (
        True,
        1,
        0,
    )
    with pytest.raises(DomainError, match="no unit was delivered"):
        DeliveredUnits((), DELIVERED, "WH-A", quantity=0)
    with pytest.raises(DomainError, match="1 delivered units cannot carry 2 serials"):
        DeliveredUnits(("SN-1", "SN-2"), DELIVERED, "WH-A", quantity=1)


def test_a_confirmed_shipment_counts_the_units_of_each_line_serialized_or_not() -> None:
    confirmed = ShipmentConfirmed(
        shipment_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        location="WH-A",
        units=[
            PackedUnit(line_number=2, sku="CABLE-USB-C", serial=None),
            PackedUnit(line_number=1, sku="LAPTOP-14", serial="SN-1"),
            PackedUnit(line_number=2, sku="CABLE-USB-C", serial=None),
        ],
        carrier="UPS",
        service="ground",
        tracking_number="1Z1",
        shipped_at=DELIVERED,
    )
    assert shipped_lines(confirmed) == [
        ShippedLine(line_number=1, sku="LAPTOP-14", quantity=1),
        ShippedLine(line_number=2, sku="CABLE-USB-C", quantity=2),
    ]


# -- inspection, grade, disposition, refund ----------------------------------------------------


@pytest.mark.parametrize(
    ("failed", "expected"),
    [
        ({}, "A"),
        ({"factory_seal_intact": False}, "B"),
        ({"cosmetic_condition": False}, "B"),
        ({"accessories_complete": False, "factory_seal_intact": False}, "B"),
        ({"powers_on": False}, "C"),
        ({"screen_intact": False, "factory_seal_intact": False}, "C"),
        ({"powers_on": False, "screen_intact": False}, "scrap"),
    ],
)
def test_the_grade_follows_the_documented_rules(failed: dict[str, bool], expected: Grade) -> None:
    assert derive_grade(checklist(**failed)) == expected


@pytest.mark.parametrize(
    ("failed", "grade", "condition", "awaiting_signoff"),
    [
        ({}, "A", "quarantined", True),
        ({"factory_seal_intact": False}, "B", "open-box", False),
        ({"powers_on": False}, "C", "quarantined", False),
        ({"powers_on": False, "screen_intact": False}, "scrap", "damaged", False),
    ],
)
def test_each_grade_has_its_disposition_and_the_refund_follows_in_the_same_step(
    failed: dict[str, bool], grade: Grade, condition: str, awaiting_signoff: bool
) -> None:
    rma = received()
    rma.collect_events()
    rma.inspect(inspector="ines", checklist=checklist(**failed), checks=DEFAULT_CHECKS)
    inspected, graded, dispositioned, refund = rma.collect_events()
    assert isinstance(inspected, Rma.Inspected)
    assert isinstance(graded, Rma.Graded)
    assert graded.grade == inspected.grade
    assert inspected.grade == grade
    assert isinstance(dispositioned, Rma.Dispositioned)
    assert graded.serial == dispositioned.serial
    assert (dispositioned.serial, dispositioned.location, dispositioned.grade) == (
        "SN-1",
        "WH-A",
        grade,
    )
    assert (dispositioned.condition, dispositioned.awaiting_signoff) == (
        condition,
        awaiting_signoff,
    )
    assert isinstance(refund, Rma.RefundIssued)
    assert (refund.channel, refund.amount, refund.currency) == (
        "webshop",
        Decimal("1199.00"),
        "USD",
    )
    assert rma.status is RmaStatus.REFUNDED


def test_an_override_needs_a_reason_and_keeps_the_derived_grade() -> None:
    rma = received()
    with pytest.raises(InvalidInspection, match="overriding grade A with B needs a reason"):
        rma.inspect(inspector="ines", checklist=ALL_PASS, checks=DEFAULT_CHECKS, grade_override="B")
    rma.inspect(
        inspector="ines",
        checklist=ALL_PASS,
        checks=DEFAULT_CHECKS,
        grade_override="B",
        override_reason="box crushed in transit",
    )
    assert rma.inspection is not None
    assert (rma.inspection.grade, rma.inspection.derived_grade) == ("B", "A")
    assert rma.inspection.override_reason == "box crushed in transit"
    assert rma.disposition is not None
    assert rma.disposition.condition == "open-box"


def test_an_override_equal_to_the_derived_grade_needs_no_reason() -> None:
    rma = received()
    rma.inspect(inspector="ines", checklist=ALL_PASS, checks=DEFAULT_CHECKS, grade_override="A")
    assert rma.inspection is not None
    assert rma.inspection.override_reason is None


def test_the_checklist_must_answer_the_categorys_checks_and_no_others() -> None:
    rma = received()
    partial = {"powers_on": True, "x_ray": True}
    with pytest.raises(InvalidInspection, match="missing checks: screen_intact") as error:
        rma.inspect(inspector="ines", checklist=partial, checks=DEFAULT_CHECKS)
    assert "unknown checks: x_ray" in str(error.value)
    rma.inspect(inspector="ines", checklist={"powers_on": True}, checks=("powers_on",))
    assert rma.inspection is not None
    assert rma.inspection.grade == "A"


def test_no_inspection_before_the_unit_is_received() -> None:
    with pytest.raises(DomainError, match="authorised: it cannot be inspected"):
        request().inspect(inspector="ines", checklist=ALL_PASS, checks=DEFAULT_CHECKS)


def test_the_same_inspection_again_changes_nothing_and_another_is_refused() -> None:
    rma = received()
    rma.inspect(inspector="ines", checklist=ALL_PASS, checks=DEFAULT_CHECKS)
    rma.collect_events()
    rma.inspect(inspector="ines", checklist=ALL_PASS, checks=DEFAULT_CHECKS)
    assert rma.collect_events() == []
    with pytest.raises(DomainError, match="already inspected by ines"):
        rma.inspect(inspector="ines", checklist=checklist(powers_on=False), checks=DEFAULT_CHECKS)


def test_only_a_grade_a_unit_awaiting_sign_off_is_signed_off() -> None:
    b_unit = received()
    b_unit.inspect(
        inspector="ines", checklist=checklist(factory_seal_intact=False), checks=DEFAULT_CHECKS
    )
    with pytest.raises(DomainError, match="is grade B: only a grade-A unit"):
        b_unit.sign_off("tom")
    with pytest.raises(DomainError, match="not inspected"):
        received().sign_off("tom")

    a_unit = received()
    a_unit.inspect(inspector="ines", checklist=ALL_PASS, checks=DEFAULT_CHECKS)
    a_unit.collect_events()
    a_unit.sign_off("tom")
    a_unit.sign_off("tom")
    (signed,) = a_unit.collect_events()
    assert isinstance(signed, Rma.SignedOff)
    assert (signed.serial, signed.location, signed.technician) == ("SN-1", "WH-A", "tom")
    assert a_unit.status is RmaStatus.SIGNED_OFF
    assert a_unit.disposition is not None
    assert not a_unit.disposition.awaiting_signoff


# -- every event is a public event ------------------------------------------------------------


def test_every_rma_event_translates_to_its_public_contract() -> None:
    approved = received("SN-9")
    approved.resolve_review("refund", reviewer="rita", note="ok")
    approved.inspect(inspector="ines", checklist=ALL_PASS, checks=DEFAULT_CHECKS)
    approved.sign_off("tom")
    rejected = request(days_after_delivery=999, warranty_months=0)
    published = [to_contract(e) for rma in (approved, rejected) for e in rma.collect_events()]
    assert [type(event) for event in published] == [
        contracts.ReturnRequested,
        contracts.ReturnAuthorised,
        contracts.ReturnReceiptRecorded,
        contracts.RefundBlocked,
        contracts.ReviewResolved,
        contracts.ReturnInspected,
        contracts.ReturnGraded,
        contracts.ReturnDispositioned,
        contracts.RefundIssued,
        contracts.ReturnSignedOff,
        contracts.ReturnRequested,
        contracts.ReturnRejected,
    ]
    authorised = published[1]
    assert isinstance(authorised, contracts.ReturnAuthorised)
    assert authorised.rma_id == approved.id
    assert authorised.return_from.postal_code == "22201"
    assert authorised.expected_serials == ["SN-1", "SN-2"]


def test_an_unserialized_return_publishes_no_serials() -> None:
    rma = unserialized_received("SCANNED-ANYWAY")
    rma.inspect(
        inspector="ines", checklist=checklist(cosmetic_condition=False), checks=DEFAULT_CHECKS
    )
    published = {type(p).__name__: p for p in map(to_contract, rma.collect_events())}
    authorised = published["ReturnAuthorised"]
    assert isinstance(authorised, contracts.ReturnAuthorised)
    assert authorised.expected_serials == []
    receipt = published["ReturnReceiptRecorded"]
    assert isinstance(receipt, contracts.ReturnReceiptRecorded)
    assert (receipt.serial, receipt.serial_matches) == ("SCANNED-ANYWAY", True)
    dispositioned = published["ReturnDispositioned"]
    assert isinstance(dispositioned, contracts.ReturnDispositioned)
    assert (dispositioned.serial, dispositioned.condition) == (None, "open-box")
    assert "RefundBlocked" not in published


def test_an_rma_reads_back_from_the_store_as_it_was_recorded() -> None:
    store = ReturnsApplication(None)
    rma = received("SN-9")
    rma.resolve_review("refund", reviewer="rita", note="ok")
    rma.inspect(inspector="ines", checklist=ALL_PASS, checks=DEFAULT_CHECKS)
    store.save(rma)
    again = store.get_rma(rma.id)
    assert (again.return_from, again.expected_serials, again.unit_price) == (
        ADDRESS,
        ("SN-1", "SN-2"),
        Decimal("1199.00"),
    )
    assert again.inspection == rma.inspection
    assert again.refund == rma.refund
    assert again.status is RmaStatus.REFUNDED


def test_an_rma_says_what_a_person_must_do_next() -> None:
    assert request().waiting_for is None, "on its way back: nobody's turn"
    assert received("SN-9").waiting_for == "review"
    rma = received("SN-1")
    assert rma.waiting_for == "inspection"
    rma.inspect(inspector="ines", checklist=ALL_PASS, checks=DEFAULT_CHECKS)
    assert rma.waiting_for == "sign-off", "grade A waits in quarantine for a technician"
    rma.sign_off("tom")
    assert rma.waiting_for is None
    graded_b = received("SN-1")
    graded_b.inspect(
        inspector="ines", checklist=checklist(cosmetic_condition=False), checks=DEFAULT_CHECKS
    )
    assert graded_b.waiting_for is None
