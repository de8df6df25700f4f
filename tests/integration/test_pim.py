"""PIM against a real Postgres and broker: identifiers, catalogue feeds per market, compliance
documents at a moment, and a bulk import."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.harness import (
    Channel,
    SchemaBuiltChannel,
    Services,
    TopicReader,
    Topics,
    channel_order,
    eventually,
    request,
)

pytestmark = pytest.mark.integration

SHA = "ab" * 32
CERTIFIED = [
    {"scheme": "FCC", "valid_from": "2025-01-01"},
    {"scheme": "CE", "valid_from": "2025-01-01"},
    {"scheme": "UKCA", "valid_from": "2025-01-01"},
]


def payloads(events: TopicReader, event_type: str, **match: Any) -> list[dict[str, Any]]:
    return [
        e["payload"]
        for e in events.events(event_type)
        if all(e["payload"].get(k) == v for k, v in match.items())
    ]


def test_identifiers_are_validated_and_the_v1_facts_keep_flowing(
    services: Services, topic: Topics
) -> None:
    (pim,) = services("pim")
    events = topic("pim.events.v1")
    body = {"name": "Laptop 14", "weight_grams": 1400, "lithium_ion": True}

    status, reply = request(pim, "PUT", "/products/LAPTOP-14", body | {"ean": "4006381333932"})
    assert status == 422
    assert (
        reply["error"]["message"]
        == "ean '4006381333932' has a wrong EAN-13 check digit: 2, expected 1"
    )

    # the v1 body still registers (what every other service's tests do)
    assert pim.put("/products/LAPTOP-14", body)["weight_grams"] == 1400
    status, reply = request(pim, "PUT", "/products/LAPTOP-14", body | {"ean": "4006381333931"})
    assert (status, reply["ean"]) == (200, "4006381333931")

    status, reply = request(pim, "POST", "/products", body | {"sku": "LAPTOP-14"})
    assert (status, reply["error"]["message"]) == (409, "sku 'LAPTOP-14' is already registered")
    # the same barcode on another SKU, also in its UPC/EAN-13 twin form
    status, reply = request(
        pim, "POST", "/products", body | {"sku": "LAPTOP-15", "ean": "4006381333931"}
    )
    assert (status, reply["error"]["message"]) == (
        422,
        "ean 4006381333931 is already used by LAPTOP-14",
    )
    pim.put("/products/SODA", body | {"ean": "036000291452"})
    status, reply = request(pim, "PUT", "/products/SODA-2", body | {"ean": "0036000291452"})
    assert (status, reply["error"]["message"]) == (422, "ean 0036000291452 is already used by SODA")
    status, reply = request(pim, "PUT", "/products/X-1", body | {"weight_grams": "3 stone"})
    assert status == 422
    assert "unknown unit 'stone'" in reply["error"]["message"]

    registered = eventually(
        lambda: payloads(events, "ProductRegistered", sku="LAPTOP-14"), what="ProductRegistered"
    )
    assert registered[0]["weight_grams"] == 1400
    specified = eventually(
        lambda: payloads(events, "ProductSpecified", sku="LAPTOP-14", ean="4006381333931"),
        what="the spec with the EAN",
    )
    assert specified[0]["weight_grams"] == 1400


def test_spec_changes_certifications_and_lifecycle_reach_every_market_feed(
    services: Services, topic: Topics, channel: Channel
) -> None:
    pim, order = services("pim", "order")
    events = topic("pim.events.v1")
    pim.put(
        "/parents/PHONE-X",
        {"name": "Phone X", "axes": {"colour": ["black", "silver"], "storage": ["128GB", "256GB"]}},
    )
    variant = {
        "name": "Phone X black 128",
        "weight_grams": "0.2 kg",
        "lithium_ion": True,
        "ean": "5901234123457",
        "parent": "PHONE-X",
        "axes": {"storage": "128GB", "colour": "black"},
        "price": "799.00",
        "currency": "USD",
        "attributes": {"refresh_rate": "120 hz", "screen_size": '6.1"', "ports": ["USB-C"]},
        "certifications": CERTIFIED,
    }
    reply = pim.put("/products/PHONE-X-B128", variant)
    assert (reply["weight_grams"], reply["axes"]) == (200, {"colour": "black", "storage": "128GB"})
    assert reply["attributes"]["refresh_rate"] == {"value": "120", "unit": "Hz"}
    assert reply["markets"] == ["EU", "UK", "US"]

    status, refused = request(
        pim,
        "PUT",
        "/products/PHONE-X-G128",
        variant | {"axes": {"colour": "green", "storage": "128GB"}, "ean": None},
    )
    assert status == 422
    assert (
        refused["error"]["message"]
        == "colour 'green' is not a value of PHONE-X (declared: black, silver)"
    )
    status, refused = request(pim, "PUT", "/products/PHONE-X-B128-2", variant | {"ean": None})
    assert (status, refused["error"]["message"]) == (
        422,
        "PHONE-X variant colour=black;storage=128GB is already PHONE-X-B128",
    )

    # a disabled variant leaves every feed, and comes back when enabled
    pim.post("/products/PHONE-X-B128/disable", {"reason": "black not made in 128GB"})
    assert pim.get("/catalogue/US")["entries"] == []
    pim.post("/products/PHONE-X-B128/enable", {})
    assert [e["sku"] for e in pim.get("/catalogue/US")["entries"]] == ["PHONE-X-B128"]
    (disabled,) = eventually(
        lambda: payloads(events, "VariantDisabled", sku="PHONE-X-B128"), what="VariantDisabled"
    )
    assert disabled["reason"] == "black not made in 128GB"
    eventually(lambda: payloads(events, "VariantEnabled", sku="PHONE-X-B128"), what="enabled")

    # a parent gains an axis value; its variants keep theirs
    pim.put(
        "/parents/PHONE-X",
        {
            "name": "Phone X",
            "axes": {"colour": ["black", "silver", "blue"], "storage": ["128GB", "256GB"]},
        },
    )
    (changed,) = eventually(
        lambda: payloads(events, "ParentProductChanged"), what="ParentProductChanged"
    )
    assert changed["axes"]["colour"] == ["black", "silver", "blue"]

    # a spec change flows to every market's feed
    pim.put("/products/PHONE-X-B128", variant | {"name": "Phone X (2026) black 128"})

    def renamed() -> set[str]:
        entries = payloads(
            events, "CatalogueEntryChanged", sku="PHONE-X-B128", name="Phone X (2026) black 128"
        )
        return {entry["market"] for entry in entries}

    assert eventually(lambda: renamed() == {"EU", "UK", "US"}, what="the renamed entry per market")
    for market in ("EU", "UK", "US"):
        (entry,) = pim.get(f"/catalogue/{market}")["entries"]
        assert (entry["sku"], entry["name"]) == ("PHONE-X-B128", "Phone X (2026) black 128")

    # removing CE hides the variant from the EU feed only
    pim.post("/products/PHONE-X-B128/certifications/CE", {}, method="DELETE")
    withdrawn = eventually(
        lambda: payloads(
            events,
            "CatalogueEntryWithdrawn",
            sku="PHONE-X-B128",
            reason="no valid CE certification",
        ),
        what="the EU withdrawal",
    )
    assert [w["market"] for w in withdrawn] == ["EU"]
    assert pim.get("/catalogue/EU")["entries"] == []
    assert [e["sku"] for e in pim.get("/catalogue/US")["entries"]] == ["PHONE-X-B128"]

    # ... and holds a paid EU order line for it, with the reason; the US order goes ahead
    eventually(
        lambda: order.get("/orders/eligibility/PHONE-X-B128")["markets"].get("EU"),
        what="the order service learning of the EU withdrawal",
    )
    channel.send(channel_order("EU-1", lines=[("PHONE-X-B128", 1)], country="DE"))
    channel.send(channel_order("US-1", lines=[("PHONE-X-B128", 1)], country="US"))

    def placed(channel_order_id: str) -> Any:
        path = f"/orders/by-channel/webshop/{channel_order_id}"
        return order.exists(path) and order.get(path)

    held = eventually(lambda: placed("EU-1"), what="the EU order")
    assert held["hold_reason"] == (
        "line 1 (PHONE-X-B128) is not sellable in EU: no valid CE certification"
    )
    assert not eventually(lambda: placed("US-1"), what="the US order")["on_hold"]

    # end of life shows the successor; discontinued leaves every feed
    pim.put("/products/PHONE-Y", {"name": "Phone Y", "weight_grams": 210, "lithium_ion": True})
    pim.post("/products/PHONE-X-B128/end-of-life", {"successor_sku": "PHONE-Y"})
    (entry,) = pim.get("/catalogue/US")["entries"]
    assert (entry["lifecycle"], entry["successor_sku"]) == ("end_of_life", "PHONE-Y")
    pim.post("/products/PHONE-X-B128/discontinue", {})
    assert pim.get("/catalogue/US")["entries"] == pim.get("/catalogue/UK")["entries"] == []
    eventually(
        lambda: (
            {"US", "UK"}
            <= {
                w["market"]
                for w in payloads(events, "CatalogueEntryWithdrawn", reason="discontinued")
            }
        ),
        what="withdrawals of the discontinued variant",
    )


def test_the_document_version_valid_at_order_time_survives_a_newer_version(
    services: Services,
) -> None:
    (pim,) = services("pim")
    pim.put("/products/TV-55", {"name": "TV 55", "weight_grams": 18000, "lithium_ion": False})
    pim.put(
        "/products/TV-55/documents/declaration_of_conformity/2025.1",
        {"valid_from": "2025-01-01", "uri": "https://docs.example/doc-2025.1.pdf", "sha256": SHA},
    )
    ordered_at = datetime.now(UTC)
    newer_from = (ordered_at + timedelta(seconds=1)).isoformat()
    pim.put(
        "/products/TV-55/documents/declaration_of_conformity/2026.1",
        {"valid_from": newer_from, "uri": "https://docs.example/doc-2026.1.pdf", "sha256": SHA},
    )
    at_order = pim.get(
        f"/products/TV-55/documents/declaration_of_conformity?at={ordered_at.isoformat().replace('+', '%2B')}"
    )
    assert at_order["documents"]["declaration_of_conformity"]["version"] == "2025.1"
    later = (ordered_at + timedelta(days=1)).date().isoformat()
    now = pim.get(f"/products/TV-55/documents?at={later}")
    assert now["documents"]["declaration_of_conformity"]["version"] == "2026.1"
    status, reply = request(
        pim, "GET", "/products/TV-55/documents/declaration_of_conformity?at=2024-06-01"
    )
    assert status == 404
    status, reply = request(
        pim,
        "PUT",
        "/products/TV-55/documents/declaration_of_conformity/2026.1",
        {"valid_from": "2027-01-01", "uri": "https://docs.example/other.pdf", "sha256": SHA},
    )
    assert status == 422
    assert "already published with other content" in reply["error"]["message"]


def catalogue_csv(rows: int, bad_rows: set[int]) -> bytes:
    """`rows` products; the rows in `bad_rows` (counted from 1) each break one rule."""
    lines = ["sku,name,weight,ean,lithium_ion,attribute.refresh_rate,price,currency,certifications"]
    for number in range(1, rows + 1):
        body = f"200000{number:06d}"
        ean = body + str(
            (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body)) % 10) % 10
        )
        weight = "1.2 kg"
        refresh = "144 Hz"
        if number in bad_rows:
            kind = number % 3
            if kind == 0:
                ean = ean[:-1] + str((int(ean[-1]) + 1) % 10)
            elif kind == 1:
                weight = "1.2 stone"
            else:
                refresh = "144 fps"
        lines.append(
            f"SKU-{number:05d},Product {number},{weight},{ean},no,{refresh},19.99,USD,"
            "FCC:2025-01-01"
        )
    return ("\n".join(lines) + "\n").encode()


def test_a_bulk_import_applies_valid_rows_reports_bad_ones_and_is_idempotent(
    services: Services, topic: Topics
) -> None:
    (pim,) = services("pim")
    events = topic("pim.events.v1")
    bad = set(range(7, 5000, 100))
    assert len(bad) == 50
    upload = catalogue_csv(5000, bad)

    status, result = request(pim, "POST", "/imports", upload, content_type="text/csv")
    assert status == 200, result
    assert (result["applied"], result["unchanged"]) == (4950, 0)
    assert [error["row"] for error in result["errors"]] == sorted(bad)
    by_row = {error["row"]: error for error in result["errors"]}
    assert by_row[207]["field"] == "ean"  # 207 % 3 == 0
    assert "check digit" in by_row[207]["problem"]
    assert by_row[7] == {
        "row": 7,
        "field": "weight",
        "problem": "weight: unknown unit 'stone' in '1.2 stone' (expected g, gram, grams, kg, lb, lbs, oz)",
    }
    assert by_row[107]["field"] == "attributes"
    assert "unknown unit 'fps'" in by_row[107]["problem"]
    print(f"imported 4950 of 5000 rows in {result['seconds']} s")

    # four events per product: registered, specified, certified (FCC), listed in the US feed
    expected = 4950 * 4
    eventually(lambda: len(events.poll()) >= expected, timeout=60, what="the imported events")
    assert len(pim.get("/catalogue/US")["entries"]) == 4950

    status, again = request(pim, "POST", "/imports", upload, content_type="text/csv")
    assert (again["applied"], again["unchanged"], len(again["errors"])) == (0, 4950, 50)
    assert pim.get("/products/SKU-00001")["version"] == 4
    pim.put("/products/PROBE", {"name": "probe", "weight_grams": 1, "lithium_ion": False})
    eventually(lambda: payloads(events, "ProductRegistered", sku="PROBE"), what="the probe")
    assert len(events.poll()) == expected + 2  # the probe's two events, nothing from the re-run


def test_a_parent_excludes_combinations_it_does_not_make_in_the_api_and_the_import(
    services: Services, topic: Topics
) -> None:
    (pim,) = services("pim")
    events = topic("pim.events.v1")
    axes = {"colour": ["black", "gold"], "storage": ["256GB", "512GB"]}
    gold_512 = {"values": {"colour": "gold", "storage": "512GB"}, "reason": "not made"}
    declared = pim.put(
        "/parents/PHONE-G", {"name": "Phone G", "axes": axes, "excluded": [gold_512]}
    )
    assert declared["excluded"] == [gold_512]
    (event,) = eventually(lambda: payloads(events, "ParentProductDeclared"), what="declared")
    assert event["excluded"] == [gold_512]

    variant = {"name": "Phone G", "weight_grams": 190, "lithium_ion": True, "parent": "PHONE-G"}
    status, refused = request(
        pim,
        "PUT",
        "/products/PHONE-G-G512",
        variant | {"axes": {"colour": "gold", "storage": "512GB"}},
    )
    assert (status, refused["error"]["message"]) == (
        422,
        "PHONE-G excludes colour 'gold' + storage '512GB': not made",
    )
    pim.put("/products/PHONE-G-B512", variant | {"axes": {"colour": "black", "storage": "512GB"}})

    upload = (
        b"sku,name,weight,lithium_ion,parent,axis.colour,axis.storage\n"
        b"PHONE-G-G256,Phone G,190 g,yes,PHONE-G,gold,256GB\n"
        b"PHONE-G-G512,Phone G,190 g,yes,PHONE-G,gold,512GB\n"
    )
    status, imported = request(pim, "POST", "/imports", upload, content_type="text/csv")
    assert (status, imported["applied"]) == (200, 1)
    (error,) = imported["errors"]
    assert "PHONE-G excludes colour 'gold' + storage '512GB': not made" in error["problem"]

    # excluding what a variant already is, is refused with the variant named
    black_512 = {"values": {"storage": "512GB", "colour": "black"}, "reason": "dropped"}
    status, refused = request(
        pim, "PUT", "/parents/PHONE-G", {"name": "Phone G", "axes": axes, "excluded": [black_512]}
    )
    assert status == 422
    assert refused["error"]["message"] == (
        "variant PHONE-G-B512: PHONE-G excludes colour 'black' + storage '512GB': dropped"
    )
    assert pim.get("/parents/PHONE-G")["excluded"] == [gold_512]


def test_compatibility_is_answered_both_ways_and_the_feeds_carry_it(
    services: Services, topic: Topics, channel: Channel
) -> None:
    (pim,) = services("pim")
    webshop = SchemaBuiltChannel(channel, topic)  # a connector knowing only the schemas
    product = {"weight_grams": 500, "lithium_ion": False, "certifications": CERTIFIED}
    pim.put("/products/CAMERA-X", product | {"name": "Camera X"})
    pim.put("/products/LENS-50", product | {"name": "Lens 50", "compatible_with": ["CAMERA-X"]})
    pim.put("/products/GRIP-X", product | {"name": "Grip", "compatible_with": ["CAMERA-X"]})

    assert pim.get("/products/CAMERA-X/compatible") == {
        "sku": "CAMERA-X",
        "fits": [],
        "fitted_by": ["GRIP-X", "LENS-50"],
    }
    assert pim.get("/products/LENS-50/compatible") == {
        "sku": "LENS-50",
        "fits": ["CAMERA-X"],
        "fitted_by": [],
    }

    def fed(sku: str, fitted_by: list[str]) -> bool:
        """Every market's entry of `sku`, as the connector last read it, is fitted by these."""
        entries = [webshop.listed(market, sku) for market in ("US", "EU", "UK")]
        return all(entry is not None and entry["fitted_by"] == fitted_by for entry in entries)

    # The camera itself never changed: its entries were published again as products declared
    # they fit it, so the connector learns "what fits this camera?" from the feed alone.
    eventually(lambda: fed("CAMERA-X", ["GRIP-X", "LENS-50"]), what="the camera fitted by both")
    lens = eventually(lambda: webshop.listed("US", "LENS-50"), what="the lens listed")
    assert (lens["compatible_with"], lens["fitted_by"]) == (["CAMERA-X"], [])

    # A change that leaves what fits the camera as it was publishes nothing of the camera's ...
    pim.put("/products/LENS-50", product | {"name": "Lens 50mm", "compatible_with": ["CAMERA-X"]})
    pim.put("/products/GRIP-X", product | {"name": "Grip"})  # ... one that does, publishes it
    assert pim.get("/products/CAMERA-X/compatible")["fitted_by"] == ["LENS-50"]
    eventually(lambda: fed("CAMERA-X", ["LENS-50"]), what="the camera no longer fitted by the grip")
    camera_us = [
        event["payload"]["fitted_by"]
        for event in webshop.catalogue.distinct_events("CatalogueEntryChanged").values()
        if (event["payload"]["sku"], event["payload"]["market"]) == ("CAMERA-X", "US")
    ]
    assert camera_us == [  # once a change of what fits it, each in the order made
        [],
        ["LENS-50"],
        ["GRIP-X", "LENS-50"],
        ["LENS-50"],
    ]
    entries = {entry["sku"]: entry for entry in pim.get("/catalogue/US")["entries"]}
    assert entries["LENS-50"]["compatible_with"] == ["CAMERA-X"]
    assert entries["CAMERA-X"]["fitted_by"] == ["LENS-50"]
    status, unknown = request(pim, "GET", "/products/NOPE/compatible")
    assert status == 404, unknown
