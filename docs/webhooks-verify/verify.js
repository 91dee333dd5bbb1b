// Receive latchkey webhooks and check their Standard Webhooks signatures (Node stdlib only).
//
//   WEBHOOK_SECRET=whsec_... PORT=8080 node verify.js
//
// A real receiver would also remember each webhook-id it has processed and skip repeats:
// latchkey retries until it sees a 2xx, so a delivery can arrive more than once.
"use strict";

const crypto = require("node:crypto");
const http = require("node:http");

const TOLERANCE_SECONDS = 5 * 60;
const MAX_BODY = 1 << 20;

const secret = process.env.WEBHOOK_SECRET || "";
if (!secret.startsWith("whsec_")) {
  console.error("WEBHOOK_SECRET must be whsec_ followed by base64");
  process.exit(1);
}
const key = Buffer.from(secret.slice("whsec_".length), "base64");

// verify checks any of the space-separated v1 signatures and the 5-minute timestamp tolerance.
function verify(headers, body, nowSeconds) {
  const id = headers["webhook-id"];
  const ts = headers["webhook-timestamp"];
  const sigs = headers["webhook-signature"];
  if (!id || !ts || !sigs) {
    throw new Error("missing webhook-id, webhook-timestamp or webhook-signature");
  }
  if (!/^[0-9]+$/.test(ts)) {
    throw new Error("webhook-timestamp is not a Unix time");
  }
  if (Math.abs(nowSeconds - Number(ts)) > TOLERANCE_SECONDS) {
    throw new Error("webhook-timestamp is more than 5 minutes away");
  }
  const expected = Buffer.from(
    crypto.createHmac("sha256", key).update(`${id}.${ts}.`).update(body).digest("base64"),
  );
  for (const sig of sigs.split(" ")) {
    const comma = sig.indexOf(",");
    if (comma < 0 || sig.slice(0, comma) !== "v1") continue;
    const got = Buffer.from(sig.slice(comma + 1));
    if (got.length === expected.length && crypto.timingSafeEqual(got, expected)) return; // constant time
  }
  throw new Error("no matching v1 signature");
}

function answer(res, line, status) {
  console.log(line);
  res.writeHead(status).end();
}

http
  .createServer((req, res) => {
    if (req.method !== "POST") return res.writeHead(405).end();
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        answer(res, "rejected the body is too large", 400);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (res.writableEnded) return;
      const body = Buffer.concat(chunks);
      let event;
      try {
        verify(req.headers, body, Math.floor(Date.now() / 1000));
        event = JSON.parse(body.toString("utf8"));
      } catch (e) {
        return answer(res, `rejected ${e.message}`, 400);
      }
      answer(res, `verified ${event.type}`, 204);
    });
  })
  .listen(Number(process.env.PORT), "127.0.0.1");
