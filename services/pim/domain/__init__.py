"""The pim domain: products and their variants, identifiers, attributes, markets, documents."""

from services.pim.domain.attributes import (
    Attribute,
    Dimensions,
    normalise_attribute,
    normalise_attributes,
    normalise_dimensions,
    normalise_weight,
)
from services.pim.domain.documents import (
    DOCUMENT_KINDS,
    ComplianceDocument,
    DocumentVersion,
    document_id_for,
    parse_moment,
)
from services.pim.domain.errors import FieldError, about
from services.pim.domain.identifiers import (
    check_gtin,
    check_mpn,
    check_sku,
    gtin13,
    gtin_check_digit,
    product_id_for,
)
from services.pim.domain.markets import (
    DEFAULT_MARKET_CERTIFICATIONS,
    DEFAULT_MARKET_RULES,
    Certification,
    MarketRules,
)
from services.pim.domain.parent import ParentProduct, parent_id_for
from services.pim.domain.product import (
    ACTIVE,
    DISCONTINUED,
    END_OF_LIFE,
    Listing,
    Product,
    fitted_by,
)
from services.pim.domain.spec import (
    AXES,
    Asset,
    Axis,
    AxisValue,
    Component,
    ExcludedCombination,
    ProductFacts,
    ProductSpec,
)

__all__ = [
    "ACTIVE",
    "AXES",
    "DEFAULT_MARKET_CERTIFICATIONS",
    "DEFAULT_MARKET_RULES",
    "DISCONTINUED",
    "DOCUMENT_KINDS",
    "END_OF_LIFE",
    "Asset",
    "Attribute",
    "Axis",
    "AxisValue",
    "Certification",
    "ComplianceDocument",
    "Component",
    "Dimensions",
    "DocumentVersion",
    "ExcludedCombination",
    "FieldError",
    "Listing",
    "MarketRules",
    "ParentProduct",
    "Product",
    "ProductFacts",
    "ProductSpec",
    "about",
    "check_gtin",
    "check_mpn",
    "check_sku",
    "document_id_for",
    "fitted_by",
    "gtin13",
    "gtin_check_digit",
    "normalise_attribute",
    "normalise_attributes",
    "normalise_dimensions",
    "normalise_weight",
    "parent_id_for",
    "parse_moment",
    "product_id_for",
]
