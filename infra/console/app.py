"""The console's pages: orders, stock, recall, returns and the system, each read from the
services' APIs at request time, the calls of one page made at once.

Every page is plain HTML from Jinja2 templates (`templates/`), with forms for the few actions
(release a hold, redrive a dead letter); no script is needed. An action answers with a redirect
to the page it came from, with what happened in a banner (`?said=`), so a reload repeats
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from contracts.channel import order_id_for
from infra.cli.dead_letters import CONSUMING_SERVICES, describe_redrive
from infra.cli.output import duration
from infra.cli.status import service_status
from infra.cli.traceability import RECALL_TABLE, recall_csv
from infra.console.apis import REDRIVE_TIMEOUT_SECONDS, Apis, ServiceAnswer, roles_of
from services.runtime.auth import Role

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
TEMPLATES.env.filters["duration"] = duration
TEMPLATES.env.filters["moment"] = lambda text: (text or "")[:19].replace("T", " ")
TEMPLATES.env.filters["segment"] = lambda text: urllib.parse.quote(str(text), safe="")
"""A value as one path segment (Jinja's `urlencode` leaves `/` as it is)."""

ORDER_STATES = (
    "placed",
    "paid",
    "allocated",
    "partly-backordered",
    "backordered",
    "released-to-warehouse",
    "partly-shipped",
    "shipped",
    "delivered",
    "cancelled",
)
"""The order statuses in the order an order goes through them (as the order service names them)."""

PAGE_LIMIT = 100
Text = Annotated[str | None, Query(max_length=200)]


def build_console(apis: Apis | None = None) -> FastAPI:
    """The console as an ASGI app, calling the services through `apis`."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.apis = apis or Apis()
        try:
            yield
        finally:
            await app.state.apis.close()

    app = FastAPI(title="Unitrail console", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.middleware("http")
    async def same_origin_actions(request: Request, call_next: Callable[..., Any]) -> Response:
        # An action is a form of the console's own pages: a page of another site must not make
        # a browser post one (the console acts with its own token).
        if request.method == "POST":
            origin = request.headers.get("origin")
            if origin and urllib.parse.urlsplit(origin).netloc != request.url.netloc:
                return HTMLResponse("actions come from the console's own pages", status_code=403)
        response: Response = await call_next(request)
        return response

    @app.exception_handler(ServiceAnswer)
    async def refused(request: Request, error: ServiceAnswer) -> Response:
        return page(
            request,
            "error.html",
            {"error": error},
            status_code=error.status if error.status in (401, 403, 404, 409, 422) else 502,
        )

    register_pages(app)
    return app


def page(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    context = {"said": request.query_params.get("said"), "roles": roles(request)} | context
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)


def token(request: Request) -> str:
    """The token the console calls the services with: the one a proxy in front of it forwards
    for the signed-in person (so the services record who acted), else the console's own."""
    forwarded = request.headers.get("authorization", "")
    if forwarded.lower().startswith("bearer "):
        return forwarded[7:].strip()
    apis: Apis = request.app.state.apis
    return apis.token.current()


def roles(request: Request) -> frozenset[str]:
    """What the caller's token may do, to show only the buttons it can use."""
    held = roles_of(token(request))
    return frozenset(Role) if Role.ADMIN in held else held


class Calls:
    """The service calls of one request, with its token."""

    def __init__(self, request: Request) -> None:
        self.apis: Apis = request.app.state.apis
        self.token = token(request)

    async def get(self, service: str, path: str, **params: str | None) -> Any:
        chosen = {name: value for name, value in params.items() if value}
        return await self.apis.call(service, "GET", path, token=self.token, params=chosen)

    async def post(
        self, service: str, path: str, body: dict[str, Any], *, wait_seconds: float = 10.0
    ) -> Any:
        return await self.apis.call(
            service, "POST", path, token=self.token, body=body, wait_seconds=wait_seconds
        )


async def optional(answer: Awaitable[Any], default: Any) -> Any:
    """An answer a page can do without (it shows the rest): `default` when it is refused."""
    try:
        return await answer
    except ServiceAnswer:
        return default


async def form_of(request: Request) -> dict[str, str]:
    """A submitted form's fields (`application/x-www-form-urlencoded`), each its first value."""
    fields = urllib.parse.parse_qs((await request.body()).decode(), keep_blank_values=True)
    return {name: values[0].strip() for name, values in fields.items()}


def redirect(path: str, said: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urllib.parse.urlencode({'said': said})}", status_code=303)


def quoted(text: str) -> str:
    return urllib.parse.quote(text, safe="")


@dataclass
class RecallQuery:
    """What a recall asks for: a batch, or a serial range (both ends), maybe of one SKU."""

    batch: Text = None
    serial_from: Text = None
    serial_to: Text = None
    sku: Text = None

    @property
    def chosen(self) -> dict[str, str]:
        return {name: value for name, value in vars(self).items() if value}

    def problem(self) -> str | None:
        """What is wrong with the question, in words (None: nothing)."""
        first, last = self.serial_from, self.serial_to
        if self.chosen and not self.batch and not (first and last):
            return "give a batch, or both ends of a serial range"
        if first and last and first > last:
            return f"{first} comes after {last}: nothing is in that range"
        return None

    async def units(self, calls: Calls) -> dict[str, Any]:
        """Traceability's answer: every unit asked for, with its holder."""
        answer: dict[str, Any] = await calls.get("traceability", "/recall", **self.chosen)
        return answer


Recall = Annotated[RecallQuery, Depends()]


def letters_left(health: dict[str, Any]) -> int | None:
    """Dead and parked letters a service's `/health` counts (None: it does not say)."""
    consumer = health.get("consumer") or {}
    dead, parked = consumer.get("dead_letters"), consumer.get("parked")
    return None if dead is None or parked is None else int(dead) + int(parked)


def register_pages(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/orders", status_code=303)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        """The console answers (whether the services do is on the system page)."""
        return {"service": "console", "status": "ok"}

    # -- orders -------------------------------------------------------------------------------

    @app.get("/orders", response_class=HTMLResponse)
    async def orders(request: Request) -> HTMLResponse:
        calls = Calls(request)
        states, stuck, held = await asyncio.gather(
            calls.get("order", "/orders/states"),
            calls.get("order", "/orders/stuck", limit=str(PAGE_LIMIT)),
            calls.get("order", "/orders/held", limit=str(PAGE_LIMIT)),
        )
        return page(
            request,
            "orders.html",
            {
                "states": states,
                "order_states": ORDER_STATES,
                "stuck": stuck["orders"],
                "held": held["orders"],
            },
        )

    @app.get("/orders/find", include_in_schema=False)
    async def find_order(channel: Text = None, channel_order_id: Text = None) -> Response:
        reference = (channel_order_id or "").strip()
        try:
            return RedirectResponse(f"/orders/id/{uuid.UUID(reference)}", status_code=303)
        except ValueError:
            pass
        if ":" in reference and not channel:
            channel, _, reference = reference.partition(":")
        if not channel or not reference:
            return redirect("/orders", "give the channel and its order id, e.g. webshop and 1001")
        return RedirectResponse(
            f"/orders/by-channel/{quoted(channel.strip())}/{quoted(reference)}", status_code=303
        )

    @app.get("/orders/state/{state}", response_class=HTMLResponse)
    async def orders_in_state(request: Request, state: str) -> HTMLResponse:
        listed = await Calls(request).get(
            "order", f"/orders/in-state/{quoted(state)}", limit=str(PAGE_LIMIT)
        )
        return page(request, "orders_in_state.html", {"state": state, "orders": listed["orders"]})

    async def order_page(request: Request, order_id: uuid.UUID, path: str) -> HTMLResponse:
        calls = Calls(request)
        order, rmas = await asyncio.gather(
            calls.get("order", path),
            optional(calls.get("returns", "/rmas", order_id=str(order_id)), []),
        )
        return page(request, "order.html", {"order": order, "rmas": rmas})

    @app.get("/orders/id/{order_id}", response_class=HTMLResponse)
    async def order_by_id(request: Request, order_id: uuid.UUID) -> HTMLResponse:
        return await order_page(request, order_id, f"/orders/{order_id}")

    @app.get("/orders/by-channel/{channel}/{channel_order_id}", response_class=HTMLResponse)
    async def order_by_channel(
        request: Request, channel: str, channel_order_id: str
    ) -> HTMLResponse:
        path = f"/orders/by-channel/{quoted(channel)}/{quoted(channel_order_id)}"
        return await order_page(request, order_id_for(channel, channel_order_id), path)

    @app.post("/orders/id/{order_id}/release", include_in_schema=False)
    async def release_hold(request: Request, order_id: uuid.UUID) -> RedirectResponse:
        form = await form_of(request)
        body: dict[str, Any] = {"note": form.get("note", "")}
        if form.get("on_behalf_of"):
            body["on_behalf_of"] = form["on_behalf_of"]
        order = await Calls(request).post("order", f"/orders/{order_id}/release-hold", body)
        back = f"/orders/by-channel/{quoted(order['channel'])}/{quoted(order['channel_order_id'])}"
        return redirect(back, f"hold released: the order is {order['status']}")

    # -- stock --------------------------------------------------------------------------------

    @app.get("/stock", response_class=HTMLResponse)
    async def stock(request: Request, sku: Text = None) -> Response:
        if sku:
            return RedirectResponse(f"/stock/{quoted(sku.strip())}", status_code=303)
        known = await Calls(request).get("inventory", "/stock")
        return page(request, "stock.html", {"skus": known["skus"]})

    @app.get("/stock/{sku}", response_class=HTMLResponse)
    async def stock_of(request: Request, sku: str) -> HTMLResponse:
        calls = Calls(request)
        levels = await calls.get("inventory", f"/stock/{quoted(sku)}")
        orders = await asyncio.gather(
            *(
                optional(
                    calls.get("inventory", f"/purchase-orders/{quoted(line['purchase_order_id'])}"),
                    None,
                )
                for line in levels["inbound_purchase_orders"][:PAGE_LIMIT]
            )
        )
        purchase_orders = {
            order["purchase_order_id"]: order for order in orders if order is not None
        }
        return page(
            request,
            "sku.html",
            {"sku": sku, "levels": levels, "purchase_orders": purchase_orders},
        )

    # -- recall -------------------------------------------------------------------------------

    @app.get("/recall", response_class=HTMLResponse)
    async def recall(request: Request, asked: Recall) -> HTMLResponse:
        problem = asked.problem()
        answer = await asked.units(Calls(request)) if asked.chosen and problem is None else None
        rows = [
            [str(cell(unit)) for _, cell in RECALL_TABLE]
            for unit in (answer or {}).get("units", [])
        ]
        return page(
            request,
            "recall.html",
            {
                "asked": asked,
                "problem": problem,
                "answer": answer,
                "header": [name for name, _ in RECALL_TABLE],
                "rows": rows,
                "csv_query": urllib.parse.urlencode(asked.chosen),
            },
        )

    @app.get("/recall.csv")
    async def recall_download(request: Request, asked: Recall) -> Response:
        answer = await asked.units(Calls(request))
        name = asked.batch or f"{asked.serial_from}..{asked.serial_to}"
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return Response(
            recall_csv(answer) + "\n",
            media_type="text/csv",
            headers={"content-disposition": f'attachment; filename="recall-{safe}.csv"'},
        )

    # -- returns ------------------------------------------------------------------------------

    @app.get("/returns", response_class=HTMLResponse)
    async def returns(request: Request) -> HTMLResponse:
        waiting = await Calls(request).get("returns", "/rmas/waiting")
        groups: dict[str, list[dict[str, Any]]] = {"inspection": [], "review": [], "sign-off": []}
        for rma in waiting:
            groups.setdefault(rma["waiting_for"], []).append(rma)
        return page(request, "returns.html", {"groups": groups})

    # -- system -------------------------------------------------------------------------------

    @app.get("/system", response_class=HTMLResponse)
    async def system(request: Request) -> HTMLResponse:
        calls = Calls(request)
        apis: Apis = request.app.state.apis
        health = await apis.every_health()
        # Each service's health counts its dead and parked letters: only those with some (or
        # that cannot say) are asked for the list.
        listed = [
            service for service in CONSUMING_SERVICES if letters_left(health[service][1]) != 0
        ]
        letters = await asyncio.gather(
            *(optional(calls.get(service, "/dead-letters"), None) for service in listed)
        )
        statuses = {
            service: service_status(state, answer) for service, (state, answer) in health.items()
        }
        return page(
            request,
            "system.html",
            {"statuses": statuses, "letters": dict(zip(listed, letters, strict=True))},
        )

    @app.post("/system/dead-letters/{service}/{letter}/redrive", include_in_schema=False)
    async def redrive(request: Request, service: str, letter: int) -> RedirectResponse:
        if service not in CONSUMING_SERVICES:
            raise ServiceAnswer(service, 404, f"{service} consumes nothing: it has no dead letters")
        form = await form_of(request)
        body = {"on_behalf_of": form["on_behalf_of"]} if form.get("on_behalf_of") else {}
        answer = await Calls(request).post(
            service,
            f"/dead-letters/{letter}/redrive",
            body,
            wait_seconds=REDRIVE_TIMEOUT_SECONDS,
        )
        said = "; ".join(line.strip() for line in describe_redrive(service, answer).splitlines())
        return redirect("/system", said)
