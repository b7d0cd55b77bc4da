"""Micro-benchmark of the subscription matcher: µs per change in `match_change`.

    .venv/bin/python bench/matcher.py            # 0, 100, 1,000, 10,000 subscriptions
    .venv/bin/python bench/matcher.py --sizes 0,1000 --changes 500

In process, no store: an `Index` of N subscriptions shaped as in `bench/notify.py`, then
`match_change` on updates of one attribute (`seq`), each of a random entity, every one
of which matches exactly one subscription when N > 0. Two shapes:

* `types`: 10 types; one subscription per (type, block of 10 entities):
  `entities: [{type: T, idPattern: "^urn:ngsi-ld:T:BBBB\\d$"}]`, watching `seq`;
* `one-type`: the same N subscriptions and 10 N entities, all of one type.

Each measure times `--changes` changes; the figure is the median of `--repeat` (5)
measures, in µs per change (what the writer thread spends matching one change).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from cityfabric.ngsild.model import EntityDoc
from cityfabric.ngsild.query import TypeName
from cityfabric.notify.index import Index
from cityfabric.notify.matcher import match_change
from cityfabric.notify.model import Endpoint, EntitySelector, NotificationParams, Subscription

NS = "https://smartdatamodels.org/dataModel/"
TYPES = [
    "Streetlight",
    "AirQualityObserved",
    "WeatherObserved",
    "ParkingSpot",
    "WaterQualityObserved",
    "NoiseLevelObserved",
    "TrafficFlowObserved",
    "Building",
    "Device",
    "WasteContainer",
]
SEQ = NS + "seq"
ZONE = NS + "zone"
NOW = "2026-12-05T14:00:00.000Z"
STAMP = "2026-12-05T13:00:00.000000Z"


def subscription(n: int, type_name: str, block: int) -> Subscription:
    pattern = f"^urn:ngsi-ld:{type_name}:{block:05d}\\d$"
    return Subscription(
        id=f"urn:ngsi-ld:Subscription:{n}",
        notification=NotificationParams(Endpoint(f"http://127.0.0.1:9/n/{n}")),
        context=None,
        created_at=STAMP,
        modified_at=STAMP,
        entities=(EntitySelector(type_name, TypeName(NS + type_name), (), None, pattern),),
        watched_attributes=(SEQ,),
    )


def layout(shape: str, size: int) -> tuple[list[Subscription], list[tuple[str, str]]]:
    """The subscriptions, and the (type, entity id) of the entities they cover."""
    types = TYPES if shape == "types" else TYPES[:1]
    per_type = max(size // len(types), 1)
    subs: list[Subscription] = []
    entities: list[tuple[str, str]] = []
    for t in types:
        for block in range(per_type):
            if len(subs) < size:
                subs.append(subscription(len(subs), t, block))
            entities += [(t, f"urn:ngsi-ld:{t}:{block:05d}{i}") for i in range(10)]
    return subs, entities


def doc(type_name: str, entity_id: str, seq: int) -> EntityDoc:
    return {
        "id": entity_id,
        "type": [NS + type_name],
        "createdAt": STAMP,
        "modifiedAt": STAMP,
        "attrs": {
            SEQ: [{"type": "Property", "value": seq}],
            ZONE: [{"type": "Property", "value": "north"}],
        },
    }


def measure(shape: str, size: int, changes: int, repeat: int, seed: int) -> tuple[float, int]:
    subs, entities = layout(shape, size)
    index = Index()
    for sub in subs:
        index.add(sub)
    rng = random.Random(seed)
    picks = [rng.choice(entities) for _ in range(changes)]
    pairs = [(doc(t, e, 1), doc(t, e, 2)) for t, e in picks]
    matched = sum(len(match_change(index, b, a, NOW)) for b, a in pairs)  # warm-up
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for before, after in pairs:
            match_change(index, before, after, NOW)
        runs.append((time.perf_counter() - start) / changes * 1e6)
    return statistics.median(runs), matched


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="0,100,1000,10000")
    ap.add_argument("--shapes", default="types,one-type")
    ap.add_argument("--changes", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'shape':10} {'subscriptions':>13} {'µs/change':>10} {'matches/change':>15}")
    for shape in args.shapes.split(","):
        for size in sizes:
            us, matched = measure(shape, size, args.changes, args.repeat, args.seed)
            print(f"{shape:10} {size:>13,} {us:>10.1f} {matched / args.changes:>15.2f}")


if __name__ == "__main__":
    main()
