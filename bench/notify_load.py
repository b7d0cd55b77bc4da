"""The load generator of bench/notify.py (its own process): batch upserts over HTTP.

    .venv/bin/python bench/notify_load.py paced --url URL --rate 5000 --batch 100 \
        --seconds 20 --seq 1 --out paced.json
    .venv/bin/python bench/notify_load.py flood --url URL --batch 1000 --connections 3 \
        --seconds 10 --seq 1000000 --out flood.json

The entities (`entity_ids`) are the same 10,000 ids the driver created: 100 blocks x 10
per type, over 10 Smart Data Models types (or one type, `--layout one-type`). Each
upsert body is a batch of those entities, in a fixed shuffled order, with two
attributes: `seq` (the batch's sequence number: what a notification carries back) and a
static `zone`.

paced: batch k goes out at t0 + k * batch / rate over `--connections` keep-alive
connections (open loop: a late answer does not delay the next batch unless every
connection is busy); for each batch it records when it was sent and when its 2xx answer
arrived (time.time(), the write acknowledgement). Batches not sent by
t0 + 1.5 x seconds + 5 s (the server fell behind) are skipped, status 0, so a run is
bounded in time. flood: back-to-back batches on every
connection for `--seconds`; counts entities acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

UPSERT = "/ngsi-ld/v1/entityOperations/upsert"
TYPES = (
    "Streetlight",
    "AirQualityObserved",
    "WeatherObserved",
    "ParkingSpot",
    "TrafficFlowObserved",
    "WasteContainer",
    "EVChargingStation",
    "PhotovoltaicMeasurement",
    "NoiseLevelObserved",
    "WaterQualityObserved",
)
BLOCKS = 100  # subscriptions per type; 10 entities per (type, block)
PER_BLOCK = 10
HEADERS = {"Content-Type": "application/json"}


def types_of(layout: str) -> tuple[str, ...]:
    return TYPES if layout == "types" else TYPES[:1]


def entity_ids(layout: str) -> list[tuple[str, str]]:
    """(id, type) of the 10,000 entities: urn:ngsi-ld:{type}:{block:02}{j}[{t}]."""
    out: list[tuple[str, str]] = []
    if layout == "types":
        for t in TYPES:
            for b in range(BLOCKS):
                out += [(f"urn:ngsi-ld:{t}:{b:02}{j}", t) for j in range(PER_BLOCK)]
        return out
    t = TYPES[0]
    for b in range(BLOCKS * len(TYPES)):
        out += [(f"urn:ngsi-ld:{t}:{b:03}{j}", t) for j in range(PER_BLOCK)]
    return out


def order(n: int, seed: int = 7) -> list[int]:
    """The fixed shuffled order in which the entities are updated, round after round."""
    perm = list(range(n))
    random.Random(seed).shuffle(perm)
    return perm


def batch_members(k: int, batch: int, perm: Sequence[int]) -> list[int]:
    """Indexes of the entities in the k-th batch."""
    n = len(perm)
    return [perm[(k * batch + m) % n] for m in range(batch)]


def body(ents: Sequence[tuple[str, str]], members: Sequence[int], seq: int) -> bytes:
    return orjson.dumps(
        [
            {
                "id": ents[i][0],
                "type": ents[i][1],
                "seq": {"type": "Property", "value": seq},
                "zone": {"type": "Property", "value": f"Z{i // PER_BLOCK}"},
            }
            for i in members
        ]
    )


async def paced(args: argparse.Namespace) -> dict[str, Any]:
    ents = entity_ids(args.layout)
    perm = order(len(ents))
    count = int(args.rate * args.seconds / args.batch)
    interval = args.batch / args.rate
    sent = [0.0] * count
    acked = [0.0] * count
    status = [0] * count
    gate = asyncio.Semaphore(args.connections)
    limits = httpx.Limits(max_connections=args.connections, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=args.url, limits=limits, timeout=60) as client:

        async def one(k: int) -> None:
            async with gate:
                if time.perf_counter() > deadline:
                    return  # the server fell too far behind: not sent (status 0)
                data = body(ents, batch_members(k, args.batch, perm), args.seq + k)
                sent[k] = time.time()
                r = await client.post(UPSERT, content=data, headers=HEADERS)
                acked[k] = time.time()
                status[k] = r.status_code

        t0 = time.perf_counter() + 0.05
        deadline = t0 + args.seconds * 1.5 + 5
        tasks = []
        for k in range(count):
            if time.perf_counter() > deadline:
                break
            delay = t0 + k * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(k)))
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - t0
    ok = sum(1 for st in status if 200 <= st < 300)
    return {
        "batches": count,
        "not_sent": sum(1 for st in status if st == 0),
        "batch": args.batch,
        "rate_target": args.rate,
        "seq": args.seq,
        "wall_s": wall,
        "achieved_rate": ok * args.batch / wall,
        "sent": sent,
        "acked": acked,
        "status": status,
    }


async def flood(args: argparse.Namespace) -> dict[str, Any]:
    ents = entity_ids(args.layout)
    perm = order(len(ents), seed=11)
    limits = httpx.Limits(max_connections=args.connections)
    next_k = 0
    done = 0
    errors = 0
    async with httpx.AsyncClient(base_url=args.url, limits=limits, timeout=120) as client:
        t0 = time.perf_counter()
        end = t0 + args.seconds

        async def worker() -> None:
            nonlocal next_k, done, errors
            while time.perf_counter() < end:
                k, next_k = next_k, next_k + 1
                data = body(ents, batch_members(k, args.batch, perm), args.seq + k)
                r = await client.post(UPSERT, content=data, headers=HEADERS)
                if 200 <= r.status_code < 300:
                    done += args.batch
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(args.connections)))
        wall = time.perf_counter() - t0
    return {"entities": done, "wall_s": wall, "rate": done / wall, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("paced", "flood"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--layout", choices=("types", "one-type"), default="types")
    parser.add_argument("--rate", type=float, default=5000.0, help="paced: entities/s")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seq", type=int, default=1, help="seq of the first batch")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = asyncio.run(paced(args) if args.mode == "paced" else flood(args))
    args.out.write_bytes(orjson.dumps(result))


if __name__ == "__main__":
    main()
