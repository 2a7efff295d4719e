/* heal_report.h - turn the agents' answers to POST /v1/heal into the
 * report of `meridian heal`: one JSON object, its text and its exit code.
 *
 * Pure: no I/O but the FILE the text goes to, so the unit tests feed it
 * canned agent answers.
 *
 * Codes are common/health.h's mrd_health (the monitoring-plugin
 * convention): 0 OK, 1 WARNING (healed something, or degraded but
 * serving), 2 CRITICAL (could not heal), 3 UNKNOWN (could not tell: the
 * agent did not answer, refused the token, or answered something that is
 * not a heal report).  The report's code is
 * the most severe of its hosts', in the order OK < WARNING < UNKNOWN <
 * CRITICAL: a host that could not heal is never hidden behind one that
 * could not be asked. */
#ifndef MRD_HEAL_REPORT_H
#define MRD_HEAL_REPORT_H

#include <stdio.h>

#include <jansson.h>

#include "agent_client.h"
#include "health.h"

/* The report of one topology (new reference):
 *   {"topology", "code", "status",
 *    "hosts": [{"host", "http_status" (null: no answer), "code", "status",
 *               "summary" (null: no report), "actions": [...],
 *               "error" (null: none)}]}
 * HOSTS[i] names the host RESULTS[i] answers for; a skipped result (a
 * host that runs nothing) is left out.  NULL on OOM. */
json_t *heal_report_new(const char *topology, const char *const *hosts,
                        const agent_result *results, int n);

/* Add what the orchestrator's rebalance did after the agents' passes
 * (cluster mode; operations/rebalance_run.h's JSON, stolen) as the
 * report's "rebalance".  A step taken (a "moves" entry), a refusal or a
 * failure ("outcome" refused / failed) makes the code at least WARNING:
 * healed something, or the masters are still off plan. */
void heal_report_set_rebalance(json_t *report, json_t *rebalance);

/* Add the lost hosts `meridian heal` found and what it did about them
 * (operations/replace.h's JSON array, stolen) as the report's
 * "hosts_lost"; each item's "code" counts towards the report's. */
void heal_report_set_hosts_lost(json_t *report, json_t *items);

/* The report's "code" (MRD_HEALTH_UNKNOWN when it has none). */
int heal_report_code(const json_t *report);

/* The text of `meridian heal`: for each host, one line per action
 *   "euw-b1/redis      +snapshot-fetched  from euw-a1: 38.2 MB in 0.4 s"
 * then the host's line (host, status, summary or error); last, one line
 * for the topology.  Control characters from agents are printed as '?'. */
void heal_report_print(FILE *out, const json_t *report);

#endif
