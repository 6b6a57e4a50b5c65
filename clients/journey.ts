// The same first session as journey.py, through openapi-fetch and the types openapi-typescript generated.
// It is type-checked only (`tsc --strict --noEmit`): every answer must narrow to its declared type.
import createClient from "openapi-fetch";
import type { components, paths } from "./build/api";

type Problem = components["schemas"]["Problem"];
type Outcome = components["schemas"]["Outcome"];

function explain(problem: Problem): string {
  const fields = (problem.errors ?? []).map((issue) => `${issue.loc.join(".")}: ${issue.msg}`);
  return [`${problem.status} ${problem.title}: ${problem.detail}`, ...fields].join("\n");
}

export async function journey(baseUrl: string): Promise<string> {
  const api = createClient<paths>({ baseUrl });
  const email = `journey-${crypto.randomUUID()}@example.com`;
  const password = "correct horse battery staple";

  const registered = await api.POST("/api/v1/auth/register", { body: { email, password } });
  if (registered.error) throw new Error(explain(registered.error));
  const user: components["schemas"]["UserPublic"] = registered.data;

  const taken = await api.POST("/api/v1/auth/register", { body: { email, password } });
  if (!taken.error || taken.error.status !== 409) throw new Error("the same email twice must be a 409");

  const signedIn = await api.POST("/api/v1/auth/token", {
    body: { grant_type: "password", username: email, password },
    bodySerializer: (form) => new URLSearchParams(form as Record<string, string>),
  });
  if (signedIn.error) {
    const wait = signedIn.response.headers.get("Retry-After");
    throw new Error(wait ? `rate limited, retry in ${wait} s` : explain(signedIn.error));
  }
  const auth = { Authorization: `Bearer ${signedIn.data.access_token}` };

  const listed = await api.GET("/api/v1/challenges", { params: { query: { limit: 1 } }, headers: auth });
  if (listed.error) throw new Error(explain(listed.error));
  const challenge = listed.data.items[0];

  const outcome: Outcome = "rejected";
  const attempt = { challenge_id: challenge.id, outcome, distress_before: 55, distress_peak: 70 };
  const key = `journey-${crypto.randomUUID()}`;
  const headers = { ...auth, "Idempotency-Key": key };
  const first = await api.POST("/api/v1/attempts", { body: attempt, headers });
  const retry = await api.POST("/api/v1/attempts", { body: attempt, headers });
  if (first.error) throw new Error(explain(first.error));
  if (retry.error) throw new Error(explain(retry.error));
  if (retry.data.id !== first.data.id || retry.response.headers.get("Idempotent-Replayed") !== "true") {
    throw new Error("a retry with the same Idempotency-Key must answer the first attempt");
  }

  const invalid = await api.POST("/api/v1/attempts", {
    body: { ...attempt, distress_before: 120 },
    headers: auth,
  });
  if (!invalid.error || invalid.error.status !== 422) throw new Error("distress above 100 must be a 422");
  const field: (string | number)[] | undefined = invalid.error.errors?.[0]?.loc;

  const trend = await api.GET("/api/v1/me/trend", { headers: auth });
  if (trend.error) throw new Error(explain(trend.error));
  const status: components["schemas"]["TrendStatus"] = trend.data.status;
  const support: string | null = trend.data.support?.message ?? null;
  return `${user.email}: attempt ${first.data.id}, ${field?.join(".")} refused, trend ${status}, ${support}`;
}
