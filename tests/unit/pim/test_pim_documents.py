"""Compliance documents: versions with validity periods; the version valid at a moment."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.pim import ComplianceDocumentVersionPublished
from services.pim.domain import ComplianceDocument, DocumentVersion, FieldError, parse_moment
from services.pim.translators import to_contract

SHA = "0" * 64


def version(label: str, start: str, end: str | None = None) -> DocumentVersion:
    return DocumentVersion(label, start, end, f"https://docs.example/doc-{label}.pdf", SHA)


def at(text: str) -> datetime:
    return parse_moment(text, "at")


def label(document: ComplianceDocument, moment: str) -> str | None:
    found = document.valid_at(at(moment))
    return found.version if found else None


def test_the_version_valid_at_a_moment_stays_answerable_after_newer_ones() -> None:
    doc = ComplianceDocument.first(
        "LAPTOP-14", "declaration_of_conformity", version("1", "2025-01-01")
    )
    assert label(doc, "2025-06-01T12:00:00Z") == "1"
    doc.publish(version("2", "2026-01-01"))
    assert label(doc, "2025-06-01T12:00:00Z") == "1"  # an order placed then: version 1
    assert label(doc, "2025-12-31T23:59:59+00:00") == "1"
    assert label(doc, "2026-01-01") == "2"
    assert label(doc, "2024-12-31") is None  # before any version


def test_a_version_with_an_end_leaves_a_gap_until_the_next() -> None:
    doc = ComplianceDocument.first(
        "TV-55", "energy_label", version("2024", "2024-01-01", "2025-01-01")
    )
    doc.publish(version("2026", "2026-01-01"))
    assert label(doc, "2024-12-31T23:00:00Z") == "2024"
    assert label(doc, "2025-06-01") is None
    assert label(doc, "2026-02-01") == "2026"


def test_moments_respect_time_zones() -> None:
    doc = ComplianceDocument.first("TV-55", "rohs", version("1", "2025-01-01T00:00:00+01:00"))
    # 2024-12-31T23:30 UTC is already 2025-01-01T00:30 in +01:00
    assert label(doc, "2024-12-31T23:30:00Z") == "1"
    assert doc.versions[0].valid_from == "2024-12-31T23:00:00+00:00"


def test_publishing_rules() -> None:
    doc = ComplianceDocument.first("TV-55", "reach", version("1", "2025-01-01"))
    doc.collect_events()
    doc.publish(version("1", "2025-01-01"))  # the same again: nothing
    assert doc.collect_events() == []
    with pytest.raises(FieldError, match="already published with other content"):
        doc.publish(version("1", "2025-02-01"))
    with pytest.raises(FieldError, match="before it starts"):
        doc.publish(version("2", "2025-02-01", "2025-01-01"))
    with pytest.raises(FieldError, match="64 lower-case hex"):
        doc.publish(DocumentVersion("3", "2025-03-01", None, "https://x/y", "zz"))
    with pytest.raises(FieldError, match="not a document kind"):
        ComplianceDocument.first("TV-55", "manual", version("1", "2025-01-01"))
    with pytest.raises(FieldError, match="not an ISO date"):
        parse_moment("yesterday", "at")


def test_document_events_translate() -> None:
    doc = ComplianceDocument.first("TV-55", "safety_data_sheet", version("1", "2025-01-01"))
    doc.publish(version("2", "2026-01-01", "2027-01-01"))
    translated = [to_contract(event) for event in doc.collect_events()]
    published = [p for p in translated if isinstance(p, ComplianceDocumentVersionPublished)]
    assert len(published) == len(translated) == 2
    assert [p.version for p in published] == ["1", "2"]
    assert published[1].valid_to == datetime(2027, 1, 1, tzinfo=UTC)
