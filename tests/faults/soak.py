"""`scripts/soak --minutes M`: the demo's flow of orders through the whole system for M minutes,
with faults drawn at random from the fault matrix, then a count of what became of every order.

It starts its own system (`python -m infra.stack` in a temporary directory, on free loopback
ports, simulated partners without delays), so it runs beside anything else. Orders come in through
the order service's durable HTTP intake (202 once stored), as the README recommends on the embedded
broker. Faults come at random moments (seeded: `--seed` makes a run repeatable), at most
`--max-faults` of them, the next only once the system has recovered from the last. At the end no
more orders are sent; every accepted order must reach its end state, once. It prints orders
accepted / delivered / lost / duplicated, and exits 1 on any loss, duplicate, order stuck or
broken invariant.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from contracts.topics import SERVICES
from tests.faults.flow import Flow, Ledger, prepare, register_catalogue, send_poison
from tests.faults.invariants import check, kill_the_broker_with_nothing_of_the_partners_in_flight
from tests.faults.system import SIMULATORS, System, is_alive, note
from tests.integration.harness import eventually

Fault = Callable[[System, Ledger, random.Random], str]


def kill_a_service(system: System, _: Ledger, rng: random.Random) -> str:
    service = rng.choice([*SERVICES, SIMULATORS])
    dead = system.kill(service)
    system.wait_until_replaced(service, dead)
    return f"kill -9 {service}"


def grow_and_shrink_a_group(system: System, _: Ledger, rng: random.Random) -> str:
    service = rng.choice(("inventory", "order", "warehouse_adapter", "shipping"))
    (extra,) = system.add_processes(service)
    time.sleep(rng.uniform(2, 10))
    system.remove_process(extra)
    return f"a second {service} process joined and left"


def poison_every_inbound_topic(system: System, ledger: Ledger, rng: random.Random) -> str:
    send_poison(system, ledger, f"P{rng.randrange(10**6)}")
    return "poison on every inbound topic"


def kill_the_broker(system: System, _: Ledger, rng: random.Random) -> str:
    kill_the_broker_with_nothing_of_the_partners_in_flight(system)
    return "kill -9 of the broker (it comes back empty)"


def kill_postgres(system: System, _: Ledger, rng: random.Random) -> str:
    dead = system.kill_postgres()
    eventually(
        lambda: (pid := system.postgres_pid()) not in (None, dead) and is_alive(pid),
        timeout=120,
        what="Postgres to be started again",
    )
    system.wait_until_healthy()
    return "kill -9 of Postgres"


def hang_the_3pl(system: System, _: Ledger, rng: random.Random) -> str:
    seconds = rng.uniform(5, 30)
    hung = system.freeze(SIMULATORS)
    time.sleep(seconds)
    system.thaw(hung)
    return f"the 3PL and carriers hung for {seconds:.0f} s"


def crash_at_a_crash_point(system: System, _: Ledger, rng: random.Random) -> str:
    service = rng.choice(("order", "inventory", "warehouse_adapter", "shipping"))
    point = rng.choice(("consumer.after-commit", "relay.after-publish"))
    system.crash_once_at(service, point, passes=2)
    return f"{service} crashed at {point}"


def ctrl_c_and_run_again(system: System, _: Ledger, rng: random.Random) -> str:
    status = system.interrupt()
    assert status == 0, f"the launcher exited with {status} on Ctrl-C:\n{system.log()[-3000:]}"
    system.start()
    return "Ctrl-C, then scripts/run again"


FAULTS: dict[str, Fault] = {
    "kill": kill_a_service,
    "rebalance": grow_and_shrink_a_group,
    "poison": poison_every_inbound_topic,
    "broker": kill_the_broker,
    "postgres": kill_postgres,
    "hang": hang_the_3pl,
    "crash": crash_at_a_crash_point,
    "restart": ctrl_c_and_run_again,
}
"""The faults a soak draws from, by name (`--faults` chooses among them)."""


def soak(
    root: Path, *, minutes: float, seed: int, rate: float, max_faults: int, faults: list[str]
) -> int:
    rng = random.Random(seed)
    ledger = Ledger()
    system = System(root)
    injected: Counter[str] = Counter()
    failed: list[str] = []
    try:
        system.start()
        register_catalogue(system)
        deadline = time.monotonic() + minutes * 60
        round_number = 0
        while time.monotonic() < deadline:
            round_number += 1
            run = f"S{seed}R{round_number}"
            orders = prepare(system, ledger, run, count=20, seed=rng.randrange(10**9))
            # The durable intake: what the README recommends on the embedded broker, which loses
            # what it holds when it dies or the system stops.
            with Flow(system, ledger, orders, rate=rate, via="http") as flow:
                while flow.sending() and time.monotonic() < deadline:
                    time.sleep(rng.uniform(3, 15))
                    if sum(injected.values()) >= max_faults or not flow.sending():
                        continue
                    name = rng.choice(faults)
                    injected[name] += 1
                    try:
                        note(f"fault: {FAULTS[name](system, ledger, rng)}")
                    except Exception as error:  # the system did not recover: say so, go on
                        note(f"fault {name} went wrong: {error!r}")
                        failed.append(f"fault {name}: {error!r}"[:500])
                        system.wait_until_healthy(timeout=300)
        note("no more orders; waiting for every accepted order to settle")
        verdict = check(system, ledger, timeout=300)
    finally:
        system.stop()
    print(f"soak of {minutes:g} min, seed {seed}: faults {dict(injected)}")
    print(f"orders accepted {verdict.accepted}")
    print(f"orders delivered {verdict.delivered}")
    print(f"orders lost {len(verdict.lost)}")
    print(f"orders duplicated {len(verdict.duplicated)}")
    print(f"orders stuck {len(verdict.stuck)}")
    print(f"other violations {len(verdict.violations)}")
    print(f"faults the system did not recover from {len(failed)}")
    for problem in [*verdict.problems, *failed]:
        print(f"  {problem}")
    return 1 if verdict.problems or failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/soak", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--minutes", type=float, default=5, help="how long orders flow (5)")
    parser.add_argument("--seed", type=int, default=1, help="makes the faults repeatable (1)")
    parser.add_argument("--rate", type=float, default=0.5, help="orders per second (0.5)")
    parser.add_argument(
        "--max-faults", type=int, default=None, help="at most this many faults (4 a minute)"
    )
    parser.add_argument(
        "--faults",
        default=",".join(FAULTS),
        help=f"which faults to draw from, comma separated (default: {','.join(FAULTS)})",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (logs) afterwards"
    )
    arguments = parser.parse_args(argv)
    chosen = [name.strip() for name in arguments.faults.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(FAULTS))
    if unknown or not chosen:
        parser.error(f"unknown faults {unknown}; choose among {', '.join(FAULTS)}")
    if arguments.minutes <= 0 or arguments.rate <= 0:
        parser.error("--minutes and --rate must be above 0")
    root = Path(tempfile.mkdtemp(prefix="unitrail-soak-"))
    note(f"soak in {root}")
    try:
        return soak(
            root,
            minutes=arguments.minutes,
            seed=arguments.seed,
            rate=arguments.rate,
            max_faults=arguments.max_faults or int(arguments.minutes * 4) + 1,
            faults=chosen,
        )
    finally:
        if not arguments.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
