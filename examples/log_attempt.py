"""Log one exposure attempt and read your trend, with a personal API token.

    export RT_URL=http://127.0.0.1:8000      # where the service runs
    export RT_TOKEN=rt_...                    # from POST /api/v1/me/tokens
    python examples/log_attempt.py --outcome rejected --before 60 --peak 75 --after 30 --expected 80

Without --challenge it logs the easiest challenge you can see. Needs only httpx.
"""

import argparse
import asyncio
import json
import os
import uuid
from typing import Any

import httpx

API = "/api/v1"


async def first_challenge_id(client: httpx.AsyncClient) -> str:
    page = (await client.get(f"{API}/challenges", params={"limit": 1})).raise_for_status().json()
    if not page["items"]:
        raise SystemExit("The catalog is empty: run `rejection-tracker seed` on the server first.")
    return str(page["items"][0]["id"])


async def log_attempt(
    client: httpx.AsyncClient, attempt: dict[str, Any], retries: int = 3, pause_seconds: float = 1.0
) -> dict[str, Any]:
    """POST the attempt, retrying on network errors.

    The client-made `id` and the `Idempotency-Key` make a retry safe: if the first try did
    reach the server, the retry gets the same answer back and nothing is logged twice.
    """
    attempt = {"id": str(uuid.uuid4()), **attempt}
    headers = {"Idempotency-Key": attempt["id"]}
    for tries in range(1, retries + 1):
        try:
            response = await client.post(f"{API}/attempts", json=attempt, headers=headers)
            break
        except httpx.TransportError:
            if tries == retries:
                raise
            await asyncio.sleep(pause_seconds * tries)
    logged: dict[str, Any] = response.raise_for_status().json()
    return logged


async def log_and_review(client: httpx.AsyncClient, attempt: dict[str, Any]) -> dict[str, Any]:
    """Log `attempt` (a challenge from the catalog unless it names one) and read back the log and the trend."""
    if "challenge_id" not in attempt:
        attempt = {**attempt, "challenge_id": await first_challenge_id(client)}
    logged = await log_attempt(client, attempt)
    recent = (await client.get(f"{API}/attempts", params={"limit": 5})).raise_for_status().json()["items"]
    trend = (await client.get(f"{API}/me/trend")).raise_for_status().json()
    return {"logged": logged, "recent": recent, "trend": trend}


def parse_args(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--challenge", help="a challenge id (default: the easiest in the catalog)")
    parser.add_argument("--outcome", choices=["rejected", "accepted", "partial", "avoided"], required=True)
    parser.add_argument("--before", type=int, required=True, help="SUDS 0-100 just before asking")
    parser.add_argument("--peak", type=int, help="SUDS 0-100 at the worst moment (not needed when avoided)")
    parser.add_argument("--after", type=int, help="SUDS 0-100 afterwards")
    parser.add_argument("--expected", type=int, help="0-100: how likely you thought a no was")
    parser.add_argument("--notes")
    args = parser.parse_args(argv)
    fields = {
        "challenge_id": args.challenge,
        "outcome": args.outcome,
        "distress_before": args.before,
        "distress_peak": args.peak,
        "distress_after": args.after,
        "expected_rejection": args.expected,
        "notes": args.notes,
    }
    return {name: value for name, value in fields.items() if value is not None}


async def main(argv: list[str] | None = None) -> None:
    attempt = parse_args(argv)
    token = os.environ.get("RT_TOKEN")
    if not token:
        raise SystemExit("Set RT_TOKEN to a personal API token (POST /api/v1/me/tokens).")
    base_url = os.environ.get("RT_URL", "http://127.0.0.1:8000")
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as client:
        try:
            result = await log_and_review(client, attempt)
        except httpx.HTTPStatusError as exc:
            raise SystemExit(f"{exc.response.status_code}: {exc.response.text}") from None
    logged, trend = result["logged"], result["trend"]
    print(f"Logged {logged['outcome']} at {logged['occurred_at']} (difficulty {logged['difficulty']}).")
    print(f"Your last {len(result['recent'])} attempts: {', '.join(a['outcome'] for a in result['recent'])}")
    print(f"Trend: {trend['status']}; {trend['attempts']} attempts, {trend['exposures']} exposures.")
    print(json.dumps(trend["distress_trend"], indent=2))


if __name__ == "__main__":
    asyncio.run(main())
