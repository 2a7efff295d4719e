/* test_templates_agent.c - the agent's systemd unit and cron entry. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"

/* ==== HELPERS ========================================================== */

/* Every variable the two templates use, set. */
static mrd_vars *all_vars(void)
{
    mrd_vars *v = vars_new();
    assert_non_null(v);
    assert_int_equal(vars_set(v, "agent_bin", "/usr/local/bin/meridian-agent"), MRD_OK);
    assert_int_equal(vars_set(v, "manifest", "/var/lib/meridian/demo/use-a1/manifest.json"),
                     MRD_OK);
    assert_int_equal(vars_set(v, "root", "/var/lib/meridian/demo/use-a1"), MRD_OK);
    assert_int_equal(vars_set(v, "secrets_dir", "/var/lib/meridian/demo/secrets"), MRD_OK);
    assert_int_equal(vars_set(v, "user", "meridian"), MRD_OK);
    return v;
}

static char *render(const char *name, const mrd_vars *v)
{
    char *out = NULL;
    mrd_error err;
    mrd_error_clear(&err);
    if (tpl_render_builtin(name, v, &out, &err) != MRD_OK)
        fail_msg("rendering %s failed: %s", name, err.msg);
    assert_non_null(out);
    assert_null(strstr(out, "{{"));
    return out;
}

/* TEXT has LINE as a whole line. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

static void assert_line(const char *text, const char *line)
{
    if (!has_line(text, line))
        fail_msg("missing line \"%s\" in:\n%s", line, text);
}

/* Rendering NAME without variable MISSING fails and names it. */
static void assert_needs(const char *name, const char *missing)
{
    static const char *const names[] = {"agent_bin", "manifest", "root", "secrets_dir", "user"};
    mrd_vars *v = vars_new();
    assert_non_null(v);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(names[i], missing) != 0)
            assert_int_equal(vars_set(v, names[i], "/x"), MRD_OK);
    char *out = (char *)"sentinel";
    mrd_error err;
    mrd_error_clear(&err);
    assert_int_not_equal(tpl_render_builtin(name, v, &out, &err), MRD_OK);
    assert_null(out);
    if (!strstr(err.msg, missing))
        fail_msg("error for %s without %s does not name it: %s", name, missing, err.msg);
    vars_free(&v);
}

/* ==== THE SYSTEMD UNIT ================================================= */

static void test_service_renders(void **state)
{
    (void)state;
    size_t len = 0;
    assert_non_null(tpl_builtin("meridian-agent.service", &len));
    assert_true(len > 0);
    mrd_vars *v = all_vars();
    char *out = render("meridian-agent.service", v);
    assert_line(out, "[Unit]");
    assert_line(out, "[Service]");
    assert_line(out, "[Install]");
    assert_line(out, "ExecStart=/usr/local/bin/meridian-agent run --manifest "
                     "/var/lib/meridian/demo/use-a1/manifest.json");
    assert_line(out, "Restart=always");
    assert_line(out, "RestartSec=2");
    assert_line(out, "User=meridian");
    assert_line(out, "NoNewPrivileges=yes");
    assert_line(out, "PrivateTmp=yes");
    assert_line(out, "ProtectSystem=full");
    assert_line(out, "ReadWritePaths=/var/lib/meridian/demo/use-a1 "
                     "/var/lib/meridian/demo/secrets");
    assert_line(out, "WantedBy=multi-user.target");
    /* an agent restart must not take its Redis nodes down with it */
    assert_line(out, "KillMode=process");
    /* nothing that would break Redis: it needs to write its data dir */
    assert_null(strstr(out, "ProtectSystem=strict"));
    assert_null(strstr(out, "ReadOnlyPaths"));
    free(out);
    vars_free(&v);
}

static void test_service_needs_every_variable(void **state)
{
    (void)state;
    assert_needs("meridian-agent.service", "agent_bin");
    assert_needs("meridian-agent.service", "manifest");
    assert_needs("meridian-agent.service", "root");
    assert_needs("meridian-agent.service", "secrets_dir");
    assert_needs("meridian-agent.service", "user");
}

/* ==== THE CRON ENTRY =================================================== */

static void test_cron_renders(void **state)
{
    (void)state;
    mrd_vars *v = all_vars();
    char *out = render("meridian-agent.cron", v);
    assert_line(out, "* * * * * /usr/local/bin/meridian-agent check --manifest "
                     "/var/lib/meridian/demo/use-a1/manifest.json --heal --json >> "
                     "/var/lib/meridian/demo/use-a1/check.log 2>&1");
    /* every other line is a comment or blank: exactly one job */
    int jobs = 0;
    for (const char *p = out; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n > 0 && p[0] != '#')
            jobs++;
        p += n + (nl != NULL);
    }
    assert_int_equal(jobs, 1);
    assert_non_null(strstr(out, "lock"));
    /* cron reads '%' as a newline */
    assert_null(strchr(out + (strstr(out, "* * * * *") - out), '%'));
    free(out);
    vars_free(&v);
}

static void test_cron_needs_every_variable(void **state)
{
    (void)state;
    assert_needs("meridian-agent.cron", "agent_bin");
    assert_needs("meridian-agent.cron", "manifest");
    assert_needs("meridian-agent.cron", "root");
}

static void test_values_cannot_add_lines(void **state)
{
    (void)state;
    /* one variable never injects an extra directive or cron job */
    mrd_vars *v = vars_new();
    assert_non_null(v);
    assert_int_equal(vars_set(v, "user", "meridian\nExecStartPre=/bin/sh"), MRD_ERR_INVALID);
    vars_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_renders),
        cmocka_unit_test(test_service_needs_every_variable),
        cmocka_unit_test(test_cron_renders),
        cmocka_unit_test(test_cron_needs_every_variable),
        cmocka_unit_test(test_values_cannot_add_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
