// Drives Stele's Retraced profile with the official `@retracedhq/retraced` client, unchanged.
// The client recomputes the hash of every event it sends and throws on a mismatch.
//
// Usage: node retraced_client.js ENDPOINT API_KEY PROJECT_ID
// Prints one JSON object with the ids the client returned and the error of a refused call.
const { Client } = require("@retracedhq/retraced");

async function main() {
  const [endpoint, apiKey, projectId] = process.argv.slice(2);
  const client = new Client({ endpoint, apiKey, projectId, component: "billing", version: "v1.2:3" });
  const tricky = {
    action: "spreadsheet:share%done",
    crud: "u",
    group: { id: "org:acme", name: "Acme" },
    actor: { id: "user:1%", name: "Ana", href: "https://app.example/u/1" },
    target: { id: "sheet=7;x", name: "Q3 plan", type: "spreadsheet" },
    source_ip: "2001:db8::1",
    description: "Shared Q3 plan",
    is_failure: true,
    fields: { "b=key": "v;1", "a:key": "50%", Z: "" },
    external_id: "req:42",
    metadata: { "k;1": "x=y:z" },
    created: new Date("2026-11-22T10:15:00.123Z"),
  };
  const single = await client.reportEvent(tricky);
  const anonymous = await client.reportEvent({ action: "login", crud: "r", is_anonymous: true });
  const bulk = await client.reportEvents([
    { action: "doc.create", crud: "c", actor: { id: "u1" }, target: { id: "d1" }, fields: {} },
    { action: "doc.update", crud: "u", actor: { id: "u2" }, group: { id: "g:1" }, metadata: {} },
    { action: "doc.delete", crud: "d", actor: { id: "u3" }, source_ip: "203.0.113.9", external_id: "e;1" },
  ]);
  let refused = null;
  try {
    await new Client({ endpoint, apiKey: "not-a-key", projectId }).reportEvent({ action: "x", crud: "c", is_anonymous: true });
  } catch (e) {
    refused = e.message;
  }
  console.log(JSON.stringify({ single, anonymous, bulk, refused }));
}

main().catch((e) => {
  console.error(e && e.message ? e.message : String(e));
  process.exit(1);
});
