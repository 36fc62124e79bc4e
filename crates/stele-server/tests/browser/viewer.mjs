// Drives Debian's Chromium (through playwright-core) through the viewer of a real Stele
// server that crates/stele-server/tests/it/viewer_browser.rs started and filled. Every page is
// checked with axe-core (no serious or critical violation) and photographed under
// config.screenshots. Exits non-zero on the first failed check, saying which.
//
// Config (JSON in STELE_BROWSER_CONFIG): base, chromium, operator, tenant, other_tenant,
// email, password, invite_path, invite_email, other_event_id, screenshots, embed_url,
// embed_visible, embed_hidden, stream_url.

import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const config = JSON.parse(process.env.STELE_BROWSER_CONFIG);

let checks = 0;
function check(name, condition, detail = "") {
  if (!condition) {
    throw new Error(`check failed: ${name} ${detail}`);
  }
  checks += 1;
}

async function axe(page, name) {
  // Evaluated through the DevTools protocol, so the page's CSP (no inline script) stays on.
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(`axe on ${name}`, bad.length === 0, JSON.stringify(bad.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target) })), null, 1));
}

async function shot(page, name, fullPage = true) {
  await page.screenshot({ path: path.join(config.screenshots, `${name}.png`), fullPage });
}

async function api(pathAndQuery, init = {}) {
  const headers = { authorization: `Bearer ${config.operator}`, "x-stele-tenant": config.tenant, ...(init.headers || {}) };
  const resp = await fetch(config.base + pathAndQuery, { ...init, headers });
  check(`API ${pathAndQuery}`, resp.ok, String(resp.status));
  return resp.json();
}

async function rowIds(page) {
  return page.$$eval("table.scim tbody tr[data-request-id]", (rows) => rows.map((r) => r.dataset.requestId));
}

const browser = await chromium.launch({ executablePath: config.chromium, args: ["--no-sandbox"] });
const cspViolations = [];
try {
  const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
  const page = await context.newPage();
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));

  // Sign-in page, and a failed sign-in.
  await page.goto(`${config.base}/login?tenant=${config.tenant}`);
  check("login heading", (await page.getByRole("heading", { name: "Sign in" }).count()) === 1);
  await axe(page, "login");
  await shot(page, "login");
  await page.getByLabel("Email", { exact: true }).fill(config.email);
  await page.getByLabel("Password", { exact: true }).fill("definitely not it");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").waitFor();
  check("failed sign-in says so", (await page.getByRole("alert").innerText()).includes("incorrect"));
  await axe(page, "login with error");

  // Invite → set password → sign in.
  await page.goto(config.base + config.invite_path);
  await axe(page, "invite");
  await shot(page, "invite");
  await page.getByLabel("Password", { exact: true }).fill(config.password);
  await page.getByLabel("Confirm password", { exact: true }).fill(config.password);
  await page.getByRole("button", { name: "Set password" }).click();
  await page.waitForURL(/\/login\?tenant=.*done=password/);
  check("password set notice", (await page.getByRole("status").innerText()).includes("password is set"));
  await page.getByLabel("Email", { exact: true }).fill(config.invite_email);
  await page.getByLabel("Password", { exact: true }).fill(config.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${config.base}/t/${config.tenant}/events`);
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(/done=out/);

  // The seeded member.
  await page.getByLabel("Email", { exact: true }).fill(config.email);
  await page.getByLabel("Password", { exact: true }).fill(config.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${config.base}/t/${config.tenant}/events`);
  check("events rows", (await page.locator("table.events tbody tr[data-href]").count()) === 50);
  await axe(page, "events");
  await shot(page, "events");
  await shot(page, "events-viewport", false);

  // A facet value filters; a histogram bar zooms to its time range.
  await page.locator(".facet").filter({ hasText: "Action" }).getByRole("link", { name: /^doc\.read/ }).click();
  await page.waitForURL(/filter=action\+eq\+%22doc\.read%22/);
  const faceted = await page.locator("table.events tbody td.mono").allInnerTexts();
  check("facet filters", faceted.length > 0 && faceted.every((a) => a === "doc.read"), faceted.join(","));
  const bar = page.locator(".histogram a").filter({ has: page.locator("rect[height]:not([height='0.00'])") }).first();
  const label = await bar.getAttribute("aria-label");
  await bar.click();
  await page.waitForURL(/from=.*T/);
  const inBar = Number(/: (\d+) event/.exec(label)[1]);
  const rowsInBar = await page.locator("table.events tbody tr[data-href]").count();
  check("a bar zooms to its events", rowsInBar === Math.min(inBar, 50), `${label} vs ${rowsInBar} rows`);
  await axe(page, "events zoomed");
  await page.goto(`${config.base}/t/${config.tenant}/events`);

  // A filter error is shown at its position.
  await page.getByLabel("Filter", { exact: true }).fill('status eq "failure" and == 3');
  await page.getByRole("button", { name: "Apply" }).click();
  await page.locator("#filter-error").waitFor();
  check("filter error marks its position", (await page.locator("#filter-error mark").innerText()).length > 0);
  await axe(page, "events with a filter error");
  await shot(page, "events-filter-error");

  // Chips, filter and paging; the URL holds the state.
  await page.getByRole("link", { name: "Reset" }).click();
  await page.waitForURL(/\/events$/);
  await page.getByRole("link", { name: "Failure", exact: true }).click();
  await page.waitForURL(/status=failure/);
  const statuses = await page.locator("table.events tbody .badge").allInnerTexts();
  check("failure chip", statuses.length > 0 && statuses.every((s) => s === "Failure"), statuses.join(","));
  await page.getByRole("link", { name: "All", exact: true }).first().click();
  await page.waitForURL(/\/events$/);
  await page.getByLabel("Filter", { exact: true }).fill('action sw "doc."');
  await page.getByRole("button", { name: "Apply" }).click();
  await page.waitForURL(/filter=/);
  await shot(page, "events-filtered", false);
  const firstPage = await page.locator("table.events tbody tr[data-href]").count();
  await page.getByRole("link", { name: "Older" }).click();
  await page.waitForURL(/cursor=/);
  const secondPage = await page.locator("table.events tbody tr[data-href]").count();
  check("paging", firstPage === 50 && secondPage === 20, `${firstPage} then ${secondPage}`);
  const actions = await page.locator("table.events tbody td.mono").allInnerTexts();
  check("filter applied on page 2", actions.every((a) => a.startsWith("doc.")));

  // Keyboard: j, j, k, Enter opens the detail.
  await page.getByRole("link", { name: "Newest" }).click();
  await page.waitForURL((url) => url.search.includes("filter=") && !url.search.includes("cursor="));
  await page.evaluate(() => document.activeElement instanceof HTMLElement && document.activeElement.blur());
  await page.keyboard.press("j");
  await page.keyboard.press("j");
  await page.keyboard.press("k");
  const current = await page.locator("tr.current").getAttribute("data-href");
  const first = await page.locator("table.events tbody tr[data-href]").first().getAttribute("data-href");
  check("j/k move the current row", current === first, `${current} vs ${first}`);
  await page.keyboard.press("Enter");
  await page.waitForURL(config.base + first);
  check("detail leaf hash", (await page.getByText("Leaf hash", { exact: true }).count()) === 1);
  check("detail diff", (await page.locator("table.diff tr.changed").count()) >= 1);
  await axe(page, "event detail");
  await shot(page, "event");

  // Verify: the browser checks the inclusion proof and the head's Ed25519 signature with the
  // key the page was served with.
  const trustedKey = (await api("/v1/integrity/key")).key_id;
  check("the page trusts the deployment's key", (await page.locator("[data-verify]").getAttribute("data-key-id")) === trustedKey);
  const verifyResult = page.locator("[data-verify-result]");
  const runVerify = async () => {
    await page.getByRole("button", { name: "Verify", exact: true }).click();
    await verifyResult.locator("strong", { hasText: /^(Verified|Not verified)/ }).waitFor();
    return verifyResult.innerText();
  };
  const verified = await runVerify();
  check("Verify says Verified", verified.startsWith("Verified"), verified);
  check("Verify names the key it trusted", verified.includes(trustedKey), verified);
  await axe(page, "event verified");
  await shot(page, "event-verified");
  // A tampered proof answer (one hex digit of a proof hash flipped) fails, naming the check.
  const flip = (hex, at) => hex.slice(0, at) + (hex[at] === "0" ? "1" : "0") + hex.slice(at + 1);
  const tamper = async (change) => {
    await page.route("**/proof", async (route) => {
      const response = await route.fetch();
      const body = await response.json();
      change(body);
      await route.fulfill({ response, json: body });
    });
  };
  await tamper((body) => { body.proof[0] = flip(body.proof[0], 7); });
  const tampered = await runVerify();
  check("a tampered proof fails", tampered.startsWith("Not verified: Inclusion proof failed"), tampered);
  await axe(page, "event verify failed");
  await shot(page, "event-verify-failed");
  await page.unroute("**/proof");
  // A head whose signed content was changed (its time) fails the signature check.
  await tamper((body) => { body.head.time = "2020-01-01T00:00:00Z"; });
  const forged = await runVerify();
  check("a changed head fails the signature", forged.startsWith("Not verified: Signature failed"), forged);
  // A proof answer bringing its own key is not trusted.
  await page.unroute("**/proof");
  await tamper((body) => { body.head.key_id = "0000000000000000"; body.public_key.key_id = "0000000000000000"; });
  const otherKey = await runVerify();
  check("a head naming another key fails", otherKey.startsWith("Not verified: Signature failed"), otherKey);
  await page.unroute("**/proof");
  check("Verify again after the tampering", (await runVerify()).startsWith("Verified"));

  // SCIM Audit Logs.
  await page.getByRole("link", { name: "SCIM Audit Logs" }).click();
  await page.waitForURL(/scim-logs$/);
  const headers = await page.locator("table.scim thead th").evaluateAll((ths) => ths.map((t) => t.textContent.trim()));
  const want = ["Request ID", "Time", "Status", "HTTP Method", "Endpoint", "Query Parameter", "Status Code", "Response", "Request"];
  check("SCIM columns", JSON.stringify(headers) === JSON.stringify(want), headers.join("|"));
  const all = await rowIds(page);
  const allApi = (await api("/v1/scim-log")).events.map((e) => e.request.id);
  check("SCIM rows = API rows", JSON.stringify(all) === JSON.stringify(allApi));
  await axe(page, "SCIM audit logs");
  await shot(page, "scim-logs");

  const options = async (label) => page.getByLabel(label, { exact: true }).locator("option").allInnerTexts();
  check("method options", JSON.stringify(await options("HTTP Method")) === JSON.stringify(["All", "GET", "PUT", "POST", "PATCH", "DELETE"]));
  check("resource options", JSON.stringify(await options("Resource Type")) === JSON.stringify(["All", "Users", "Groups", "Me", "Bulk"]));
  check("status options", JSON.stringify(await options("Status")) === JSON.stringify(["All", "Success", "Failed"]));

  for (const [label, value, query] of [
    ["HTTP Method", "POST", "method=POST"],
    ["Status", "failed", "status=failed"],
    ["Resource Type", "Groups", "resource_type=Groups"],
  ]) {
    await page.getByRole("button", { name: "Reset" }).click();
    // Reset submits an empty GET form: the URL is the page's with an empty query.
    await page.waitForURL(/scim-logs\?$/);
    await page.getByLabel(label, { exact: true }).selectOption(value);
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL(new RegExp(query));
    const ids = await rowIds(page);
    const apiIds = (await api(`/v1/scim-log?${query}`)).events.map((e) => e.request.id);
    check(`SCIM filter ${query} = API`, ids.length > 0 && JSON.stringify(ids) === JSON.stringify(apiIds), `${ids} vs ${apiIds}`);
  }
  await page.getByRole("button", { name: "Reset" }).click();
  await page.waitForURL(/scim-logs\?$/);
  await page.getByLabel("Endpoint", { exact: true }).fill("/Users");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/endpoint=%2FUsers/);
  const byEndpoint = await rowIds(page);
  const endpointApi = (await api("/v1/scim-log?endpoint=%2FUsers")).events.map((e) => e.request.id);
  check("SCIM endpoint filter = API", byEndpoint.length > 0 && JSON.stringify(byEndpoint) === JSON.stringify(endpointApi));
  check("Endpoint kept in the field", (await page.getByLabel("Endpoint", { exact: true }).inputValue()) === "/Users");

  // Reset clears every filter.
  await page.getByRole("button", { name: "Reset" }).click();
  await page.waitForURL(`${config.base}/t/${config.tenant}/scim-logs?`);
  check("Reset shows every row", JSON.stringify(await rowIds(page)) === JSON.stringify(allApi));
  check("Reset clears the fields", (await page.getByLabel("Endpoint", { exact: true }).inputValue()) === "" && (await page.getByLabel("HTTP Method", { exact: true }).inputValue()) === "");

  // (i) Error details on a failed row.
  const info = page.getByRole("button", { name: "Error details" }).first();
  await info.click();
  check("(i) expands", (await info.getAttribute("aria-expanded")) === "true");
  const popover = page.locator(`#${await info.getAttribute("aria-controls")}`);
  await popover.waitFor();
  const failed = (await api("/v1/scim-log?status=failed")).events[0];
  check("(i) shows the error message", (await popover.innerText()).trim() === failed.message, `${await popover.innerText()} vs ${failed.message}`);
  await axe(page, "SCIM audit logs with error details");
  await shot(page, "scim-logs-error-details");

  // Response and Request open the full JSON.
  await page.getByRole("button", { name: /^Response of request/ }).first().click();
  const dialog = page.locator("dialog[open]");
  await dialog.waitFor();
  const body = JSON.parse(await dialog.locator("pre").innerText());
  check("Response JSON", typeof body.status_code === "number", JSON.stringify(body));
  await axe(page, "response dialog");
  await shot(page, "scim-logs-response");
  await dialog.getByRole("button", { name: "Close" }).click();
  await page.getByRole("button", { name: /^Request of request/ }).first().click();
  const request = JSON.parse(await page.locator("dialog[open] pre").innerText());
  check("Request JSON", typeof request.method === "string" && typeof request.path === "string", JSON.stringify(request));
  await page.keyboard.press("Escape");

  // Live: a row appended through the API appears at the top without a reload, as text.
  await page.goto(`${config.base}/t/${config.tenant}/live`);
  await page.locator('[data-live-status][data-state="live"]').waitFor();
  await axe(page, "live");
  const marker = `<i>live ${Date.now()}</i>`;
  const sent = await fetch(`${config.base}/v1/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${config.ingest_key}`, "content-type": "application/json" },
    body: JSON.stringify({ action: "live.check", message: marker, actor: { email: "ana@acme.io", name: "Ana Lima" } }),
  });
  check("live ingest", sent.status === 201, String(sent.status));
  const fresh = page.locator("table[data-live] tbody tr").first();
  await fresh.locator("td.msg", { hasText: marker }).waitFor({ timeout: 10000 });
  check("live row is text, not markup", (await fresh.locator("td.msg i").count()) === 0);
  check("live row links to the event", /\/t\/[^/]+\/events\/.+/.test(await fresh.locator("a").first().getAttribute("href")));
  await shot(page, "live");
  await page.setViewportSize({ width: 360, height: 780 });
  await axe(page, "live at 360 px");
  await shot(page, "live-360", false);
  await page.setViewportSize({ width: 1366, height: 860 });

  // Another tenant's URLs: 404.
  const other = await page.goto(`${config.base}/t/${config.other_tenant}/events`);
  check("other tenant 404", other.status() === 404);
  const otherEvent = await page.goto(`${config.base}/t/${config.tenant}/events/${config.other_event_id}`);
  check("other tenant's event 404", otherEvent.status() === 404);
  await axe(page, "404");
  await shot(page, "not-found");

  // A narrow screen.
  await page.setViewportSize({ width: 360, height: 780 });
  await page.goto(`${config.base}/t/${config.tenant}/events`);
  await axe(page, "events at 360 px");
  await shot(page, "events-360", false);
  await page.setViewportSize({ width: 1366, height: 860 });

  // CSRF: a tampered token is refused and the session stays.
  await page.locator('form[action="/logout"] input[name="csrf"]').evaluate((i) => { i.value = "tampered"; });
  const refused = page.waitForResponse((r) => r.url().endsWith("/logout"));
  await page.getByRole("button", { name: "Sign out" }).click();
  check("CSRF refused", (await refused).status() === 403);
  await page.getByRole("heading", { name: "Form expired" }).waitFor();
  const still = await page.goto(`${config.base}/t/${config.tenant}/events`);
  check("still signed in after a refused form", still.status() === 200 && page.url().endsWith("/events"));

  // Export: "Export this view" carries the Events page's state; the NDJSON download is the
  // verifiable export.
  await page.goto(`${config.base}/t/${config.tenant}/events?status=failure`);
  await page.getByRole("link", { name: "Export this view" }).click();
  await page.waitForURL(/\/export\?filter=/);
  check("export keeps the view", (await page.getByLabel("Filter", { exact: true }).inputValue()) === 'status eq "failure"');
  await axe(page, "export");
  await shot(page, "export");
  const downloading = page.waitForEvent("download");
  await page.getByRole("button", { name: "Download", exact: true }).click();
  const download = await downloading;
  const lines = readFileSync(await download.path(), "utf8").trim().split("\n");
  const headLine = JSON.parse(lines[0]);
  check("NDJSON export names its head", headLine.stele_export === 1 && headLine.head && typeof headLine.head.signature === "string", lines[0]);
  check("the export holds the view", lines.slice(1).every((l) => JSON.parse(l).status === "failure") && lines.length > 1, String(lines.length));

  // Integrity.
  const mainNav = page.getByRole("navigation", { name: "Main" });
  await mainNav.getByRole("link", { name: "Integrity" }).click();
  await page.waitForURL(/\/integrity$/);
  check("integrity shows the key", (await page.locator("dd", { hasText: trustedKey }).count()) === 1);
  check("integrity lists heads", (await page.locator("table.heads tbody tr").count()) >= 1);
  await axe(page, "integrity");
  await shot(page, "integrity");

  // Admin: members (and at 360 px), keys (create: the secret is shown once), SCIM.
  await mainNav.getByRole("link", { name: "Admin" }).click();
  await page.waitForURL(/\/admin\/members$/);
  await axe(page, "admin members");
  await shot(page, "admin-members");
  await page.setViewportSize({ width: 360, height: 780 });
  await axe(page, "admin members at 360 px");
  await shot(page, "admin-members-360");
  await page.setViewportSize({ width: 1366, height: 860 });
  await page.getByLabel("Email", { exact: true }).fill("cleo@acme.io");
  await page.getByLabel("Role", { exact: true }).selectOption("auditor");
  await page.getByRole("button", { name: "Invite", exact: true }).click();
  const inviteUrl = await page.locator("#shown-secret").inputValue();
  check("invite URL shown", inviteUrl.includes(`/invite/${config.tenant}/`), inviteUrl);
  await axe(page, "admin members invited");
  await shot(page, "admin-members-invited");

  await page.getByRole("link", { name: "API keys" }).click();
  await page.waitForURL(/\/admin\/keys$/);
  await page.getByLabel("Name", { exact: true }).fill("Browser reader");
  await page.getByRole("checkbox", { name: /events:write/ }).uncheck();
  await page.getByRole("checkbox", { name: /events:read/ }).check();
  await page.getByLabel("View filter", { exact: true }).fill('action sw "doc."');
  await page.getByRole("button", { name: "Create key", exact: true }).click();
  const keySecret = await page.locator("#shown-secret").inputValue();
  const keyRead = await fetch(`${config.base}/v1/events?limit=5`, { headers: { authorization: `Bearer ${keySecret}` } });
  check("the new key reads", keyRead.status === 200, String(keyRead.status));
  check("the new key reads only its view", (await keyRead.json()).events.every((e) => e.action.startsWith("doc.")));
  await axe(page, "admin keys");
  await shot(page, "admin-keys");

  await page.getByRole("link", { name: "SCIM connections" }).click();
  await page.waitForURL(/\/admin\/scim$/);
  await page.getByLabel("Name", { exact: true }).fill("Entra ID");
  await page.getByRole("button", { name: "Create connection", exact: true }).click();
  check("SCIM token shown", (await page.locator("#shown-secret").inputValue()).startsWith("scim_"));
  await axe(page, "admin scim");
  await shot(page, "admin-scim");

  // Single sign-on: the form names the redirect URI to register; an unreachable issuer is
  // refused on the page (viewer_sso.rs saves a real one).
  await page.getByRole("link", { name: "Single sign-on" }).click();
  await page.waitForURL(/\/admin\/sso$/);
  check("SSO tab names the redirect URI", (await page.locator("main").innerText()).includes(`/oidc/${config.tenant}/callback`));
  await page.getByLabel("Issuer URL", { exact: true }).fill("https://127.0.0.1:9/nowhere");
  await page.getByLabel("Client ID", { exact: true }).fill("stele");
  await page.getByLabel("Client secret", { exact: true }).fill("not-kept");
  await page.getByRole("button", { name: "Add provider", exact: true }).click();
  const refusal = await page.getByRole("alert").innerText();
  check("an unreachable issuer is refused", refusal.includes("cannot be reached"), refusal);
  check("the refusal tells nothing of the server's network", !/tcp|os error|127\.0\.0\.1:9/i.test(refusal), refusal);
  await axe(page, "admin sso");
  await shot(page, "admin-sso");
  await page.setViewportSize({ width: 360, height: 780 });
  await axe(page, "admin sso at 360 px");
  await shot(page, "admin-sso-360");
  await page.setViewportSize({ width: 1366, height: 860 });

  // Streams: a webhook made on the page (to a closed local port: it fails, visibly), the
  // S3 kind's form, and the no-script delete confirmation; then Retention.
  await page.getByRole("link", { name: "Streams", exact: true }).click();
  await page.waitForURL(/\/admin\/streams$/);
  await page.getByLabel("Name", { exact: true }).fill("SIEM webhook");
  await page.getByLabel("URL", { exact: true }).fill(config.stream_url);
  await page.getByLabel("Signing secret", { exact: true }).fill("whsec_browser_0123456789");
  await page.getByLabel("Filter", { exact: false }).fill('action sw "user."');
  await page.getByLabel("From the beginning of the log").check();
  await page.getByRole("button", { name: "Create stream", exact: true }).click();
  await page.waitForURL(/\/admin\/streams\?done=created$/);
  const made = await api("/v1/streams");
  check("the stream is the API's", made.streams.length === 1 && made.streams[0].name === "SIEM webhook", JSON.stringify(made));
  // Wait (bounded) for the first failed delivery, so the row shows its error.
  for (let i = 0; i < 40 && (await api("/v1/streams")).streams[0].state !== "failing"; i++) {
    await new Promise((r) => setTimeout(r, 250));
  }
  await page.reload();
  check("the row shows the stream", (await page.locator("table.streams tbody").innerText()).includes("SIEM webhook"));
  check("no secret on the page", !(await page.content()).includes("whsec_browser"));
  await axe(page, "admin streams");
  await shot(page, "admin-streams");

  // Edit: the form is filled from the stream (its secret blank), a refused filter names
  // its field, and a good edit that leaves the secret blank keeps it.
  await page.getByRole("link", { name: "Edit SIEM webhook", exact: true }).click();
  await page.waitForURL(/\/admin\/streams\/[^/]+\/edit$/);
  check("edit: the name is filled in", (await page.getByLabel("Name", { exact: true }).inputValue()) === "SIEM webhook");
  check("edit: the URL is filled in", (await page.getByLabel("URL", { exact: true }).inputValue()) === config.stream_url);
  check("edit: the secret is blank", (await page.getByLabel("Signing secret", { exact: true }).inputValue()) === "");
  check("edit: no secret on the page", !(await page.content()).includes("whsec_browser"));
  await axe(page, "admin stream edit");
  await shot(page, "admin-stream-edit");
  await page.setViewportSize({ width: 360, height: 780 });
  await axe(page, "admin stream edit at 360 px");
  await shot(page, "admin-stream-edit-360");
  await page.setViewportSize({ width: 1366, height: 860 });
  await page.getByLabel("Name", { exact: true }).fill("SIEM webhook (prod)");
  await page.getByLabel("Filter", { exact: false }).fill("action eq");
  await page.getByRole("button", { name: "Save changes", exact: true }).click();
  await page.getByRole("alert").waitFor();
  check("edit: the refusal names the field", (await page.getByRole("alert").innerText()).startsWith("filter: "));
  check("edit: the field is marked", (await page.getByLabel("Filter", { exact: false }).getAttribute("aria-invalid")) === "true");
  check("edit: what was typed is kept", (await page.getByLabel("Name", { exact: true }).inputValue()) === "SIEM webhook (prod)");
  check("edit: refused, nothing changed", (await api("/v1/streams")).streams[0].version === 1);
  await axe(page, "admin stream edit refused");
  await shot(page, "admin-stream-edit-error");
  await page.getByLabel("Filter", { exact: false }).fill('action sw "user."');
  await page.getByRole("button", { name: "Save changes", exact: true }).click();
  await page.waitForURL(/\/admin\/streams\?done=updated$/);
  check("edit: the tab says so", (await page.getByRole("status").innerText()).includes("The stream is changed"));
  const edited = (await api("/v1/streams")).streams[0];
  check("edit: the API's record changed", edited.name === "SIEM webhook (prod)" && edited.version === 2, JSON.stringify(edited));
  await page.reload();
  check("edit: a reload posts nothing", (await api("/v1/streams")).streams[0].version === 2);
  await page.getByRole("link", { name: "S3", exact: true }).click();
  await page.waitForURL(/kind=s3/);
  await page.locator("details.confirm summary").first().click();
  check("delete asks first", await page.getByRole("button", { name: /Delete for good/ }).isVisible());
  await axe(page, "admin streams s3 form");
  await shot(page, "admin-streams-s3");
  await page.setViewportSize({ width: 360, height: 780 });
  await axe(page, "admin streams at 360 px");
  await shot(page, "admin-streams-360");
  await page.setViewportSize({ width: 1366, height: 860 });

  await page.getByRole("link", { name: "Retention", exact: true }).click();
  await page.waitForURL(/\/admin\/retention$/);
  await page.getByLabel("For the number of days below").check();
  await page.getByLabel("Days", { exact: true }).fill("3650");
  await page.getByRole("button", { name: "Save period", exact: true }).click();
  await page.waitForURL(/done=period/);
  await page.getByLabel("Reason", { exact: true }).fill("Matter 2026-114, litigation hold");
  await page.getByRole("button", { name: "Put under legal hold", exact: true }).click();
  await page.waitForURL(/done=held/);
  const kept = await api(`/v1/tenants/${config.tenant}/retention`);
  check("retention set on the page", kept.days === 3650 && kept.legal_hold?.reason?.startsWith("Matter"), JSON.stringify(kept));
  // Apply now answers with a redirect to the tab, which says what the run did.
  await page.getByRole("button", { name: "Apply now", exact: true }).click();
  await page.waitForURL(/\/admin\/retention\?done=applied&expired=0&held=true$/);
  check("apply now says what it did", (await page.getByRole("status").innerText()).includes("under legal hold"));
  await axe(page, "admin retention");
  await shot(page, "admin-retention");
  await page.setViewportSize({ width: 360, height: 780 });
  await axe(page, "admin retention at 360 px");
  await shot(page, "admin-retention-360");
  await page.setViewportSize({ width: 1366, height: 860 });

  // Deactivating the member ends the session.
  const members = await api(`/v1/tenants/${config.tenant}/members`);
  const me = members.members.find((m) => m.email === config.email);
  await api(`/v1/tenants/${config.tenant}/members/${me.id}`, {
    method: "PATCH",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ active: false }),
  });
  await page.goto(`${config.base}/t/${config.tenant}/events`);
  check("deactivated member is sent to sign in", page.url().includes("/login?tenant="), page.url());

  // An embed link (made by a key with a view filter, through the API): a fresh browser
  // opens it and sees the tenant through that view only — rows, facets, histogram.
  const embed = await browser.newContext({ viewport: { width: 1366, height: 860 } });
  const guest = await embed.newPage();
  await guest.goto(config.embed_url);
  check("embed link opens the Events page", new URL(guest.url()).pathname === `/t/${config.tenant}/events`, guest.url());
  const seen = await guest.locator("main").innerText();
  check("embed view shows its events", seen.includes(config.embed_visible), config.embed_visible);
  check("embed view hides the rest, even in facets", !seen.includes(config.embed_hidden), config.embed_hidden);
  check("embed session is read-only", (await guest.getByRole("link", { name: "Admin" }).count()) === 0);
  await axe(guest, "embed view");
  await shot(guest, "embed-events");
  await guest.setViewportSize({ width: 360, height: 780 });
  await axe(guest, "embed view at 360 px");
  await shot(guest, "embed-events-360");
  const again = await (await browser.newContext()).newPage();
  const reopened = await again.goto(config.embed_url);
  check("an embed link works once", reopened.status() === 404, String(reopened.status()));
  await embed.close();

  check("no CSP violation", cspViolations.length === 0, cspViolations.join("\n"));
  check("no script error", errors.length === 0, errors.join("\n"));
  console.log(`browser: ${checks} passed, 0 failed`);
} finally {
  await browser.close();
}
