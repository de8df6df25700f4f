"""A channel connector in a few lines: publish one channel order with confluent-kafka (librdkafka).

    python scripts/send_order.py --channel webshop --order-id 1001 --sku LAPTOP-14 --quantity 1

Besides the client's security settings (`confluent_security`: the librdkafka options README's
"Kafka security" lists, from the same variables), it uses no Unitrail code: only the JSON
documented in `contracts/channel.py`.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from confluent_kafka import Producer

from services.runtime.kafka import confluent_security


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--channel", default="webshop")
    parser.add_argument("--order-id", required=True)
    parser.add_argument("--sku", default="LAPTOP-14")
    parser.add_argument("--quantity", type=int, default=1)
    parser.add_argument("--unit-price", default="1199.00")
    parser.add_argument("--unpaid", action="store_true")
    arguments = parser.parse_args()
    message = {
        "channel": arguments.channel,
        "channel_order_id": arguments.order_id,
        "placed_at": datetime.now(UTC).isoformat(),
        "customer": {"customer_id": "C-1", "name": "Ada Lovelace", "email": "ada@example.com"},
        "shipping_address": {
            "name": "Ada Lovelace",
            "line1": "1 Analytical Way",
            "city": "London",
            "postal_code": "N1 9GU",
            "country": "GB",
        },
        "lines": [
            {
                "sku": arguments.sku,
                "quantity": arguments.quantity,
                "unit_price": arguments.unit_price,
            }
        ],
        "currency": "GBP",
        "payment_status": "pending" if arguments.unpaid else "paid",
        "fraud_score": 3,
    }
    producer = Producer(
        {"bootstrap.servers": arguments.bootstrap, "acks": "all"} | confluent_security()
    )
    producer.produce(
        "channel.orders.v1",
        key=f"{arguments.channel}:{arguments.order_id}".encode(),
        value=json.dumps(message).encode(),
    )
    remaining = producer.flush(10)
    if remaining:
        raise SystemExit("the message was not delivered")
    print(f"sent {arguments.channel}:{arguments.order_id}")


if __name__ == "__main__":
    main()
