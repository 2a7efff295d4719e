// An application writing through the sentinels with ioredis while an
// operation runs: "SET <prefix>:<seq> <seq>" then "WAIT 1 1000", one write
// every 10 ms, until the file STOP_FILE exists.  Each acknowledged write
// (SET OK and WAIT confirmed by at least one replica) is printed as
// "<unix ms> <seq>" on stdout; a failed one is counted.  At the end one JSON
// line on stderr: {"acked","failed","longest_gap_ms"} (the longest time
// between two acknowledged writes).
// Usage: node ioredis-writer.js MODULE PREFIX STOP_FILE
// Environment: SENTINELS="ADDR:PORT,...", MASTER=name, APP_PASS_FILE=path,
// and with TLS CA_FILE=path (connect-info's "ca_file"): the sentinels and
// the nodes are then reached over TLS only, verified against that CA.
"use strict";
const fs = require("fs");

const [mod, prefix, stopFile] = process.argv.slice(2);
const Redis = require(mod);
const pass = fs.readFileSync(process.env.APP_PASS_FILE, "utf8").trim();
const sentinels = process.env.SENTINELS.split(",").map((s) => {
  const [host, port] = s.split(":");
  return { host, port: Number(port) };
});

// TLS as an application configures it: to the sentinels and to the
// master they name, certificates verified against the deployment's CA
const tls = process.env.CA_FILE ? { ca: fs.readFileSync(process.env.CA_FILE) } : undefined;
const redis = new Redis({
  sentinels,
  ...(tls ? { tls, sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
  name: process.env.MASTER,
  username: "app",
  password: pass,
  sentinelUsername: "app",
  sentinelPassword: pass,
  connectTimeout: 2000,
  commandTimeout: 2000,
  maxRetriesPerRequest: 0,
  // a READONLY answer (the old leader, now a replica) reconnects through
  // the sentinels, as applications configure it
  reconnectOnError: (e) => (String(e.message).startsWith("READONLY") ? 2 : false),
  retryStrategy: () => 50,
});
redis.on("error", () => {});

let acked = 0, failed = 0, last = 0, gap = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
  for (let seq = 1; !fs.existsSync(stopFile); seq++) {
    const started = Date.now();
    try {
      const ok = await redis.set(`${prefix}:${seq}`, String(seq));
      const n = await redis.wait(1, 1000);
      if (ok === "OK" && n >= 1) {
        const t = Date.now();
        if (last) gap = Math.max(gap, t - last);
        last = t;
        acked++;
        process.stdout.write(`${t} ${seq}\n`);
      } else failed++;
    } catch (e) {
      failed++;
    }
    const left = 10 - (Date.now() - started);
    if (left > 0) await sleep(left);
  }
  process.stderr.write(JSON.stringify({ acked, failed, longest_gap_ms: gap }) + "\n");
  redis.disconnect();
  process.exit(0);
})();
