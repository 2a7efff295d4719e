/* record.c - the last good backup in the state dir (see record.h). */
#include "record.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fsutil.h"

#define LAST_MAX 65536 /* bytes of last.json read at most */

static mrd_rc last_path(const char *state_dir, char *buf, size_t n, mrd_error *err)
{
    if (mrd_path_fmt(buf, n, "%s/" BACKUP_DIR "/" BACKUP_LAST, state_dir) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "the state dir's path is too long");
    return MRD_OK;
}

mrd_rc backup_last_write(const char *state_dir, const backup_last *l, mrd_error *err)
{
    char dir[1024], path[1024];
    if (mrd_path_fmt(dir, sizeof(dir), "%s/" BACKUP_DIR, state_dir) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "the state dir's path is too long");
    MRD_TRY(last_path(state_dir, path, sizeof(path), err));
    MRD_TRY(mrd_mkdir_p(dir, 0700, err));
    json_t *j = json_pack("{s:s,s:I,s:I,s:I,s:s,s:s}", "id", l->id, "created_unix",
                          (json_int_t)l->created, "keys", (json_int_t)l->keys, "bytes",
                          (json_int_t)l->bytes, "bucket", l->bucket, "folder", l->folder);
    return mrd_write_json_atomic(path, j, JSON_INDENT(2), 0600, err);
}

mrd_rc backup_last_read(const char *state_dir, backup_last *l, mrd_error *err)
{
    char path[1024];
    MRD_TRY(last_path(state_dir, path, sizeof(path), err));
    memset(l, 0, sizeof(*l));
    char *text = NULL;
    size_t len = 0;
    MRD_TRY(mrd_read_file(path, LAST_MAX, &text, &len, err));
    json_error_t jerr;
    json_t *j = json_loadb(text, len, 0, &jerr);
    free(text);
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *bucket = json_string_value(json_object_get(j, "bucket"));
    const char *folder = json_string_value(json_object_get(j, "folder"));
    json_t *created = json_object_get(j, "created_unix");
    mrd_rc rc = MRD_OK;
    if (!id || !catalog_id_parse(id, NULL) || !json_is_integer(created) || !bucket ||
        strlen(bucket) >= sizeof(l->bucket) || !folder || strlen(folder) >= sizeof(l->folder))
        rc = mrd_error_set(err, MRD_ERR_PARSE,
                           "%s is not a record of a backup: run `meridian backup` again", path);
    else {
        snprintf(l->id, sizeof(l->id), "%s", id);
        snprintf(l->bucket, sizeof(l->bucket), "%s", bucket);
        snprintf(l->folder, sizeof(l->folder), "%s", folder);
        l->created = json_integer_value(created);
        l->keys = json_integer_value(json_object_get(j, "keys"));
        l->bytes = json_integer_value(json_object_get(j, "bytes"));
    }
    json_decref(j);
    return rc;
}
