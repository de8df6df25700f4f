"""The warehouse_adapter service: the bridge to 3PL warehouses.

Allocations out; picks, serial pack scans, shipment confirmations and receipts back.
"""
