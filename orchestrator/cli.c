/* cli.c - the commands of meridian, the operator CLI: their help, their
 * options, and the table main() dispatches through (cli_main).
 *
 *   meridian plan         TOPOLOGY [--json]
 *   meridian deploy       TOPOLOGY [--state DIR] [--parallel N] [--timeout S]
 *   meridian status       TOPOLOGY [--state DIR] [--json]
 *   meridian heal         TOPOLOGY [--state DIR] [--json]
 *   meridian rebalance    TOPOLOGY [--yes] [--json] [--state DIR] [--timeout S]
 *   meridian destroy      TOPOLOGY [--yes] [--state DIR]
 *   meridian connect-info TOPOLOGY [--state DIR] [--json]
 *   meridian redis-cli    TOPOLOGY [--leader | --host H | --sentinel H] [-- ARGS]
 *   meridian switchover   TOPOLOGY --to HOST|REGION [--shard N] [--yes] [--json]
 *   meridian rollout      TOPOLOGY [--restart | --upgrade] [--yes] [--json]
 *   meridian backup       TOPOLOGY [--list | --cron] [--json]
 *   meridian restore      TOPOLOGY --from ID [--yes] [--force] [--json]
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_client.h"
#include "backup_run.h"
#include "certs.h"
#include "deploy.h"
#include "drill.h"
#include "fsutil.h"
#include "heal_report.h"
#include "replace.h"
#include "health.h"
#include "lock.h"
#include "log.h"
#include "orch.h"
#include "rebalance_run.h"
#include "reconcile.h"
#include "render.h"
#include "rollout.h"
#include "settings.h"
#include "scale.h"
#include "status.h"
#include "switchover.h"

#define EXIT_USAGE 64
#define EXIT_DATAERR 65 /* the topology file is invalid */

typedef struct cli {
    const char *cmd;
    const char *topology;
    const char *state;
    const char *host;     /* redis-cli --host / --sentinel */
    bool json;
    bool yes;
    bool leader;
    bool sentinel;
    bool accept_new_host_keys; /* ssh: trust an unknown host key on first use */
    bool install_packages;     /* ssh deploy: apt-get redis when missing */
    int parallel;
    int timeout_s;
    const char *out_dir;  /* drill --out */
    int duration_s;       /* drill --duration */
    int rate;             /* drill --rate */
    bool wait;            /* drill --wait */
    bool upgrade;         /* rollout --upgrade (--restart: the default) */
    int replace_after_s;  /* drill --replace-after */
    const char *to;       /* switchover --to HOST|REGION */
    int shard;            /* switchover --shard N (from 1); 0 unset */
    bool list;            /* backup --list */
    bool cron;            /* backup --cron */
    const char *from;     /* restore --from ID */
    bool force;           /* restore --force */
    char **rest;          /* after "--" */
    int nrest;
} cli;

static int cmd_plan(const cli *o);
static int cmd_deploy(const cli *o);
static int cmd_status(const cli *o);
static int cmd_heal(const cli *o);
static int cmd_destroy(const cli *o);
static int cmd_rebalance(const cli *o);
static json_t *heal_rebalance(orch_ctx *c);
static int cmd_connect_info(const cli *o);
static int cmd_redis_cli(const cli *o);
static int cmd_drill(const cli *o);
static int cmd_switchover(const cli *o);
static int cmd_rollout(const cli *o);
static int cmd_backup(const cli *o);
static int cmd_restore(const cli *o);
static int cmd_settings(int argc, char **argv);

/* The one command table: name, what runs it, and its help (the usage line
 * and what it does), in the order `meridian --help` lists them.  A command
 * with RUN takes the common options (parse()); one with RUN_ARGV parses
 * its own. */
static const struct command {
    const char *name;
    int (*run)(const cli *o);
    int (*run_argv)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"drill", cmd_drill, NULL,
     "drill TOPOLOGY SCENARIO [ARG] [--out DIR] [--json] [--duration S] [--rate N]\n"
     "      [--wait] [--timeout SECONDS] [--replace-after S] [--state DIR]\n"
     "  Break something on purpose while a writer load runs, measure failover\n"
     "  time and lost writes, put everything back and verify.  SCENARIO is\n"
     "  kill-leader, replica-loss [HOST], region-outage REGION, partition REGION\n"
     "  or sentinel-loss [HOST]; in cluster mode kill-leader [SHARD] (from 1)\n"
     "  and no sentinel-loss, with a slot-routing writer and a section per\n"
     "  shard in the report.  --out DIR gets report.json, report.txt and\n"
     "  timeline.svg; --duration (default 12) and --rate (writes/s, default\n"
     "  200) shape the load; --wait waits out the failover cooldown\n"
     "  instead of refusing.  Faults are applied on the hosts through the\n"
     "  topology's transport (ssh included); a partition needs nftables and\n"
     "  root (or sudo -n) on the region's hosts.\n"
     "  host-loss HOST: stop every process of HOST (agent first) and keep it\n"
     "  down; heal replaces it on a spare (agent.replace_after_s shrunk to\n"
     "  --replace-after, default 5); then the old host's agent is started\n"
     "  again and must stay fenced.  The report adds the time to detect and\n"
     "  to the replacement ready, the bytes the leader sent (against a full\n"
     "  sync) and whether the layout keeps the plan's rules.  The spare keeps\n"
     "  standing in afterwards.\n"
     "  scale (cluster mode): change cluster.shards in TOPOLOGY, then run this\n"
     "  instead of deploy.  It runs the same deploy (its progress on stdout,\n"
     "  stderr with --json; --timeout is deploy's) while the writer writes\n"
     "  over all slots, reads every write back from the nodes that own them\n"
     "  afterwards and reports acknowledged writes lost, the longest gap\n"
     "  between two acknowledged writes of one writer, writes/s before,\n"
     "  during and after the scale, its duration and deploy's exit code.  It\n"
     "  passes when the deploy exits 0 and nothing acknowledged was lost;\n"
     "  refused when the topology asks for no change.\n"
     "  switchover HOST|REGION (sentinel mode): `meridian switchover --to ARG\n"
     "  --yes` under the load; the report adds how long writes were paused on\n"
     "  the old leader.  sentinel-failover: the baseline, SENTINEL FAILOVER\n"
     "  sent by hand to one sentinel (no pause, no chosen replica).  Both\n"
     "  report acknowledged writes lost and the longest gap between\n"
     "  acknowledged writes the application saw.  rollout: `meridian rollout\n"
     "  --yes` under the load; the report adds each step's time.\n"
     "  total-loss (sentinel mode, a topology with a backup section): `meridian\n"
     "  backup` under the load, 2 s more writes, then every redis-server of\n"
     "  every region SIGKILLed (sentinels and agents keep running) and the\n"
     "  backup restored as `meridian restore --yes` does.  The report adds the\n"
     "  RTO (kill -> first acknowledged write, kill -> healthy) and the RPO:\n"
     "  every write read back, those acknowledged after the backup that are\n"
     "  missing counted (writes during the backup checked one by one).  It\n"
     "  fails when a write acknowledged before the backup or after the\n"
     "  restore is missing, or the backup or the restore fails.\n"
     "  Exits 0 pass, 2 fail, 1 refused in preflight, 64 the scenario does not\n"
     "  fit the topology's mode.\n"},
    {"plan", cmd_plan, NULL,
     "plan TOPOLOGY [--state DIR] [--json]\n"
     "  Validate the topology, place the leader, replicas and sentinels (in\n"
     "  cluster mode: shards), and show what the loss of each region and zone\n"
     "  would leave.  A deployed cluster is planned from the placement its\n"
     "  state dir records: running nodes stay, new shards are placed, shards\n"
     "  beyond cluster.shards retire.  Exits 0 when the layout is safe, 2\n"
     "  when it is refused (the reason is printed), 65 when the file is\n"
     "  invalid.\n"},
    {"deploy", cmd_deploy, NULL,
     "deploy TOPOLOGY [--state DIR] [--parallel N] [--timeout SECONDS]\n"
     "      [--accept-new-host-keys] [--install-packages]\n"
     "  Write each host's manifest, start its agent, which starts the host's\n"
     "  redis-server and redis-sentinel, then verify replication and sentinel\n"
     "  agreement.  Idempotent: a healthy deployment is left alone (\"no\n"
     "  changes\").  --parallel bounds hosts handled at once (default: all);\n"
     "  --timeout bounds verification (default 60).  Over ssh, each host gets\n"
     "  the agent, its secrets and its manifest; host keys are checked against\n"
     "  known_hosts (--accept-new-host-keys records unknown ones; a changed key\n"
     "  is always refused); --install-packages apt-gets a missing Redis.\n"
     "  One deploy or destroy of a state dir at a time: another one waits up\n"
     "  to 30 s (--timeout if shorter), then exits 75 naming it.  Each host's\n"
     "  line says what this run did (\"agent started\" only for an agent it\n"
     "  started).\n"
     "  Cluster mode: a changed cluster.shards is carried out online: the plan\n"
     "  diff (new or retiring nodes, slots to move, keys, bytes, estimated\n"
     "  time) first, then new nodes, slots moved with progress, drained\n"
     "  shards retired; a run killed in the middle is finished by the next.\n"
     "  Exits 0 healthy, 1 not verified in time, 2 a host failed (the others\n"
     "  are deployed: run it again once fixed), 75 another deploy or destroy\n"
     "  of the same state dir is running.\n"},
    {"status", cmd_status, NULL,
     "status TOPOLOGY [--state DIR] [--json]\n"
     "  Probe every node and sentinel concurrently, and ask every host's agent\n"
     "  whether its nodes are ready.  Exits 0 OK, 1 WARNING (degraded but\n"
     "  serving, or an agent is down), 2 CRITICAL (no writable leader or no\n"
     "  sentinel majority), 3 UNKNOWN (could not tell).\n"},
    {"heal", cmd_heal, NULL,
     "heal TOPOLOGY [--state DIR] [--json]\n"
     "  First, a host lost for good (its agent and every process on it\n"
     "  unreachable for agent.replace_after_s, default 300 s) is replaced on a\n"
     "  spare host (\"spare\": true): fenced with a new generation so it can\n"
     "  never rejoin, its nodes restored on the spare from a peer's snapshot,\n"
     "  then forgotten by the sentinels or the cluster (+host-lost,\n"
     "  +host-replaced).  Only while a majority can act; one host at a time;\n"
     "  it waits (up to 60 s) for a host about to cross replace_after_s.\n"
     "  Then ask every host's agent, all at once, to run one check-and-heal pass\n"
     "  (POST /v1/heal), then print each action taken and one line per host.\n"
     "  Over ssh, a host whose agent API does not answer runs the same pass\n"
     "  through ssh (meridian-agent check --heal).\n"
     "  Cluster mode: when the passes leave the cluster healthy, masters that\n"
     "  failovers moved out of their planned region are moved back as\n"
     "  `rebalance --yes` does, and the moves are reported.\n"
     "  Safe from cron: each agent takes a lock, so overlapping runs never act\n"
     "  twice.  Exits with the most severe host result: 0 OK, 1 WARNING\n"
     "  (healed something, or degraded but serving), 2 CRITICAL (could not\n"
     "  heal), 3 UNKNOWN (an agent did not answer or refused the token);\n"
     "  CRITICAL outranks UNKNOWN.\n"},
    {"rebalance", cmd_rebalance, NULL,
     "rebalance TOPOLOGY [--yes] [--json] [--state DIR] [--timeout SECONDS]\n"
     "  Cluster mode: move each shard's master back to the region the plan put\n"
     "  it in, one shard at a time, with a coordinated CLUSTER FAILOVER (no\n"
     "  FORCE, no TAKEOVER: nothing acknowledged is lost) sent to a caught-up\n"
     "  replica there; a replica that follows another shard's master is\n"
     "  repointed first.  Every node is read again before each step.  Without\n"
     "  --yes, only say what the next step would be.  Refuses while a node is\n"
     "  down, a failover is running or spreading, or the replica lags.\n"
     "  --timeout bounds the whole run (default 120).\n"
     "  Exits 0 balanced (nothing to do, or done and status OK), 1 steps are\n"
     "  needed (without --yes), 2 refused or failed (the reason is printed;\n"
     "  sentinel mode is refused), 75 a deploy, destroy or rebalance of the\n"
     "  same state dir is running.\n"},
    {"switchover", cmd_switchover, NULL,
     "switchover TOPOLOGY --to HOST|REGION [--shard N] [--yes] [--json] [--state DIR]\n"
     "  Move the leader (cluster mode: shard N's master, default 1) to a caught-up\n"
     "  replica on HOST or in REGION without losing an acknowledged write.\n"
     "  Sentinel mode: the other replicas' agents hold them at replica-priority 0,\n"
     "  writes are paused on the old leader (CLIENT PAUSE WRITE, a 1 s lease\n"
     "  renewed while needed), the target catches up to the leader's offset,\n"
     "  one sentinel is asked to fail over (SENTINEL FAILOVER), the old leader\n"
     "  becomes the target's replica, writes are unpaused, every sentinel and\n"
     "  replica is verified to follow the target, and the holds are released.\n"
     "  A step that fails before the failover rolls back: the old leader keeps\n"
     "  serving.  Cluster mode: a coordinated CLUSTER FAILOVER on the target,\n"
     "  then the shard's master is recorded there (heal and rebalance keep it).\n"
     "  The state is kept in STATE/switchover.json: a switchover killed at any\n"
     "  step is finished (or rolled back and done again) by the next run\n"
     "  (cluster mode: also by heal and rebalance --yes, before they move\n"
     "  masters back).  Refused, with the reason, when the deployment is not\n"
     "  healthy, a failover runs or ran less than its cooldown ago, no\n"
     "  caught-up replica is there, or (cluster mode) the plan with the master\n"
     "  there would not survive the loss of a domain `survive` names.\n"
     "  Without --yes, only say what it would do.\n"
     "  Exits 0 done (or the leader is there already), 1 steps needed (without\n"
     "  --yes), 2 refused or failed, 75 another deploy, rebalance or\n"
     "  switchover of the state dir is running.\n"},
    {"rollout", cmd_rollout, NULL,
     "rollout TOPOLOGY [--restart | --upgrade] [--yes] [--json] [--state DIR]\n"
     "  Restart every node and sentinel, one at a time, without losing a write\n"
     "  or a copy: first every host's manifest is written with the topology's\n"
     "  values (the settings deploy reported as \"needs restart\", a new\n"
     "  store.redis_server) and every agent restarted with this meridian-agent\n"
     "  build (Redis and Sentinel keep running); then each replica is restarted\n"
     "  by its agent and rebuilt from a peer's snapshot with a partial resync\n"
     "  (never a full sync of the dataset), the leaders' regions last; then each\n"
     "  sentinel; then each shard's leader hands over to a caught-up replica\n"
     "  (its own region first) as `meridian switchover` does, and the old leader\n"
     "  is restarted as a replica.  Each step waits for status OK before the\n"
     "  next.  --restart (the default) and --upgrade run the same steps;\n"
     "  --upgrade also prints what redis-server every node runs afterwards\n"
     "  (INFO server: executable, version).  The steps are kept in\n"
     "  STATE/rollout.json: a rollout killed or failed at any step goes on from\n"
     "  it when run again.  Without --yes, only list the steps.\n"
     "  Exits 0 done, 1 steps listed (without --yes), 2 refused or a step failed\n"
     "  (the reason is printed; run it again to go on), 3 could not look, 75\n"
     "  another deploy, rebalance, switchover or rollout of the state dir runs.\n"},
    {"backup", cmd_backup, NULL,
     "backup TOPOLOGY [--list | --cron] [--json] [--state DIR]\n"
     "  Copy the deployment's data to the S3-compatible object storage of the\n"
     "  topology's backup section: for every shard, the RDB snapshot of a\n"
     "  healthy replica (the leader never forks for it), checked (header,\n"
     "  CRC64, end) and counted, uploaded with its SHA-256 (multipart when\n"
     "  large) and read back; a manifest is written last.  Then old backups go\n"
     "  (backup.keep_last, backup.keep_days), with interrupted ones and\n"
     "  abandoned uploads; a failed backup deletes nothing.  Progress goes to\n"
     "  stderr; --json prints {\"id\", \"keys\", \"bytes\", ...} (the id is what\n"
     "  `restore --from` takes).\n"
     "  Credentials come from backup.credentials_file (mode 0600) or the\n"
     "  AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment variables.\n"
     "  --list shows the backups in the bucket instead, newest first; --cron\n"
     "  prints a crontab entry that backs up daily (its minute from the\n"
     "  topology's name, so deployments do not all start at once).\n"
     "  Exits 0 done, 2 failed (the sentence names the shard, node or object),\n"
     "  75 another backup or restore of the state dir runs.\n"},
    {"restore", cmd_restore, NULL,
     "restore TOPOLOGY --from ID [--yes] [--force] [--json] [--state DIR]\n"
     "  Load backup ID (or NAME/ID: another topology's backup in the same\n"
     "  bucket) into the deployment, which must be deployed and empty (nothing\n"
     "  running, or no keys): the RDB is downloaded into the state dir and its\n"
     "  SHA-256 and keys checked against the manifest, loaded by the leader's\n"
     "  agent while the replicas are held unpromotable, and the replicas sync\n"
     "  from the leader.  It waits until every node is healthy and checks the\n"
     "  leader loaded every key of the backup.  Cluster mode: into a deployment\n"
     "  whose shards own the slots the backup's did (a fresh deploy).  Without\n"
     "  --yes, only check the backup and the deployment.  --force restores over\n"
     "  nodes that hold keys (they are lost).  Exits 0 done, 1 checked (without\n"
     "  --yes), 2 refused or failed, 75 another backup or restore runs.\n"},
    {"destroy", cmd_destroy, NULL,
     "destroy TOPOLOGY [--yes] [--state DIR] [--accept-new-host-keys]\n"
     "  Stop every process of the topology by its pid file and remove its\n"
     "  state (credentials included; over ssh, each host's folder, systemd\n"
     "  unit and cron entry).  Without --yes, only say what it would stop.\n"
     "  Exits 0 done, 1 a host could not be stopped (state kept) or part of\n"
     "  the state could not be removed (each entry left is named), 75 another\n"
     "  deploy or destroy of the same state dir is running (waits 30 s).\n"},
    {"connect-info", cmd_connect_info, NULL,
     "connect-info TOPOLOGY [--state DIR] [--json]\n"
     "  Print what an application needs to connect: sentinel mode, the\n"
     "  sentinel addresses and master name; cluster mode, seed nodes (every\n"
     "  shard's master); then the application user and its password (for a\n"
     "  secret store; the only command that prints it); with TLS, the CA\n"
     "  certificate to verify the servers with (--json: \"tls\", \"ca_file\").\n"},
    {"settings", NULL, cmd_settings,
     "settings [--json | --markdown SECTION]\n"
     "  List every topology setting: its key, type, default, where it lands\n"
     "  (redis.conf, sentinel.conf, agent, planner) and how a change reaches a\n"
     "  running deployment (live, agent restart, needs restart, new plan,\n"
     "  scale (online)).\n"
     "  --markdown SECTION prints the key table regions/README.md shows.\n"},
    {"redis-cli", cmd_redis_cli, NULL,
     "redis-cli TOPOLOGY [--leader | --host HOST | --sentinel HOST] "
     "[--state DIR] [-- ARGS...]\n"
     "  Run redis-cli against a node (default: the leader; cluster mode:\n"
     "  shard 1's master, with -c to follow redirects) or a sentinel as the\n"
     "  admin user, over TLS with the deployment's CA when tls.enabled.  The\n"
     "  password goes through the environment (REDISCLI_AUTH), never the\n"
     "  command line.\n"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: meridian COMMAND TOPOLOGY [OPTIONS]\n\n"
                 "Deploys Redis leaders, replicas and sentinels across regions, zones and\n"
                 "hosts, and keeps them healthy.  Common options: --state DIR (default\n"
                 "$XDG_STATE_HOME/meridian/<name>), --json, -h/--help.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %s", commands[i].help);
}

static bool command_usage(const char *cmd, FILE *out)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(cmd, commands[i].name) == 0) {
            fprintf(out, "usage: meridian %s", commands[i].help);
            return true;
        }
    return false;
}

static int report(const mrd_error *err)
{
    char buf[1024];
    mrd_error_format(err, buf, sizeof(buf));
    fprintf(stderr, "meridian: %s\n", buf);
    return 1;
}

/* Exit code for a failure to open the topology. */
static int open_failure(const mrd_error *err, int unknown_code)
{
    report(err);
    if (err->code == MRD_ERR_PARSE || err->code == MRD_ERR_INVALID)
        return EXIT_DATAERR;
    if (err->code == MRD_ERR_UNSAFE)
        return 2;
    return unknown_code;
}

static void print_json(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(j);
}

/* ==== plan ==== */

static int cmd_plan(const cli *o)
{
    mrd_topology *t = NULL;
    mrd_plan *p = NULL;
    mrd_error err;
    if (topology_load(o->topology, &t, &err) != MRD_OK)
        return open_failure(&err, EXIT_DATAERR);
    char from[MRD_PATH_MAX];
    if (orch_plan_from_state(t, o->state, &p, from, sizeof(from), &err) != MRD_OK) {
        topology_free(&t);
        return open_failure(&err, EXIT_DATAERR);
    }
    mrd_rc safe = plan_check(p, &err);
    if (o->json) {
        json_t *j = plan_to_json(p);
        json_object_set_new(j, "safe", json_boolean(safe == MRD_OK));
        json_object_set_new(j, "refusal", safe == MRD_OK ? json_null() : json_string(err.msg));
        json_object_set_new(j, "placement", from[0] ? json_string(from) : json_null());
        print_json(j);
    } else {
        if (from[0])
            printf("(from the deployed placement %s: running nodes stay where they run)\n",
                   from);
        plan_print(stdout, p);
        printf("\n%s\n", safe == MRD_OK ? "layout is safe" : "layout REFUSED");
    }
    if (safe != MRD_OK)
        report(&err);
    plan_free(&p);
    topology_free(&t);
    return safe == MRD_OK ? 0 : 2;
}

/* ==== deploy, status, heal, destroy ==== */

/* orch_open_ex() with OO (NULL: the defaults), then the agent client set
 * to what the topology says about TLS, for the whole process: every
 * command that opens a topology talks to its agents the same way. */
static mrd_rc open_with(const cli *o, const orch_opts *oo, orch_ctx **c, mrd_error *err)
{
    mrd_rc rc = orch_open_ex(o->topology, o->state, oo, c, err);
    if (rc == MRD_OK && (rc = agent_client_set_tls_for(*c, err)) != MRD_OK)
        orch_close(c);
    return rc;
}

/* open_with() with what the command line says about reaching hosts. */
static mrd_rc open_ctx(const cli *o, orch_ctx **c, mrd_error *err)
{
    orch_opts oo = {.accept_new_host_keys = o->accept_new_host_keys,
                    .install_packages = o->install_packages};
    return open_with(o, &oo, c, err);
}

static int cmd_deploy(const cli *o)
{
    orch_ctx *c = NULL;
    mrd_error err;
    if (open_ctx(o, &c, &err) != MRD_OK)
        return open_failure(&err, 2);
    deploy_opts d = {.parallel = o->parallel,
                     .verify_timeout_ms = (o->timeout_s > 0 ? o->timeout_s : 60) * 1000,
                     .progress = stdout};
    int rc = deploy_run(c, &d);
    orch_close(&c);
    return rc;
}

static int cmd_status(const cli *o)
{
    orch_ctx *c = NULL;
    st_report *r = NULL;
    mrd_error err;
    if (open_with(o, NULL, &c, &err) != MRD_OK) {
        report(&err); /* monitoring reads the exit code: could not tell */
        return MRD_HEALTH_UNKNOWN;
    }
    status_opts so = {.timeout_ms = 1000, .ask_agents = true, .check_certs = true,
                      .check_backup = true};
    if (status_probe_ex(c, &so, &r, &err) != MRD_OK) {
        report(&err);
        if (o->json)
            print_json(json_pack("{s:s,s:s,s:s}", "topology", c->topo->name, "health",
                                 "unknown", "summary", err.msg));
        orch_close(&c);
        return MRD_HEALTH_UNKNOWN;
    }
    if (o->json)
        print_json(status_to_json(c, r));
    else
        status_print(stdout, c, r);
    int rc = (int)r->health;
    status_free(&r);
    orch_close(&c);
    return rc;
}

/* One heal of the deployment C: every agent's pass, the ssh fallback, the
 * report (JSON on stdout, else text on OUT).  Returns heal's exit code. */
static int heal_once(orch_ctx *c, bool json, FILE *out)
{
    agent_result *res = NULL;
    mrd_error err;
    const mrd_topology *t = c->topo;
    /* a host lost for good first: replaced on a spare, so that the
     * agents' passes below see the deployment as it now is */
    replace_report *lost = calloc(1, sizeof(*lost));
    replace_opts ro = {.wait_max_ms = REPLACE_WAIT_MAX_MS,
                       .ready_timeout_ms = REPLACE_READY_TIMEOUT_MS,
                       .progress = json ? stderr : out};
    json_t *lost_json = NULL;
    if (lost && replace_run(c, &ro, lost, &err) != MRD_OK)
        fprintf(stderr, "meridian: looking for lost hosts: %s\n", err.msg);
    if (lost && lost->n > 0)
        lost_json = replace_report_json(lost);
    free(lost);
    const char **hosts = calloc((size_t)t->nhosts, sizeof(*hosts));
    if (!hosts || agent_heal_all(c, NULL, &res, &err) != MRD_OK) {
        json_decref(lost_json);
        if (!hosts)
            mrd_error_set(&err, MRD_ERR_NOMEM, "out of memory");
        report(&err);
        if (json)
            print_json(json_pack("{s:s,s:i,s:s,s:[],s:s}", "topology", t->name, "code",
                                 MRD_HEALTH_UNKNOWN, "status", mrd_health_name(MRD_HEALTH_UNKNOWN),
                                 "hosts", "error", err.msg));
        free(hosts);
        return MRD_HEALTH_UNKNOWN;
    }
    deploy_heal_fallback(c, res, stderr); /* ssh: agents whose API is unreachable */
    for (int i = 0; i < t->nhosts; i++)
        hosts[i] = t->hosts[i].name;
    json_t *rep = heal_report_new(t->name, hosts, res, t->nhosts);
    agent_results_free(&res, t->nhosts);
    free(hosts);
    if (lost_json)
        heal_report_set_hosts_lost(rep, lost_json);
    /* cluster mode: masters back to the plan once the passes healed what
     * they could (the rebalance reads every node again and refuses while
     * anything is down or settling) */
    if (rep && t->mode == MRD_MODE_CLUSTER && heal_report_code(rep) <= MRD_HEALTH_WARNING) {
        /* a slot move a killed deploy left open: finished (clients were
         * being sent ASK for it); the rest of a scale is deploy's */
        int done = 0;
        if (cluster_finish_open(c, stderr, &done, &err) != MRD_OK)
            fprintf(stderr, "meridian: open slot moves not finished: %s\n", err.msg);
        heal_report_set_rebalance(rep, heal_rebalance(c));
    }
    int rc = MRD_HEALTH_UNKNOWN;
    if (!rep) {
        fprintf(stderr, "meridian: out of memory\n");
    } else {
        rc = heal_report_code(rep);
        if (json)
            print_json(rep);
        else {
            heal_report_print(out, rep);
            json_decref(rep);
        }
    }
    return rc;
}

static int cmd_heal(const cli *o)
{
    orch_ctx *c = NULL;
    mrd_error err;
    if (open_ctx(o, &c, &err) != MRD_OK) {
        report(&err); /* cron and monitoring read the exit code: could not tell */
        return MRD_HEALTH_UNKNOWN;
    }
    int rc = heal_once(c, o->json, stdout);
    orch_close(&c);
    return rc;
}

/* ==== rebalance ==== */

/* STATE/rebalance.lock names the holder of the state dir's lock (the same
 * flock on the folder that deploy and destroy take): one acting command
 * at a time. */
#define REBALANCE_LOCK_RECORD "rebalance.lock"

/* A cluster that is still settling (a failover spreading) is waited for
 * this long after the node timeout before --yes (and heal) refuse. */
#define REBALANCE_SETTLE_EXTRA_MS 2000

/* Rebalance C with --yes semantics for `heal`: the report's JSON, or a
 * "skipped" one when the state dir's lock is held (new reference). */
static json_t *heal_rebalance(orch_ctx *c)
{
    mrd_lock *l = NULL;
    mrd_error err;
    if (mrd_lock_take(c->state_dir, REBALANCE_LOCK_RECORD, "rebalance", 0, &l, NULL, &err) !=
        MRD_OK)
        return json_pack("{s:s,s:s,s:[]}", "outcome", "skipped", "reason",
                         "a deploy, destroy or rebalance of this state dir is running",
                         "moves");
    /* a switchover killed after its failover: recorded first, or the
     * rebalance would move the master back */
    if (switchover_finish_killed(c, stderr, &err) < 0) {
        mrd_lock_release(&l);
        return json_pack("{s:s,s:s,s:[]}", "outcome", "failed", "reason", err.msg, "moves");
    }
    rebalance_opts ro = {.apply = true,
                         .settle_ms = c->topo->settings.cluster.node_timeout_ms +
                                      REBALANCE_SETTLE_EXTRA_MS,
                         .timeout_ms = 120000};
    rebalance_report rr;
    json_t *j = NULL;
    if (rebalance_run(c, &ro, &rr, &err) == MRD_OK)
        j = rebalance_report_json(c, &rr);
    else
        j = json_pack("{s:s,s:s,s:[]}", "outcome", "failed", "reason", err.msg, "moves");
    mrd_lock_release(&l);
    return j;
}

static void print_rebalance_text(const orch_ctx *c, const cli *o, const rebalance_report *r)
{
    const rebal_decision *d = &r->last;
    switch (r->outcome) {
    case REBAL_OUT_BALANCED:
        printf("%s: %s\n", c->topo->name, d->text);
        break;
    case REBAL_OUT_PLANNED:
        printf("%s: %d shard%s off plan%s\n  would %s", c->topo->name, d->off_plan,
               d->off_plan == 1 ? "" : "s",
               d->misplaced ? ", replicas following another shard's master" : "", d->text);
        if (d->kind == REBAL_MOVE)
            printf(" (its lag: %lld bytes)", d->lag_bytes);
        printf("\n%s%s run `meridian rebalance %s --yes` to do it\n",
               d->off_plan > 1 ? "  then the next shard, decided after that move has spread;\n"
                               : "",
               d->off_plan > 1 ? "" : " ", o->topology);
        break;
    case REBAL_OUT_REFUSED:
    case REBAL_OUT_FAILED:
    default:
        break;
    }
}

static int cmd_rebalance(const cli *o)
{
    orch_ctx *c = NULL;
    mrd_error err;
    if (open_ctx(o, &c, &err) != MRD_OK)
        return open_failure(&err, 2);
    if (c->topo->mode != MRD_MODE_CLUSTER) {
        fprintf(stderr, "meridian: %s: rebalance moves the masters of a Redis Cluster; "
                        "sentinel mode has one leader, placed by Sentinel's replica "
                        "priorities (nothing was changed)\n",
                c->topo->path);
        orch_close(&c);
        return 2;
    }
    mrd_lock *l = NULL;
    if (o->yes) {
        mrd_lock_holder who = {0};
        mrd_rc lrc = mrd_lock_take(c->state_dir, REBALANCE_LOCK_RECORD, "rebalance", 10000,
                                   &l, &who, &err);
        if (lrc != MRD_OK) {
            if (lrc == MRD_ERR_TIMEOUT)
                fprintf(stderr, "meridian: another %s of %s is running (pid %d); run "
                                "rebalance again once it has finished\n",
                        who.what[0] ? who.what : "deploy, destroy or rebalance",
                        c->topo->name, (int)who.pid);
            else
                report(&err);
            orch_close(&c);
            return lrc == MRD_ERR_TIMEOUT ? 75 : 2;
        }
        if (switchover_finish_killed(c, o->json ? stderr : stdout, &err) < 0) {
            mrd_lock_release(&l);
            orch_close(&c);
            report(&err);
            return 2;
        }
    }
    rebalance_opts ro = {.apply = o->yes,
                         .settle_ms = o->yes ? c->topo->settings.cluster.node_timeout_ms +
                                                   REBALANCE_SETTLE_EXTRA_MS
                                             : 0,
                         .timeout_ms = (o->timeout_s > 0 ? o->timeout_s : 120) * 1000,
                         .progress = o->json ? NULL : stdout};
    rebalance_report rr;
    if (rebalance_run(c, &ro, &rr, &err) != MRD_OK) {
        mrd_lock_release(&l);
        orch_close(&c);
        report(&err);
        return 2;
    }
    mrd_lock_release(&l);
    int rc = rr.outcome == REBAL_OUT_BALANCED ? 0 : rr.outcome == REBAL_OUT_PLANNED ? 1 : 2;
    /* after steps: the masters as planned and nothing else wrong */
    st_report *after = NULL;
    char verdict[600] = "";
    if (rr.outcome == REBAL_OUT_BALANCED && rr.nsteps > 0) {
        if (status_probe(c, 1000, &after, &err) != MRD_OK)
            snprintf(verdict, sizeof(verdict), "unknown - %s", err.msg);
        else
            snprintf(verdict, sizeof(verdict), "%s - %s", mrd_health_name(after->health),
                     after->summary);
        if (!after || after->health != MRD_HEALTH_OK)
            rc = 2;
    }
    if (o->json) {
        json_t *j = rebalance_report_json(c, &rr);
        json_object_set_new(j, "topology", json_string(c->topo->name));
        json_object_set_new(j, "applied", json_boolean(o->yes));
        json_object_set_new(j, "status", verdict[0] ? json_string(verdict) : json_null());
        json_object_set_new(j, "code", json_integer(rc));
        print_json(j);
    } else {
        print_rebalance_text(c, o, &rr);
        if (verdict[0])
            printf("%d step%s in %.1f s; status %s\n", rr.nsteps, rr.nsteps == 1 ? "" : "s",
                   (double)rr.ms / 1000.0, verdict);
    }
    if (rr.outcome == REBAL_OUT_REFUSED)
        fprintf(stderr, "meridian: rebalance refused%s: %s\n",
                rr.nsteps ? " after the steps above" : "", rr.last.text);
    else if (rr.outcome == REBAL_OUT_FAILED)
        fprintf(stderr, "meridian: rebalance failed: %s\n", rr.error);
    else if (rc == 2)
        fprintf(stderr, "meridian: the masters are back as planned, but status is not OK: %s\n",
                verdict);
    status_free(&after);
    orch_close(&c);
    return rc;
}

/* A drill's heal: `meridian heal`, its report on stderr (stdout holds the
 * drill's). */
static int drill_heal(orch_ctx *c)
{
    return heal_once(c, false, stderr);
}

static int cmd_destroy(const cli *o)
{
    orch_ctx *c = NULL;
    mrd_error err;
    if (open_ctx(o, &c, &err) != MRD_OK)
        return open_failure(&err, 1);
    int rc = destroy_run(c, o->yes, stdout);
    orch_close(&c);
    return rc;
}

/* ==== connect-info, redis-cli ==== */

/* The CA certificate applications verify the deployment with, into BUF;
 * false without TLS. */
static bool tls_ca(const orch_ctx *c, char *buf, size_t n)
{
    return c->topo->settings.tls.enabled && mrd_tls_ca_file(c->secrets_dir, buf, n, NULL) ==
                                                MRD_OK;
}

/* connect-info's JSON J with "tls" and "ca_file" (null without TLS). */
static json_t *with_tls(const orch_ctx *c, json_t *j)
{
    char ca[MRD_PATH_MAX];
    bool tls = tls_ca(c, ca, sizeof(ca));
    json_object_set_new(j, "tls", json_boolean(tls));
    json_object_set_new(j, "ca_file", tls ? json_string(ca) : json_null());
    return j;
}

static void print_tls(const orch_ctx *c)
{
    char ca[MRD_PATH_MAX];
    if (!tls_ca(c, ca, sizeof(ca))) {
        printf("tls:           no\n");
        return;
    }
    printf("tls:           yes, on every port above (no plaintext); verify the servers with\n"
           "ca file:       %s\n"
           "               (redis-cli --tls --cacert %s ...)\n",
           ca, ca);
}

/* Cluster mode's connect-info: every shard's master now (any node would
 * do as a seed: a cluster client reads the slot map from the first that
 * answers), or the plan's masters when the cluster cannot be asked. */
static int print_cluster_seeds(orch_ctx *c, bool json, const char *pass)
{
    st_report *r = NULL;
    mrd_error err;
    bool live = status_probe(c, 1000, &r, &err) == MRD_OK;
    json_t *seeds = json_array();
    for (int s = 0; s < c->plan->nshards; s++) {
        int m = live && r->shards[s].master >= 0 ? r->shards[s].master
                                                 : c->plan->shards[s].master;
        json_array_append_new(seeds, json_pack("{s:s,s:i}", "address",
                                               plan_node_host(c->plan, m)->address, "port",
                                               c->plan->nodes[m].port));
    }
    status_free(&r);
    if (json) {
        json_t *j = json_pack("{s:s,s:o,s:s,s:s}", "mode", "cluster", "seeds", seeds, "user",
                              "app", "password", pass);
        print_json(with_tls(c, j));
        return 0;
    }
    printf("cluster seeds:");
    size_t i;
    json_t *x;
    json_array_foreach(seeds, i, x)
        printf(" %s:%lld", json_string_value(json_object_get(x, "address")),
               json_integer_value(json_object_get(x, "port")));
    printf("\nuser:          app\npassword:      %s\n", pass);
    print_tls(c);
    json_decref(seeds);
    return 0;
}

static int cmd_connect_info(const cli *o)
{
    orch_ctx *c = NULL;
    mrd_error err;
    char pass[MRD_SECRET_LEN];
    if (open_with(o, NULL, &c, &err) != MRD_OK)
        return open_failure(&err, 1);
    if (orch_secret(c, "app", pass, sizeof(pass), &err) != MRD_OK) {
        orch_close(&c);
        return report(&err);
    }
    const mrd_topology *t = c->topo;
    if (t->mode == MRD_MODE_CLUSTER) {
        int rc = print_cluster_seeds(c, o->json, pass);
        memset(pass, 0, sizeof(pass));
        orch_close(&c);
        return rc;
    }
    json_t *sentinels = json_array();
    for (int i = 0; i < t->nhosts; i++)
        if (c->plan->hosts[i].sentinel)
            json_array_append_new(sentinels,
                                  json_pack("{s:s,s:i}", "address", t->hosts[i].address,
                                            "port", t->settings.sentinel.port));
    if (o->json) {
        print_json(with_tls(c, json_pack("{s:s,s:o,s:s,s:s,s:s}", "master_name", t->name,
                                         "sentinels", sentinels, "user", "app", "password",
                                         pass, "sentinel_user", "app")));
    } else {
        printf("master name:   %s\nsentinels:    ", t->name);
        size_t i;
        json_t *s;
        json_array_foreach(sentinels, i, s)
            printf(" %s:%lld", json_string_value(json_object_get(s, "address")),
                   json_integer_value(json_object_get(s, "port")));
        printf("\nuser:          app (the same user and password on the sentinels)\n"
               "password:      %s\n",
               pass);
        print_tls(c);
        json_decref(sentinels);
    }
    memset(pass, 0, sizeof(pass));
    orch_close(&c);
    return 0;
}

static int cmd_redis_cli(const cli *o)
{
    orch_ctx *c = NULL;
    mrd_error err;
    char pass[MRD_SECRET_LEN];
    if (open_with(o, NULL, &c, &err) != MRD_OK)
        return open_failure(&err, 1);
    const mrd_topology *t = c->topo;
    int host = -1, port = o->sentinel ? t->settings.sentinel.port : t->settings.store.port;
    if (o->host) {
        host = topology_find_host(t, o->host);
        if (host < 0) {
            fprintf(stderr, "meridian: no host \"%s\" in %s\n", o->host, t->name);
            orch_close(&c);
            return EXIT_USAGE;
        }
        if (o->sentinel && !c->plan->hosts[host].sentinel) {
            fprintf(stderr, "meridian: host %s runs no sentinel\n", o->host);
            orch_close(&c);
            return EXIT_USAGE;
        }
        int node = -1; /* the host's first node, whatever its shard */
        for (int s = 0; node < 0 && s < c->plan->nshards; s++)
            node = plan_node_on(c->plan, s, host);
        if (!o->sentinel && node >= 0)
            port = c->plan->nodes[node].port;
    } else {
        st_report *r = NULL;
        if (status_probe(c, 1000, &r, &err) != MRD_OK) {
            orch_close(&c);
            return report(&err);
        }
        /* sentinel mode: the leader; cluster mode: shard 1's master */
        int master = r->shards[0].master;
        if (master >= 0) {
            host = c->plan->nodes[master].host;
            port = o->sentinel ? port : c->plan->nodes[master].port;
        }
        status_free(&r);
        if (host < 0) {
            fprintf(stderr, t->mode == MRD_MODE_CLUSTER
                                ? "meridian: shard 1 has no live master; use --host HOST\n"
                                : "meridian: no leader is agreed by the sentinels; "
                                  "use --host HOST\n");
            orch_close(&c);
            return 2;
        }
    }
    if (orch_secret(c, "admin", pass, sizeof(pass), &err) != MRD_OK) {
        orch_close(&c);
        return report(&err);
    }
    char portbuf[16];
    snprintf(portbuf, sizeof(portbuf), "%d", port);
    const char *argv[64] = {"redis-cli", "-h", t->hosts[host].address, "-p", portbuf,
                            "--user", "admin", "--no-auth-warning"};
    int argc = 8;
    char ca[MRD_PATH_MAX];
    if (tls_ca(c, ca, sizeof(ca))) { /* verified: the node's address is in its certificate */
        argv[argc++] = "--tls";
        argv[argc++] = "--cacert";
        argv[argc++] = ca;
    }
    if (t->mode == MRD_MODE_CLUSTER && !o->sentinel)
        argv[argc++] = "-c"; /* follow MOVED and ASK to the slot's node */
    for (int i = 0; i < o->nrest && argc < 63; i++)
        argv[argc++] = o->rest[i];
    argv[argc] = NULL;
    setenv("REDISCLI_AUTH", pass, 1);
    memset(pass, 0, sizeof(pass));
    orch_close(&c);
    fflush(stdout);
    union {
        const char **in;
        char *const *out;
    } args = {.in = argv};
    execvp("redis-cli", args.out);
    perror("meridian: cannot run redis-cli");
    return 1;
}

/* ==== drill ==== */

static int cmd_drill(const cli *o)
{
    orch_ctx *c = NULL;
    mrd_error err;
    if (open_with(o, NULL, &c, &err) != MRD_OK)
        return open_failure(&err, 3);
    drill_opts d = {.scenario = (drill_scenario)drill_scenario_parse(o->rest[0]),
                    .arg = o->nrest > 1 ? o->rest[1] : NULL,
                    .out_dir = o->out_dir,
                    .json = o->json,
                    .duration_s = o->duration_s ? o->duration_s : 12,
                    .rate = o->rate ? o->rate : 200,
                    .wait_cooldown = o->wait,
                    .timeout_s = o->timeout_s,
                    .replace_after_s = o->replace_after_s,
                    .heal = drill_heal};
    int rc = drill_run(c, &d);
    orch_close(&c);
    return rc;
}

/* ==== switchover ==== */

#define SWITCHOVER_LOCK_RECORD "switchover.lock"

static int cmd_switchover(const cli *o)
{
    if (!o->to) {
        fprintf(stderr, "meridian: switchover needs --to HOST or --to REGION (try meridian "
                        "switchover --help)\n");
        return EXIT_USAGE;
    }
    orch_ctx *c = NULL;
    mrd_error err;
    if (open_ctx(o, &c, &err) != MRD_OK)
        return open_failure(&err, 2);
    if (o->shard > c->plan->nshards || (o->shard > 1 && c->topo->mode != MRD_MODE_CLUSTER)) {
        fprintf(stderr, "meridian: %s has %d shard%s: --shard %d does not exist\n",
                c->topo->path, c->plan->nshards, c->plan->nshards == 1 ? "" : "s", o->shard);
        orch_close(&c);
        return EXIT_USAGE;
    }
    mrd_lock *l = NULL;
    if (o->yes) {
        mrd_lock_holder who = {0};
        mrd_rc lrc = mrd_lock_take(c->state_dir, SWITCHOVER_LOCK_RECORD, "switchover", 10000,
                                   &l, &who, &err);
        if (lrc != MRD_OK) {
            if (lrc == MRD_ERR_TIMEOUT)
                fprintf(stderr, "meridian: another %s of %s is running (pid %d); run the "
                                "switchover again once it has finished\n",
                        who.what[0] ? who.what : "deploy, rebalance or switchover",
                        c->topo->name, (int)who.pid);
            else
                report(&err);
            orch_close(&c);
            return lrc == MRD_ERR_TIMEOUT ? 75 : 2;
        }
    }
    switchover_opts so = {.to = o->to,
                          .shard = o->shard > 0 ? o->shard - 1 : 0,
                          .apply = o->yes,
                          .progress = o->json ? stderr : stdout};
    switchover_report r;
    int rc = switchover_run(c, &so, &r);
    mrd_lock_release(&l);
    if (o->json) {
        json_t *j = switchover_report_json(&r);
        json_object_set_new(j, "topology", json_string(c->topo->name));
        json_object_set_new(j, "applied", json_boolean(o->yes));
        json_object_set_new(j, "code", json_integer(rc));
        print_json(j);
    } else if (r.outcome == SW_OUT_DONE && r.reason[0]) {
        printf("switchover done: %s\n", r.reason);
    } else if (r.outcome == SW_OUT_DONE) {
        printf("switchover done: %s (%s) -> %s (%s) in %.2f s", r.from_name, r.from_region,
               r.to_name, r.to_region, (double)r.total_ms / 1000.0);
        if (r.pause_ms >= 0)
            printf("; writes paused %lld ms", r.pause_ms);
        printf("%s\n", r.resumed ? " (finished a killed run)" : "");
    } else if (r.outcome == SW_OUT_NOTHING || r.outcome == SW_OUT_PLANNED) {
        printf("%s%s\n", r.reason, r.outcome == SW_OUT_PLANNED ? " (run with --yes to do it)" : "");
    } else {
        fprintf(stderr, "meridian: switchover %s: %s\n",
                r.outcome == SW_OUT_REFUSED ? "refused (nothing was changed)" : "failed", r.reason);
    }
    orch_close(&c);
    return rc;
}

/* ==== rollout ==== */

static int cmd_rollout(const cli *o)
{
    orch_ctx *c = NULL, *pending = NULL;
    mrd_error err;
    if (open_ctx(o, &c, &err) != MRD_OK)
        return open_failure(&err, 2);
    /* what the rollout will apply: deploy's "needs restart" list, read on
     * a context of its own (reconcile_pin keeps the running values in it) */
    int npinned = 0;
    mrd_settings before;
    bool have_before = false;
    if (open_ctx(o, &pending, &err) == MRD_OK)
        reconcile_pin(pending, o->json ? stderr : stdout, &npinned, &before, &have_before, &err);
    orch_close(&pending);
    /* a setting that moves processes (a port, the placement) is not a
     * restart: the rollout restarts each process where it runs */
    size_t nrows;
    const mrd_setting *rows = mrd_settings_table(&nrows);
    for (size_t i = 0; have_before && i < nrows; i++) {
        char was[64], want[64];
        /* a live setting (sentinel.quorum: 0 in a file, resolved in a
         * manifest) is deploy's, not a move */
        if (!(rows[i].lands & MRD_LANDS_PLANNER) || rows[i].apply == MRD_APPLY_LIVE)
            continue;
        mrd_setting_format(&rows[i], &before, was, sizeof(was));
        mrd_setting_format(&rows[i], &c->topo->settings, want, sizeof(want));
        if (strcmp(was, want) != 0) {
            fprintf(stderr, "meridian: rollout refused (nothing was changed): %s.%s %s -> %s "
                            "moves processes or changes the placement; a rollout restarts "
                            "each process where it runs. Keep %s in %s, or deploy the change "
                            "as a new deployment\n",
                    rows[i].section, rows[i].key, was, want, was, c->topo->path);
            orch_close(&c);
            return 2;
        }
    }
    if (!o->json)
        printf("rollout %s: %d setting%s waiting for a restart%s\n", c->topo->name, npinned,
               npinned == 1 ? "" : "s", npinned ? " (above)" : "");
    mrd_lock *l = NULL;
    if (o->yes) {
        mrd_lock_holder who = {0};
        mrd_rc lrc = mrd_lock_take(c->state_dir, "rollout.lock", "rollout", 10000, &l, &who,
                                   &err);
        if (lrc != MRD_OK) {
            if (lrc == MRD_ERR_TIMEOUT)
                fprintf(stderr, "meridian: another %s of %s is running (pid %d); run the "
                                "rollout again once it has finished\n",
                        who.what[0] ? who.what : "deploy or rollout", c->topo->name,
                        (int)who.pid);
            else
                report(&err);
            orch_close(&c);
            return lrc == MRD_ERR_TIMEOUT ? 75 : 2;
        }
    }
    rollout_opts ro = {.apply = o->yes, .upgrade = o->upgrade,
                       .progress = o->json ? stderr : stdout};
    rollout_report *r = calloc(1, sizeof(*r));
    if (!r) {
        mrd_lock_release(&l);
        orch_close(&c);
        fprintf(stderr, "meridian: out of memory\n");
        return 3;
    }
    int rc = rollout_run(c, &ro, r);
    mrd_lock_release(&l);
    if (o->json) {
        json_t *j = rollout_report_json(c, r);
        json_object_set_new(j, "topology", json_string(c->topo->name));
        json_object_set_new(j, "applied", json_boolean(o->yes));
        json_object_set_new(j, "settings_pending", json_integer(npinned));
        json_object_set_new(j, "code", json_integer(rc));
        print_json(j);
    } else if (rc == 0) {
        char pause[64], unknown[64] = "";
        if (r->pause_ms >= 0)
            snprintf(pause, sizeof(pause), "writes paused %lld ms in all", r->pause_ms);
        else
            snprintf(pause, sizeof(pause), "writes paused by Redis itself (cluster mode)");
        if (r->syncs_unknown)
            snprintf(unknown, sizeof(unknown), " (%d restart%s could not tell)",
                     r->syncs_unknown, r->syncs_unknown == 1 ? "" : "s");
        printf("rollout done: %d steps in %.1f s; %d full sync%s%s; %s%s\n", r->done,
               (double)r->ms / 1000.0, r->full_syncs, r->full_syncs == 1 ? "" : "s", unknown,
               pause, r->resumed ? " (finished a stopped rollout)" : "");
        if (r->upgrade[0])
            printf("servers: %s\n", r->upgrade);
    } else if (rc == 1) {
        printf("%s (run with --yes to do it)\n", r->reason);
    } else {
        fprintf(stderr, "meridian: rollout %s: %s\n",
                r->attempted || r->done ? "stopped" : "refused (nothing was changed)", r->reason);
    }
    free(r);
    orch_close(&c);
    return rc;
}

/* ==== backup and restore ==== */

/* The backup lock for C, or the exit code of a failure to take it. */
static int take_backup_lock(orch_ctx *c, mrd_lock **l)
{
    mrd_error err;
    mrd_rc rc = backup_lock(c, 10000, l, &err);
    if (rc == MRD_OK)
        return 0;
    report(&err);
    return rc == MRD_ERR_TIMEOUT ? 75 : 2;
}

/* `backup --cron`: the crontab entry of C (templates/meridian-backup.cron.tpl). */
static int print_backup_cron(const cli *o, const orch_ctx *c)
{
    char self[MRD_PATH_MAX], topo[MRD_PATH_MAX], log[MRD_PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0 || !realpath(o->topology, topo) ||
        mrd_path_fmt(log, sizeof(log), "%s/backup/backup.log", c->state_dir) != MRD_OK) {
        fprintf(stderr, "meridian: cannot tell the absolute paths of meridian and %s\n",
                o->topology);
        return 2;
    }
    self[n] = '\0';
    /* the entry appends to a file there before meridian runs */
    char dir[MRD_PATH_MAX];
    mrd_error derr;
    if (mrd_path_fmt(dir, sizeof(dir), "%s/backup", c->state_dir) != MRD_OK ||
        mrd_mkdir_p(dir, 0700, &derr) != MRD_OK) {
        fprintf(stderr, "meridian: cannot create %s/backup for the entry's log\n",
                c->state_dir);
        return 2;
    }
    const char *paths[] = {self, topo, c->state_dir};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (strpbrk(paths[i], " %\t\n")) {
            fprintf(stderr, "meridian: %s holds a space or '%%', which a crontab line cannot "
                            "carry\n",
                    paths[i]);
            return 2;
        }
    unsigned h = 5381;
    for (const char *p = c->topo->name; *p; p++)
        h = h * 33 + (unsigned char)*p;
    mrd_vars *v = vars_new();
    char *text = NULL;
    mrd_error err;
    mrd_rc rc = v ? MRD_OK : mrd_error_set(&err, MRD_ERR_NOMEM, "out of memory");
    if (rc == MRD_OK)
        rc = vars_set_int(v, "minute", h % 60);
    if (rc == MRD_OK)
        rc = vars_set_int(v, "hour", 1 + (h / 60) % 4); /* 01:00 to 04:59 */
    if (rc == MRD_OK)
        rc = vars_set(v, "meridian", self);
    if (rc == MRD_OK)
        rc = vars_set(v, "topology", topo);
    if (rc == MRD_OK)
        rc = vars_set(v, "state", c->state_dir);
    if (rc == MRD_OK)
        rc = vars_set(v, "log", log);
    if (rc == MRD_OK)
        rc = tpl_render_builtin("meridian-backup.cron", v, &text, &err);
    vars_free(&v);
    if (rc != MRD_OK) {
        report(&err);
        return 2;
    }
    fputs(text, stdout);
    free(text);
    return 0;
}

static int cmd_backup(const cli *o)
{
    orch_ctx *c = NULL;
    mrd_error err;
    if (open_ctx(o, &c, &err) != MRD_OK)
        return open_failure(&err, 2);
    if (o->cron) {
        int code = print_backup_cron(o, c);
        orch_close(&c);
        return code;
    }
    json_t *result = NULL;
    mrd_lock *l = NULL;
    int code = o->list ? 0 : take_backup_lock(c, &l);
    if (code == 0) {
        backup_opts bo = {.progress = stderr};
        mrd_rc rc = o->list ? backup_list(c, &result, &err) : backup_run(c, &bo, &result, &err);
        code = rc == MRD_OK ? 0 : 2;
        if (rc != MRD_OK)
            fprintf(stderr, "meridian: backup %s failed: %s\n", c->topo->name, err.msg);
    }
    mrd_lock_release(&l);
    if (code == 0 && o->json) {
        print_json(result);
        result = NULL;
    } else if (code == 0 && o->list) {
        json_t *b;
        size_t i;
        printf("%-18s %-22s %10s  %s\n", "ID", "CREATED", "MB", "STATE");
        json_array_foreach(json_object_get(result, "backups"), i, b)
            printf("%-18s %-22s %10.1f  %s\n", json_string_value(json_object_get(b, "id")),
                   json_string_value(json_object_get(b, "created")),
                   (double)json_integer_value(json_object_get(b, "bytes")) / 1e6,
                   json_is_true(json_object_get(b, "complete")) ? "complete"
                                                                : "incomplete (interrupted)");
    } else if (code == 0) {
        printf("backup %s: %lld keys, %.1f MB in %.1f s\n",
               json_string_value(json_object_get(result, "id")),
               (long long)json_integer_value(json_object_get(result, "keys")),
               (double)json_integer_value(json_object_get(result, "bytes")) / 1e6,
               (double)json_integer_value(json_object_get(result, "duration_ms")) / 1000.0);
    }
    json_decref(result);
    orch_close(&c);
    return code;
}

static int cmd_restore(const cli *o)
{
    if (!o->from) {
        fprintf(stderr, "meridian: restore needs --from ID (`meridian backup TOPOLOGY --list` "
                        "shows the backups)\n");
        return EXIT_USAGE;
    }
    orch_ctx *c = NULL;
    mrd_error err;
    if (open_ctx(o, &c, &err) != MRD_OK)
        return open_failure(&err, 2);
    json_t *result = NULL;
    mrd_lock *l = NULL;
    int code = take_backup_lock(c, &l);
    if (code == 0) {
        restore_opts ro = {.from = o->from, .apply = o->yes, .force = o->force,
                           .progress = stderr};
        mrd_rc rc = restore_run(c, &ro, &result, &err);
        code = rc != MRD_OK ? 2 : o->yes ? 0 : 1;
        if (rc != MRD_OK)
            fprintf(stderr, "meridian: restore %s %s: %s\n", c->topo->name,
                    err.code == MRD_ERR_STATE || err.code == MRD_ERR_INVALID ||
                            err.code == MRD_ERR_NOT_FOUND
                        ? "refused"
                        : "failed",
                    err.msg);
    }
    mrd_lock_release(&l);
    if (code <= 1 && o->json) {
        print_json(result);
        result = NULL;
    } else if (code == 1) {
        printf("backup %s (%lld keys) would be loaded into:\n",
               json_string_value(json_object_get(result, "id")),
               (long long)json_integer_value(json_object_get(result, "keys")));
        json_t *sh;
        size_t i;
        json_array_foreach(json_object_get(result, "shards"), i, sh)
            printf("  shard %lld: %s:%lld, %lld keys\n",
                   (long long)json_integer_value(json_object_get(sh, "shard")),
                   json_string_value(json_object_get(sh, "master")),
                   (long long)json_integer_value(json_object_get(sh, "port")),
                   (long long)json_integer_value(json_object_get(sh, "keys")));
        printf("(run with --yes to do it)\n");
    } else if (code == 0) {
        printf("restored %s: %lld keys (%lld expired while loading); %s %.1f s, "
               "healthy after %.1f s\n",
               json_string_value(json_object_get(result, "id")),
               (long long)json_integer_value(json_object_get(result, "keys_loaded")),
               (long long)json_integer_value(json_object_get(result, "keys_expired")),
               json_is_true(json_object_get(result, "resumed")) &&
                       json_integer_value(json_object_get(result, "writable_ms")) < 0
                   ? "loaded before this run, checked in"
                   : "writable after",
               (double)(json_integer_value(json_object_get(result, "writable_ms")) < 0
                            ? json_integer_value(json_object_get(result, "duration_ms"))
                            : json_integer_value(json_object_get(result, "writable_ms"))) /
                   1000.0,
               (double)json_integer_value(json_object_get(result, "healthy_ms")) / 1000.0);
    }
    json_decref(result);
    orch_close(&c);
    return code;
}

/* ==== argument parsing ==== */

static int parse(int argc, char **argv, cli *o)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"yes", no_argument, NULL, 'y'},
        {"parallel", required_argument, NULL, 'p'},
        {"timeout", required_argument, NULL, 't'},
        {"leader", no_argument, NULL, 'L'},
        {"host", required_argument, NULL, 'H'},
        {"sentinel", required_argument, NULL, 'S'},
        {"out", required_argument, NULL, 'o'},
        {"duration", required_argument, NULL, 'd'},
        {"rate", required_argument, NULL, 'r'},
        {"wait", no_argument, NULL, 'w'},
        {"replace-after", required_argument, NULL, 'R'},
        {"accept-new-host-keys", no_argument, NULL, 'K'},
        {"install-packages", no_argument, NULL, 'I'},
        {"to", required_argument, NULL, 'T'},
        {"restart", no_argument, NULL, 'X'},
        {"upgrade", no_argument, NULL, 'U'},
        {"shard", required_argument, NULL, 'N'},
        {"list", no_argument, NULL, 'l'},
        {"cron", no_argument, NULL, 'C'},
        {"from", required_argument, NULL, 'F'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    char *end;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "s:jyp:t:h", opts, NULL)) != -1) {
        switch (ch) {
        case 's': o->state = optarg; break;
        case 'j': o->json = true; break;
        case 'y': o->yes = true; break;
        case 'L': o->leader = true; break;
        case 'K': o->accept_new_host_keys = true; break;
        case 'I': o->install_packages = true; break;
        case 'H': o->host = optarg; break;
        case 'S': o->host = optarg; o->sentinel = true; break;
        case 'o': o->out_dir = optarg; break;
        case 'w': o->wait = true; break;
        case 'T': o->to = optarg; break;
        case 'X': break; /* rollout --restart: the default */
        case 'U': o->upgrade = true; break;
        case 'l': o->list = true; break;
        case 'C': o->cron = true; break;
        case 'F': o->from = optarg; break;
        case 'f': o->force = true; break;
        case 'p':
        case 'N':
        case 't':
        case 'd':
        case 'R':
        case 'r': {
            long max = ch == 'r' ? 100000 : ch == 'N' ? 1000 : 3600;
            long v = strtol(optarg, &end, 10);
            const char *name = ch == 'p' ? "parallel" : ch == 't' ? "timeout"
                             : ch == 'd' ? "duration" : ch == 'R' ? "replace-after"
                             : ch == 'N' ? "shard" : "rate";
            if (*end || v < 1 || v > max) {
                fprintf(stderr, "meridian: --%s needs a number from 1 to %ld\n", name, max);
                return -1;
            }
            *(ch == 'p' ? &o->parallel : ch == 't' ? &o->timeout_s
              : ch == 'd' ? &o->duration_s : ch == 'R' ? &o->replace_after_s
              : ch == 'N' ? &o->shard : &o->rate) = (int)v;
            break;
        }
        case 'h':
            command_usage(o->cmd, stdout);
            return 1;
        default:
            return -1;
        }
    }
    /* GNU getopt moved the operands (TOPOLOGY, then what follows "--") here. */
    if (optind < argc && strcmp(argv[optind], "--") != 0)
        o->topology = argv[optind++];
    if (optind < argc && strcmp(argv[optind], "--") == 0)
        optind++;
    o->rest = argv + optind;
    o->nrest = argc - optind;
    if (!o->topology) {
        fprintf(stderr, "meridian: %s needs a TOPOLOGY file (try meridian %s --help)\n",
                o->cmd, o->cmd);
        return -1;
    }
    bool drill = strcmp(o->cmd, "drill") == 0;
    if (o->nrest > (drill ? 2 : 0) && strcmp(o->cmd, "redis-cli") != 0) {
        fprintf(stderr, "meridian: unexpected argument \"%s\"\n", o->rest[drill ? 2 : 0]);
        return -1;
    }
    if (drill && o->nrest < 1) {
        fprintf(stderr, "meridian: drill needs a SCENARIO (try meridian drill --help)\n");
        return -1;
    }
    if (drill && drill_scenario_parse(o->rest[0]) < 0) {
        fprintf(stderr, "meridian: unknown scenario \"%s\": use kill-leader, replica-loss, "
                        "region-outage, partition, sentinel-loss, host-loss, scale, switchover,\n"
                        "sentinel-failover or rollout\n", o->rest[0]);
        return -1;
    }
    if (o->nrest && !drill && strcmp(o->cmd, "redis-cli") != 0) {
        fprintf(stderr, "meridian: unexpected argument \"%s\"\n", o->rest[0]);
        return -1;
    }
    if (o->leader && o->host) {
        fprintf(stderr, "meridian: --leader, --host and --sentinel exclude each other\n");
        return -1;
    }
    return 0;
}

/* ==== settings ==== */

/* meridian settings: no topology, only the table. */
static int cmd_settings(int argc, char **argv)
{
    bool json = argc == 3 && strcmp(argv[2], "--json") == 0;
    if (argc == 4 && strcmp(argv[2], "--markdown") == 0) {
        char *md = mrd_settings_keys(argv[3]) ? mrd_settings_markdown(argv[3]) : NULL;
        if (!md) {
            fprintf(stderr, "meridian: no settings section \"%s\": use store, sentinel, "
                            "consistency, agent or cluster\n", argv[3]);
            return EXIT_USAGE;
        }
        fputs(md, stdout);
        free(md);
        return 0;
    }
    if (argc > 2 && !json) {
        command_usage("settings", stderr);
        return EXIT_USAGE;
    }
    size_t n;
    const mrd_setting *t = mrd_settings_table(&n);
    mrd_settings def;
    mrd_settings_defaults(&def);
    json_t *all = json ? json_array() : NULL;
    if (!json)
        printf("%-36s %-8s %-10s %-44s %s\n", "SETTING", "TYPE", "DEFAULT", "LANDS IN",
               "A CHANGE");
    for (size_t i = 0; i < n; i++) {
        char key[96], val[64], lands[128];
        snprintf(key, sizeof(key), "%s.%s", t[i].section, t[i].key);
        mrd_setting_format(&t[i], &def, val, sizeof(val));
        mrd_setting_lands_text(&t[i], lands, sizeof(lands));
        const char *type = mrd_setting_type_name(&t[i]);
        const char *change = mrd_setting_apply_name(t[i].apply);
        if (json)
            json_array_append_new(
                all, json_pack("{s:s,s:s,s:s,s:o,s:s,s:s,s:o,s:s}", "section", t[i].section,
                               "key", t[i].key, "type", type, "default",
                               t[i].def ? json_string(val) : json_null(), "doc", t[i].doc,
                               "lands", lands, "directive",
                               t[i].directive ? json_string(t[i].directive) : json_null(),
                               "change", change));
        else
            printf("%-36s %-8s %-10s %-44s %s\n", key, type, t[i].def ? val : "required",
                   lands, change);
    }
    if (json)
        print_json(all);
    return 0;
}

int cli_main(int argc, char **argv)
{
    mrd_log_init("meridian", NULL, MRD_LOG_WARN);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        if (argc > 2 && command_usage(argv[2], stdout))
            return 0;
        usage(stdout);
        return 0;
    }
    cli o = {.cmd = argv[1]};
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        const struct command *c = &commands[i];
        if (strcmp(o.cmd, c->name) != 0)
            continue;
        if (c->run_argv) {
            if (argc == 3 && (strcmp(argv[2], "-h") == 0 || strcmp(argv[2], "--help") == 0))
                return command_usage(c->name, stdout) ? 0 : EXIT_USAGE;
            return c->run_argv(argc, argv);
        }
        int p = parse(argc, argv, &o);
        if (p != 0) {
            if (p < 0)
                command_usage(o.cmd, stderr);
            return p < 0 ? EXIT_USAGE : 0;
        }
        return c->run(&o);
    }
    fprintf(stderr, "meridian: unknown command \"%s\" (try meridian --help)\n", o.cmd);
    return EXIT_USAGE;
}
