"""What warehouse_adapter exports for a replay from its event store: the application class that stored its
events and the translator that makes them the public events on its topic."""

from services.runtime.replay.producers import StoredEvents
from services.warehouse_adapter.application import WarehouseAdapterApplication
from services.warehouse_adapter.translators import to_contract

STORED_EVENTS = StoredEvents("warehouse_adapter", WarehouseAdapterApplication, to_contract)
