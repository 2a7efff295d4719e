// Connects to a meridian cluster-mode deployment the way applications do
// with ioredis' Cluster client: from seed nodes, as the "app" user, with
// ioredis' defaults (it reads the slot map with CLUSTER SLOTS and runs its
// ready check, INFO, on every node).  Writes KEYS keys spread over every
// hash slot range, reads them back, and counts the keys each master holds.
// Prints one JSON line:
//   {"client","version","ok","keys","masters":{"ADDR:PORT":n,...},
//    "warnings":[...],"errors":[...]}
// Usage: node ioredis-cluster.js MODULE   (MODULE: ioredis5 | ioredis6)
// Environment: SEEDS="ADDR:PORT,...", APP_PASS_FILE=path (the password is
// read from a file, never passed on the command line), KEYS (default 300),
// and with TLS CA_FILE=path (connect-info's "ca_file"): every node is then
// reached over TLS, verified against that CA.
"use strict";
const fs = require("fs");

const mod = process.argv[2];
const Redis = require(mod);
const version = require(`${mod}/package.json`).version;
const pass = fs.readFileSync(process.env.APP_PASS_FILE, "utf8").trim();
const nkeys = Number(process.env.KEYS || 300);
const seeds = process.env.SEEDS.split(",").map((s) => {
  const [host, port] = s.split(":");
  return { host, port: Number(port) };
});

const warnings = [];
const errors = [];
const origWarn = console.warn;
console.warn = (...args) => warnings.push(args.join(" "));

const cluster = new Redis.Cluster(seeds, {
  redisOptions: {
    username: "app",
    password: pass,
    connectTimeout: 3000,
    ...(process.env.CA_FILE ? { tls: { ca: fs.readFileSync(process.env.CA_FILE) } } : {}),
  },
  clusterRetryStrategy: () => null,
  maxRedirections: 4,
});
cluster.on("error", (e) => errors.push(String(e.message || e)));

const done = (ok, extra) => {
  console.warn = origWarn;
  process.stdout.write(
    JSON.stringify({ client: "ioredis.Cluster", version, ok, warnings, errors, ...extra }) + "\n"
  );
  cluster.disconnect();
  process.exit(ok && warnings.length === 0 && errors.length === 0 ? 0 : 1);
};
const timer = setTimeout(() => done(false, { timeout: true }), 20000);

(async () => {
  try {
    const prefix = `meridian:cluster-client-test:${version}:`;
    for (let i = 0; i < nkeys; i++) await cluster.set(prefix + i, String(i));
    let same = 0;
    for (let i = 0; i < nkeys; i++) same += (await cluster.get(prefix + i)) === String(i);
    const masters = {};
    for (const node of cluster.nodes("master"))
      masters[`${node.options.host}:${node.options.port}`] = await node.dbsize();
    clearTimeout(timer);
    done(same === nkeys, { keys: same, masters });
  } catch (e) {
    errors.push(String(e.message || e));
    clearTimeout(timer);
    done(false, {});
  }
})();
