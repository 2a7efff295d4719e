// Connects to a meridian deployment the way applications do with ioredis:
// through the sentinels, as the "app" user, with ioredis' defaults (its
// ready check sends INFO, and with sentinels it checks the role it reached
// from INFO). Writes and reads a key, then prints one JSON line:
//   {"client","version","ok","warnings":[...],"errors":[...],"role"}
// Usage: node ioredis.js MODULE   (MODULE: ioredis5 | ioredis6)
// Environment: SENTINELS="ADDR:PORT,...", MASTER=name, APP_PASS_FILE=path
// (the password is read from a file, never passed on the command line).
"use strict";
const fs = require("fs");

const mod = process.argv[2];
const Redis = require(mod);
const version = require(`${mod}/package.json`).version;
const pass = fs.readFileSync(process.env.APP_PASS_FILE, "utf8").trim();
const sentinels = process.env.SENTINELS.split(",").map((s) => {
  const [host, port] = s.split(":");
  return { host, port: Number(port) };
});

const warnings = [];
const errors = [];
// ioredis reports a refused ready check with console.warn
const origWarn = console.warn;
console.warn = (...args) => warnings.push(args.join(" "));

const redis = new Redis({
  sentinels,
  name: process.env.MASTER,
  username: "app",
  password: pass,
  sentinelUsername: "app",
  sentinelPassword: pass,
  connectTimeout: 3000,
  maxRetriesPerRequest: 2,
  sentinelRetryStrategy: () => null,
  retryStrategy: () => null,
});
redis.on("error", (e) => errors.push(String(e.message || e)));

const done = (ok, extra) => {
  console.warn = origWarn;
  process.stdout.write(
    JSON.stringify({ client: "ioredis", version, ok, warnings, errors, ...extra }) + "\n"
  );
  redis.disconnect();
  process.exit(ok && warnings.length === 0 && errors.length === 0 ? 0 : 1);
};
const timer = setTimeout(() => done(false, { role: null, timeout: true }), 10000);

(async () => {
  try {
    const key = `meridian:client-test:${version}`;
    await redis.set(key, "v");
    const got = await redis.get(key);
    await redis.del(key);
    const role = (await redis.role())[0];
    clearTimeout(timer);
    done(got === "v", { role });
  } catch (e) {
    errors.push(String(e.message || e));
    clearTimeout(timer);
    done(false, { role: null });
  }
})();
