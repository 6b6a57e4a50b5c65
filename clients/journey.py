"""A new user's first session, through the client openapi-python-client generated: `python journey.py BASE_URL`.

Every answer is read as the generated models type it, so a document that declares an answer wrongly
(an error without its Problem schema, an enum under several names) fails here.
"""

import sys
import uuid
from typing import TypeVar

from rejection_tracker_client import AuthenticatedClient, Client
from rejection_tracker_client.api.attempts import attempts_create_attempt
from rejection_tracker_client.api.auth import auth_register, auth_token
from rejection_tracker_client.api.challenges import challenges_list_challenges
from rejection_tracker_client.api.progress import progress_read_trend
from rejection_tracker_client.models import (
    AccessToken,
    AttemptCreate,
    AttemptPublic,
    BodyAuthToken,
    Outcome,
    PageChallengePublic,
    Problem,
    TrendPublic,
    TrendStatus,
    UserCreate,
    UserPublic,
)

PASSWORD = "correct horse battery staple"  # noqa: S105 - a throwaway account on a throwaway server
T = TypeVar("T")


def expect(value: object, kind: type[T]) -> T:
    assert isinstance(value, kind), f"expected {kind.__name__}, got {value!r}"
    return value


def main(base_url: str) -> None:
    email = f"journey-{uuid.uuid4().hex[:12]}@example.com"
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)

    user = expect(auth_register.sync(client=anonymous, body=UserCreate(email=email, password=PASSWORD)), UserPublic)
    assert user.email == email

    # A typed error: the same email again is a 409, read as the generated Problem model.
    taken = expect(auth_register.sync(client=anonymous, body=UserCreate(email=email, password=PASSWORD)), Problem)
    assert (taken.status, taken.type_) == (409, "urn:rejection-tracker:problem:conflict"), taken

    signed_in = auth_token.sync(client=anonymous, body=BodyAuthToken(username=email, password=PASSWORD))
    token = expect(signed_in, AccessToken)
    client = AuthenticatedClient(base_url=base_url, token=token.access_token, raise_on_unexpected_status=True)

    page = expect(challenges_list_challenges.sync(client=client, limit=1), PageChallengePublic)
    challenge = page.items[0]

    attempt = AttemptCreate(challenge_id=challenge.id, outcome=Outcome.REJECTED, distress_before=55, distress_peak=70)
    key = f"journey-{uuid.uuid4()}"
    first = attempts_create_attempt.sync_detailed(client=client, body=attempt, idempotency_key=key)
    # The phone lost the answer and sends the same request again: the first result, nothing new stored.
    retry = attempts_create_attempt.sync_detailed(client=client, body=attempt, idempotency_key=key)
    logged, replayed = expect(first.parsed, AttemptPublic), expect(retry.parsed, AttemptPublic)
    assert first.status_code == retry.status_code == 201
    assert replayed.id == logged.id
    assert "idempotent-replayed" not in first.headers
    assert retry.headers["idempotent-replayed"] == "true"
    assert first.headers["location"].endswith(f"/api/v1/attempts/{logged.id}")

    # A typed validation error: a distress rating above 100 is a 422 naming the field.
    invalid = AttemptCreate(challenge_id=challenge.id, outcome=Outcome.ACCEPTED, distress_before=120, distress_peak=10)
    refused = expect(attempts_create_attempt.sync(client=client, body=invalid), Problem)
    assert refused.status == 422
    assert refused.errors, refused
    assert refused.errors[0].loc == ["body", "distress_before"], refused

    trend = expect(progress_read_trend.sync(client=client), TrendPublic)
    assert trend.attempts == 1
    assert trend.rejections == 1
    assert trend.status == TrendStatus.INSUFFICIENT_DATA
    print(f"python journey: {email} logged attempt {logged.id}, trend {trend.status.value}")


if __name__ == "__main__":
    main(sys.argv[1])
