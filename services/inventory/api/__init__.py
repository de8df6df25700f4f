"""HTTP commands and queries on stock, one router per subject; `routers` in the order they are
mounted (the catch-all `GET /stock/{sku}` last)."""

from fastapi import APIRouter

from services.inventory.api import purchase_orders, routing, stock, transfers

routers: list[APIRouter] = [transfers.router, routing.router, stock.router, purchase_orders.router]
