// One single sign-on attempt in Debian's Chromium (through playwright-core) for
// crates/stele-server/tests/it/viewer_sso.rs: the tenant's sign-in page, "Sign in with <name>",
// the OpenID Provider's login form (login = the identity), back to Stele. Prints
// {"url", "status", "title", "heading", "axe"} of the page it lands on, and photographs it.
//
// Config (JSON in STELE_SSO_CONFIG): base, chromium, tenant, provider_name, identity,
// screenshot (a path, or null).

import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const config = JSON.parse(process.env.STELE_SSO_CONFIG);

const browser = await chromium.launch({ executablePath: config.chromium, args: ["--no-sandbox"] });
try {
  const page = await (await browser.newContext({ viewport: { width: 1200, height: 800 } })).newPage();
  await page.goto(`${config.base}/login?tenant=${encodeURIComponent(config.tenant)}`);
  if (config.login_screenshot) {
    await page.screenshot({ path: config.login_screenshot, fullPage: true });
    await page.setViewportSize({ width: 360, height: 780 });
    await page.screenshot({ path: config.login_screenshot.replace(/\.png$/, "-360.png"), fullPage: true });
    await page.setViewportSize({ width: 1200, height: 800 });
  }
  await page.evaluate(axeSource);
  const loginAxe = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const button = page.getByRole("link", { name: `Sign in with ${config.provider_name}` });
  await button.click();
  // The provider's development login form.
  await page.waitForSelector("input[name=login]");
  await page.fill("input[name=login]", config.identity);
  await page.fill("input[name=password]", "any password");
  const landed = page.waitForURL((url) => url.href.startsWith(config.base) && !url.pathname.startsWith("/oidc/start"));
  await page.click("button[type=submit]");
  await landed;
  await page.waitForLoadState("domcontentloaded");
  const response = await page.evaluate(() => ({ title: document.title, heading: document.querySelector("h1")?.textContent ?? "" }));
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const serious = [...loginAxe.violations, ...result.violations].filter((v) => v.impact === "serious" || v.impact === "critical");
  if (config.screenshot) {
    await page.screenshot({ path: config.screenshot, fullPage: true });
  }
  const url = new URL(page.url());
  console.log(JSON.stringify({ path: url.pathname, title: response.title, heading: response.heading.trim(), axe: serious.map((v) => v.id) }));
} finally {
  await browser.close();
}
