"""Every producer's `StoredEvents`: what a replay from the stores reads and how it translates it.

The one module that names other services' modules for anything but their contracts: a replay from
the stores runs each producer's own decoding and translation, as its relay does. The import
contracts in pyproject.toml allow exactly these imports (and nothing imports a service's module
by name), so a new dependency between services shows up there, not at run time.
"""

from collections.abc import Mapping

from services.inventory.stored_events import STORED_EVENTS as INVENTORY
from services.order.stored_events import STORED_EVENTS as ORDER
from services.pim.stored_events import STORED_EVENTS as PIM
from services.returns.stored_events import STORED_EVENTS as RETURNS
from services.runtime.replay.producers import StoredEvents
from services.shipping.stored_events import STORED_EVENTS as SHIPPING
from services.warehouse_adapter.stored_events import STORED_EVENTS as WAREHOUSE_ADAPTER

PRODUCERS: Mapping[str, StoredEvents] = {
    declared.service: declared
    for declared in (PIM, INVENTORY, ORDER, RETURNS, SHIPPING, WAREHOUSE_ADAPTER)
}
"""Every service that publishes events, by name."""
