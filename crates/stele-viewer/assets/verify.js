// Stele viewer: the event page's Verify button. Checks, in this browser, that the event's
// leaf is in the tenant's Merkle tree and that the deployment's Ed25519 key signed that
// tree's head — trusting only the key the page was rendered with (data-public-key), never
// one from the proof answer.
//
// Hashing is stele-core's (RFC 6962 / RFC 9162): leaf = SHA-256(0x00 ‖ input), node =
// SHA-256(0x01 ‖ left ‖ right); the root from an inclusion proof follows RFC 9162 §2.1.3.2
// (stele_core::integrity::verify::root_from_inclusion). The signed bytes are the RFC 8785
// (JCS) JSON of {root, size, tenant, time} — members in that (sorted) order, strings as
// JSON.stringify writes them (stele_core::integrity::head::TreeHead::signed_bytes).

const hexBytes = (hex) => {
  if (typeof hex !== "string" || !/^[0-9a-f]{64}$/.test(hex)) throw new Error(`not a SHA-256 hash: ${String(hex).slice(0, 80)}`);
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
};
const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const base64Bytes = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

async function nodeHash(left, right) {
  const input = new Uint8Array(65);
  input[0] = 1;
  input.set(left, 1);
  input.set(right, 33);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", input));
}

// RFC 9162 §2.1.3.2, with BigInt: sizes and indexes may pass 2^32 (JS bit operators are 32-bit).
async function rootFromInclusion(index, size, leaf, proof) {
  if (index >= size) throw new Error(`leaf index ${index} is outside a tree of ${size} leaves`);
  let f = index;
  let s = size - 1n;
  let r = leaf;
  for (const p of proof) {
    if (s === 0n) throw new Error("the proof has too many hashes");
    if ((f & 1n) === 1n || f === s) {
      r = await nodeHash(p, r);
      while ((f & 1n) === 0n && f !== 0n) {
        f >>= 1n;
        s >>= 1n;
      }
    } else {
      r = await nodeHash(r, p);
    }
    f >>= 1n;
    s >>= 1n;
  }
  if (s !== 0n) throw new Error("the proof has too few hashes");
  return r;
}

function signedBytes(head) {
  if (!Number.isSafeInteger(head.size) || typeof head.tenant !== "string" || typeof head.time !== "string") {
    throw new Error("the head is malformed");
  }
  return new TextEncoder().encode(JSON.stringify({ root: head.root, size: head.size, tenant: head.tenant, time: head.time }));
}

class Failed extends Error {
  constructor(check, detail) {
    super(detail);
    this.check = check;
  }
}

async function verify(box) {
  const trustedKey = box.dataset.publicKey;
  const trustedId = box.dataset.keyId;
  const resp = await fetch(box.dataset.proofHref, { headers: { accept: "application/json" }, credentials: "same-origin" });
  if (!resp.ok) {
    let detail = `the server answered ${resp.status}`;
    try {
      detail = (await resp.json()).detail || detail;
    } catch (_) {}
    throw new Failed("Fetching the proof", detail);
  }
  const answer = await resp.json();
  const head = answer.head;
  if (!head) throw new Failed("Signed head", "the answer holds no signed head");

  // 1. The leaf is this event's: the one the page shows.
  if (answer.leaf_hash !== box.dataset.leafHash) {
    throw new Failed("Leaf hash", `the proof is for leaf ${answer.leaf_hash}, the page shows ${box.dataset.leafHash}`);
  }
  // 2. The inclusion proof leads from the leaf to the head's root.
  let root;
  try {
    const proof = answer.proof.map(hexBytes);
    root = await rootFromInclusion(BigInt(answer.leaf_index), BigInt(head.size), hexBytes(answer.leaf_hash), proof);
  } catch (e) {
    throw new Failed("Inclusion proof", e.message);
  }
  if (toHex(root) !== head.root) {
    throw new Failed("Inclusion proof", `the proof leads to root ${toHex(root)}, not to the signed root ${head.root}`);
  }
  // 3. The head is this tenant's and was signed by the trusted key, whose fingerprint (first
  // 16 hex digits of SHA-256 of the raw key, as the server names keys) is computed here.
  if (head.tenant !== box.dataset.tenant) throw new Failed("Signed head", `the head is tenant ${head.tenant}'s`);
  const raw = base64Bytes(trustedKey);
  const fingerprint = toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", raw))).slice(0, 16);
  if (fingerprint !== trustedId) throw new Failed("Trusted key", `the page's key has fingerprint ${fingerprint}, not ${trustedId}`);
  if (head.key_id !== fingerprint) throw new Failed("Signature", `the head names key ${head.key_id}, not the trusted ${fingerprint}`);
  let ok;
  try {
    const key = await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
    ok = await crypto.subtle.verify({ name: "Ed25519" }, key, base64Bytes(head.signature), signedBytes(head));
  } catch (e) {
    throw new Failed("Signature", `could not check it: ${e.message}`);
  }
  if (!ok) throw new Failed("Signature", "the Ed25519 signature does not match the head");
  return { head, fingerprint };
}

function show(result, state, title, lines) {
  result.replaceChildren();
  result.dataset.state = state;
  const strong = document.createElement("strong");
  strong.textContent = title;
  result.append(strong);
  for (const line of lines) {
    const p = document.createElement("p");
    p.textContent = line;
    result.append(p);
  }
}

for (const box of document.querySelectorAll("[data-verify]")) {
  const button = box.querySelector("[data-verify-button]");
  const result = box.querySelector("[data-verify-result]");
  if (!button || !result || !(crypto && crypto.subtle)) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    button.disabled = true;
    show(result, "busy", "Verifying…", []);
    try {
      const { head, fingerprint } = await verify(box);
      show(result, "ok", "Verified", [
        `In the tree of ${head.size} events with root ${head.root}, signed ${head.time}.`,
        `Trusted key: ${fingerprint} (Ed25519, the key this page was served with).`,
      ]);
    } catch (e) {
      const check = e instanceof Failed ? e.check : "Verify";
      show(result, "fail", `Not verified: ${check} failed`, [e.message]);
    } finally {
      button.disabled = false;
    }
  });
}
