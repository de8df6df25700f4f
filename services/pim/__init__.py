"""The pim service: the product system of record.

Identifiers, specs, variants, certifications per market, versioned compliance documents, bundles
and lifecycle.
"""
