// A real OpenID Provider (npm oidc-provider) for crates/stele-server/tests/it/viewer_sso.rs.
// Any login name signs in (the package's development login form, any password) as an
// account whose email and preferred_username are that name. Listens on 127.0.0.1 on a free
// port and prints {"issuer": …} as its first line; runs until killed.
//
// Config (JSON in STELE_OIDC_CONFIG): client_id, client_secret, redirect_uris.

import { createRequire } from "node:module";
import http from "node:http";

const require = createRequire(import.meta.url);
const Provider = require("oidc-provider").default ?? require("oidc-provider");
const config = JSON.parse(process.env.STELE_OIDC_CONFIG);

const server = http.createServer();
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: config.client_id,
      client_secret: config.client_secret,
      redirect_uris: config.redirect_uris,
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["preferred_username", "name"] },
  // The scopes' claims go into the ID token itself (Stele reads the ID token only).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  cookies: { keys: ["stele-test-cookie-key"] },
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, email: id, email_verified: true, preferred_username: id, name: id }),
  }),
  // Consent is granted at once: the test is about Stele, not the provider's consent page.
  loadExistingGrant: async (ctx) => {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope("openid email profile");
    await grant.save();
    return grant;
  },
});
provider.on("server_error", (ctx, err) => console.error("provider error:", err));
server.on("request", provider.callback());
console.log(JSON.stringify({ issuer }));
