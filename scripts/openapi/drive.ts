// Drives a running coffee-api through openapi-fetch, typed by the types
// openapi-typescript generated from its /openapi.json (schema.d.ts, made by
// scripts/openapi-check.sh next to this file): sign up, verify with the code
// from the mail, log in (JSON and the OAuth2 form), read /me, an admin write.
// Compiled with `tsc --strict`, so a request or response that does not fit
// the document fails before it runs.
//
// Usage: node out/drive.js BASE_URL SERVER_LOG ADMIN_EMAIL ADMIN_PASSWORD

import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type User = components["schemas"]["UserDto"];

function arg(index: number): string {
  const value = process.argv[2 + index];
  if (!value) {
    throw new Error("usage: drive.js BASE_URL SERVER_LOG ADMIN_EMAIL ADMIN_PASSWORD");
  }
  return value;
}
const [baseUrl, serverLog, adminEmail, adminPassword] = [arg(0), arg(1), arg(2), arg(3)];

function fail(message: string): never {
  console.error(`drive_typescript: FAILED: ${message}`);
  process.exit(1);
}

/** The body of a response that must have `status`. */
function expect<T>(result: { data?: T; error?: unknown; response: Response }, status: number): T {
  if (result.response.status !== status || result.data === undefined) {
    fail(`expected ${status}, got ${result.response.status}: ${JSON.stringify(result.error ?? result.data)}`);
  }
  return result.data;
}

/** The code of the verification mail the embedded profile logs. */
async function verificationCode(email: string): Promise<string> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    for (const line of readFileSync(serverLog, "utf8").split("\n")) {
      let event: { to?: string; message?: string };
      try {
        event = JSON.parse(line) as { to?: string; message?: string };
      } catch {
        continue;
      }
      const found = event.to === email ? /enter this code:\s*(\d{6})/.exec(event.message ?? "") : null;
      if (found?.[1]) {
        return found[1];
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  fail(`no verification mail to ${email} in ${serverLog}`);
}

const client = createClient<paths>({ baseUrl });
const email = `ts-${randomUUID().slice(0, 12)}@example.com`;
const password = "correct horse battery";

// Sign up: `verified_at` is null until the address is verified.
const created: User = expect(await client.POST("/auth/signup", { body: { email, password } }), 201);
if (created.email !== email || created.is_verified || created.verified_at !== null) {
  fail(`unexpected new user ${JSON.stringify(created)}`);
}
console.log(`drive_typescript: signed up ${email}`);

const code = await verificationCode(email);
const verified: User = expect(await client.POST("/auth/verify", { body: { email, code } }), 200);
if (!verified.is_verified || !verified.verified_at) {
  fail(`not verified: ${JSON.stringify(verified)}`);
}
console.log(`drive_typescript: verified with code ${code}`);

const tokens = expect(await client.POST("/auth/login", { body: { email, password } }), 200);
const formTokens = expect(
  await client.POST("/auth/login", {
    body: { username: email, password },
    bodySerializer: (body) => new URLSearchParams(body as Record<string, string>),
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
  }),
  200,
);
if (tokens.token_type !== "bearer" || !formTokens.access_token) {
  fail("login did not return bearer tokens");
}
console.log("drive_typescript: logged in (JSON and form)");

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const me: User = expect(await client.GET("/me", { headers: bearer(tokens.access_token) }), 200);
if (me.id !== created.id || me.first_name !== null) {
  fail(`/me is not the new user: ${JSON.stringify(me)}`);
}
console.log(`drive_typescript: GET /me as ${me.email}`);

const admin = expect(await client.POST("/auth/login", { body: { email: adminEmail, password: adminPassword } }), 200);
const name = `TypeScript drinks ${randomUUID().slice(0, 8)}`;
const category = expect(
  await client.POST("/categories", { body: { name, description: null }, headers: bearer(admin.access_token) }),
  201,
);
const again = expect(await client.GET("/categories/{id}", { params: { path: { id: category.id } } }), 200);
if (again.name !== name || again.description !== null) {
  fail(`category read back differs: ${JSON.stringify(again)}`);
}
console.log(`drive_typescript: admin created category ${category.id}`);
console.log("drive_typescript: OK");
