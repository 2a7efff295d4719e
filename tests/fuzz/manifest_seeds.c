/* manifest_seeds.c - seeds for fuzz_manifest: the manifests deploy writes.
 *
 *   fuzz_manifest_seeds OUTDIR TOPOLOGY...
 *
 * For each topology (local transport: nothing is contacted), plans it as
 * `meridian deploy` does and writes every host's manifest, as
 * deploy_manifest_text() renders it, to OUTDIR/<topology>-<host>.json.
 * Topologies that do not plan (or would need a host to be asked, as ssh
 * with a "~/" root does) are skipped with a note.  Exit 1 when nothing
 * was written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy.h"
#include "fsutil.h"
#include "orch.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: fuzz_manifest_seeds OUTDIR TOPOLOGY...\n");
        return 2;
    }
    int written = 0;
    for (int i = 2; i < argc; i++) {
        orch_ctx *c = NULL;
        mrd_error err;
        if (orch_open(argv[i], "/nonexistent/meridian-fuzz-state", &c, &err) != MRD_OK) {
            fprintf(stderr, "fuzz_manifest_seeds: skipping %s: %s\n", argv[i], err.msg);
            continue;
        }
        if (c->topo->transport.kind != MRD_TRANSPORT_LOCAL) {
            fprintf(stderr, "fuzz_manifest_seeds: skipping %s: not the local transport\n",
                    argv[i]);
            orch_close(&c);
            continue;
        }
        for (int h = 0; h < c->topo->nhosts; h++) {
            char *text = NULL, path[4096];
            if (deploy_manifest_text(c, h, &text, &err) != MRD_OK) {
                fprintf(stderr, "fuzz_manifest_seeds: %s: %s\n", argv[i], err.msg);
                continue;
            }
            snprintf(path, sizeof(path), "%s/%s-%s.json", argv[1], c->topo->name,
                     c->topo->hosts[h].name);
            FILE *f = fopen(path, "w");
            if (f && fputs(text, f) >= 0 && fclose(f) == 0)
                written++;
            else
                perror(path);
            free(text);
        }
        orch_close(&c);
    }
    printf("fuzz_manifest_seeds: %d manifests\n", written);
    return written > 0 ? 0 : 1;
}
