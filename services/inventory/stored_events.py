"""What inventory exports for a replay from its event store: the application class that stored its
events and the translator that makes them the public events on its topic."""

from services.inventory.application import InventoryApplication
from services.inventory.translators import to_contract
from services.runtime.replay.producers import StoredEvents

STORED_EVENTS = StoredEvents("inventory", InventoryApplication, to_contract)
