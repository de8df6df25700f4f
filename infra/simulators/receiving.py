"""The simulated 3PL's goods in: deliveries expected under purchase orders (and their ASNs),
received at the dock after `receive_delay`, scanning the serials the ASN declared (or new ones) and
the batch; and transfers from other locations, received after `transfer_delay`."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field

import structlog

from contracts.threepl import GoodsReceipt, GoodsReceiptLine, TransferArrival
from contracts.warehouse import (
    GoodsReceiptRejected,
    InboundCancelled,
    InboundExpected,
    TransferRequested,
)
from infra.simulators.floor import Floor, jittered, now
from infra.simulators.kafka import RecentIds
from infra.simulators.threepl_bridge import Publish
from infra.simulators.threepl_settings import SimulatedThreePLSettings

log = structlog.get_logger(__name__)

SIMULATED_RECEIPTS = uuid.UUID("4f1b8c2d-7e3a-4b59-a0d6-9c8e5f2a1b37")


def goods_receipt_for(
    expected: InboundExpected, left: dict[str, int], rng: random.Random
) -> GoodsReceipt | None:
    """What the dock counts in of an expected delivery: each line's units, never more than
    `left` (SKU → units still to come), scanned with the serials the ASN declared, none where
    the ASN declares none for a line, or new ones read off the boxes (no ASN),
    with the declared batch or one read off the cartons; None when nothing is left to receive.

    The receipt id comes from the purchase order and ASN, so sending it again is a repeat."""
    lines = []
    for line in expected.lines:
        quantity = min(line.quantity, left.get(line.sku, 0))
        if quantity < 1:
            continue
        declared = list(line.serials[:quantity])
        if len(declared) == quantity:
            serials = declared
        elif expected.asn_id is not None and not line.serials:
            serials = []  # the supplier's ASN says these units carry no serials (cables)
        else:  # no ASN, or one short of serials: the dock scans what is on the boxes
            serials = [f"SIM{rng.getrandbits(48):012X}" for _ in range(quantity)]
        batch = line.batch or f"SIM-B{rng.getrandbits(16):04X}"
        lines.append(
            GoodsReceiptLine(sku=line.sku, quantity=quantity, serials=serials, batch=batch)
        )
    if not lines:
        return None
    receipt_key = f"{expected.purchase_order_id}/{expected.asn_id or ''}"
    return GoodsReceipt(
        type="goods_received",
        receipt_id=f"SIM-{uuid.uuid5(SIMULATED_RECEIPTS, receipt_key).hex[:16].upper()}",
        purchase_order_id=expected.purchase_order_id,
        asn_id=expected.asn_id,
        location=expected.location,
        at=now(),
        received_by="simulated 3PL",
        lines=lines,
    )


@dataclass
class Purchase:
    """Goods expected under one purchase order, and what the dock received of them."""

    rng: random.Random
    ordered: dict[str, int] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)
    advised: bool = False
    """An ASN came: the goods arrive by their ASNs, not as the whole order."""
    cancelled: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list, repr=False)

    def left(self) -> dict[str, int]:
        return {sku: units - self.received.get(sku, 0) for sku, units in self.ordered.items()}


class Dock:
    """Where the simulated 3PL receives: the `ThreePL` calls of goods coming in."""

    def __init__(self, settings: SimulatedThreePLSettings, floor: Floor, known: RecentIds) -> None:
        self.settings = settings
        self.floor = floor
        self.publish: Publish | None = None
        """Set when the 3PL starts."""
        self._known = known
        self._purchases: dict[str, Purchase] = {}

    async def inbound_expected(self, expected: InboundExpected) -> None:
        """Receive the goods once they arrive; an announcement already known, or for another
        location, is ignored."""
        served = self.settings.served_locations
        if served is not None and expected.location not in served:
            return
        if not self._known.add(("inbound", expected.purchase_order_id, expected.asn_id)):
            return
        purchase = self._purchases.setdefault(
            expected.purchase_order_id,
            Purchase(rng=random.Random(f"{self.settings.seed}:{expected.purchase_order_id}")),
        )
        if expected.asn_id is None:
            purchase.ordered = {line.sku: line.quantity for line in expected.lines}
        else:
            purchase.advised = True
            for line in expected.lines:
                # The order itself was announced before this process started: trust the ASN.
                purchase.ordered.setdefault(line.sku, line.quantity)
        log.info(
            "inbound expected",
            purchase_order_id=expected.purchase_order_id,
            asn_id=expected.asn_id,
            location=expected.location,
        )
        self.floor.then(purchase, self._receive(purchase, expected))

    async def inbound_cancelled(self, cancellation: InboundCancelled) -> None:
        """Expect nothing more under the purchase order."""
        purchase = self._purchases.get(cancellation.purchase_order_id)
        if purchase is not None:
            purchase.cancelled = True

    async def goods_receipt_rejected(self, rejection: GoodsReceiptRejected) -> None:
        """A person at the dock must sort it out."""
        log.error(
            "goods receipt rejected; a person must look at it",
            receipt_id=rejection.receipt_id,
            purchase_order_id=rejection.purchase_order_id,
            problems=rejection.problems,
        )

    async def transfer_requested(self, request: TransferRequested) -> None:
        """The origin's units leave with the truck (the shelves learn it from
        `StockTransferredOut`); at the destination, they are received after `transfer_delay`,
        every unit sent with its serial. A request already known, or for locations it does not
        operate, is ignored."""
        served = self.settings.served_locations
        if served is not None and request.to_location not in served:
            return
        if not self._known.add(("transfer", request.transfer_id)):
            return
        self.floor.start(self._receive_transfer(request))

    async def _receive(self, purchase: Purchase, expected: InboundExpected) -> None:
        await asyncio.sleep(
            jittered(purchase.rng, self.settings.receive_delay, self.settings.jitter)
        )
        if purchase.cancelled:
            return
        if expected.asn_id is None and purchase.advised:
            log.info(
                "purchase order arrives by its ASNs", purchase_order_id=expected.purchase_order_id
            )
            return
        receipt = goods_receipt_for(expected, purchase.left(), purchase.rng)
        if receipt is None:
            log.info(
                "nothing left to receive",
                purchase_order_id=expected.purchase_order_id,
                asn_id=expected.asn_id,
            )
            return
        for line in receipt.lines:
            purchase.received[line.sku] = purchase.received.get(line.sku, 0) + line.quantity
        assert self.publish is not None, "start() first"
        await self.publish(receipt)
        log.info(
            "goods received",
            purchase_order_id=receipt.purchase_order_id,
            asn_id=receipt.asn_id,
            receipt_id=receipt.receipt_id,
            units=sum(line.quantity for line in receipt.lines),
        )

    async def _receive_transfer(self, request: TransferRequested) -> None:
        rng = random.Random(f"{self.settings.seed}:{request.transfer_id}")
        await asyncio.sleep(jittered(rng, self.settings.transfer_delay, self.settings.jitter))
        assert self.publish is not None, "start() first"
        await self.publish(
            TransferArrival(
                type="transfer_received",
                transfer_id=request.transfer_id,
                location=request.to_location,
                sku=request.sku,
                quantity=request.quantity,
                serials=list(request.serials),
                at=now(),
                received_by="simulated 3PL",
            )
        )
        log.info(
            "transfer received",
            transfer_id=str(request.transfer_id),
            location=request.to_location,
            units=request.quantity,
        )
