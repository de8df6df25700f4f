"""What shipping exports for a replay from its event store: the application class that stored its
events and the translator that makes them the public events on its topic."""

from services.runtime.replay.producers import StoredEvents
from services.shipping.application import ShippingApplication
from services.shipping.translators import to_contract

STORED_EVENTS = StoredEvents("shipping", ShippingApplication, to_contract)
