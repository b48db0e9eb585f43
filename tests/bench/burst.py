"""A second client for lull-bench's chat figures: Python's asyncio, standard library only.

Fires N Telegram webhook updates (`/maintenance status` from an admin in N group chats) at once,
then N `GET /healthz` at once, each on a connection of its own, and prints one line per burst:
`telegram p50_ms p99_ms` and `healthz p50_ms p99_ms`. lull-bench runs it beside its own client,
so a difference between the two clients shows in the same run.

    python3 burst.py TELEGRAM_PORT SECRET API_PORT N
"""

import asyncio
import json
import sys
import time


async def exchange(port: int, request: bytes) -> float:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    took = time.perf_counter() - started
    if not answer.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"answered {answer[:60]!r}")
    return took


def update(i: int, secret: str) -> bytes:
    body = json.dumps(
        {
            "update_id": 90000 + i,
            "message": {
                "message_id": 10 + i,
                "date": 1795478400,
                "chat": {"id": -2000000 - i, "type": "group", "title": "ops"},
                "from": {"id": 42, "is_bot": False, "first_name": "Admin"},
                "text": "/maintenance status",
            },
        }
    ).encode()
    head = (
        "POST /telegram/webhook HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"X-Telegram-Bot-Api-Secret-Token: {secret}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


def percentiles(samples: list[float]) -> str:
    samples.sort()
    at = lambda q: samples[round((len(samples) - 1) * q)] * 1000
    return f"{at(0.5):.2f} {at(0.99):.2f}"


async def main() -> None:
    telegram, secret, api, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    updates = [update(i, secret) for i in range(n)]
    took = await asyncio.gather(*(exchange(telegram, u) for u in updates))
    print("telegram", percentiles(list(took)))
    health = b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    took = await asyncio.gather(*(exchange(api, health) for _ in range(n)))
    print("healthz", percentiles(list(took)))


if __name__ == "__main__":
    asyncio.run(main())
