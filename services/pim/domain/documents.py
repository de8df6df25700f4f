"""Compliance documents, versioned, each version valid for a period. Pure.

Which version was valid at a moment (say, when an order was placed) stays answerable after newer
versions are published: versions are never changed or removed, and a version's validity ends at its
own end date or when the next version (by start) takes over, whichever is first.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Self

from services.pim.domain.errors import FieldError
from services.pim.domain.identifiers import check_sku
from services.pim.domain.spec import SHA256, URI
from services.runtime.aggregate import Aggregate

DOCUMENT_NAMESPACE = uuid.UUID("9a4f2e71-3b5c-4d8e-a1f6-7c2b0d9e8f13")
DOCUMENT_KINDS = (
    "declaration_of_conformity",
    "rohs",
    "reach",
    "safety_data_sheet",
    "energy_label",
)
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


def document_id_for(sku: str, kind: str) -> uuid.UUID:
    return uuid.uuid5(DOCUMENT_NAMESPACE, f"{sku}:{kind}")


def parse_moment(value: str, field: str) -> datetime:
    """A moment from an ISO date or date-time; a date means its start, a naive time means UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise FieldError(field, f"{field} {value!r} is not an ISO date or date-time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class DocumentVersion:
    """One published version of a document: valid from `valid_from` until `valid_to` (exclusive,
    ISO date-times in UTC) or until a later version starts."""

    version: str
    valid_from: str
    valid_to: str | None
    uri: str
    sha256: str

    def check(self) -> DocumentVersion:
        if not VERSION_PATTERN.match(self.version):
            raise FieldError("version", f"version {self.version!r} is not a version label")
        start = parse_moment(self.valid_from, "valid_from")
        end = parse_moment(self.valid_to, "valid_to") if self.valid_to is not None else None
        if end is not None and end <= start:
            raise FieldError(
                "valid_to", f"version {self.version} ends ({self.valid_to}) before it starts"
            )
        if not URI.match(self.uri):
            raise FieldError("uri", f"uri {self.uri!r} is not an http(s):// or s3:// address")
        if not SHA256.match(self.sha256):
            raise FieldError("sha256", f"sha256 {self.sha256!r} is not 64 lower-case hex digits")
        return DocumentVersion(
            self.version,
            start.astimezone(UTC).isoformat(),
            end.astimezone(UTC).isoformat() if end is not None else None,
            self.uri,
            self.sha256,
        )

    @property
    def start(self) -> datetime:
        return datetime.fromisoformat(self.valid_from)

    @property
    def end(self) -> datetime | None:
        return datetime.fromisoformat(self.valid_to) if self.valid_to is not None else None


class ComplianceDocument(Aggregate):
    """One kind of compliance document (e.g. the declaration of conformity) of one SKU."""

    class FirstVersionPublished(Aggregate.Created):
        sku: str
        kind: str
        document_version: DocumentVersion

        def apply(self, document: ComplianceDocument) -> None:
            document.sku = self.sku
            document.kind = self.kind
            document.versions = (self.document_version,)

    class VersionPublished(Aggregate.Event):
        sku: str
        kind: str
        document_version: DocumentVersion

        def apply(self, document: ComplianceDocument) -> None:
            document.versions = (*document.versions, self.document_version)

    if TYPE_CHECKING:
        sku: str
        kind: str
        versions: tuple[DocumentVersion, ...]

    @classmethod
    def first(cls, sku: str, kind: str, version: DocumentVersion) -> Self:
        """The document's first published version."""
        check_sku(sku)
        if kind not in DOCUMENT_KINDS:
            raise FieldError(
                "kind", f"{kind!r} is not a document kind ({', '.join(DOCUMENT_KINDS)})"
            )
        return cls._create(
            cls.FirstVersionPublished,
            id=document_id_for(sku, kind),
            sku=sku,
            kind=kind,
            document_version=version.check(),
        )

    def publish(self, version: DocumentVersion) -> None:
        """Publish a version; publishing the same version again changes nothing."""
        version = version.check()
        for published in self.versions:
            if published.version == version.version:
                if published == version:
                    return
                raise FieldError(
                    "version",
                    f"{self.kind} version {version.version} of {self.sku} is already published "
                    "with other content; publish a new version",
                )
        self.trigger_event(
            self.VersionPublished, sku=self.sku, kind=self.kind, document_version=version
        )

    def valid_at(self, moment: datetime) -> DocumentVersion | None:
        """The version in force at `moment`: the latest-starting one that had started and had not
        ended; None when no version was in force then."""
        started = [v for v in self.versions if v.start <= moment]
        if not started:
            return None
        current = max(started, key=lambda v: (v.start, self.versions.index(v)))
        end = current.end
        return current if end is None or moment < end else None
