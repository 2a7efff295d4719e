/* jsonpos.h - find where a member or element sits in JSON text.
 *
 * jansson keeps no positions for values, so once a document has parsed,
 * a semantic error ("unknown key", "port out of range") would have no
 * line and column.  These helpers rescan the original text to find them.
 *
 * This is a small tolerant scanner, not a second JSON parser: it knows
 * strings (with escapes), nesting and separators, and nothing about
 * numbers or literals beyond where they end.  It never reads past LEN,
 * needs no NUL terminator, allocates nothing, and returns -1 (never
 * crashes) on text it cannot follow.  It is meant for text that jansson
 * has already accepted; on such text its answers are exact.
 *
 * Lines and columns are 1-based and count characters the way jansson
 * does: a line ends at '\n' and a UTF-8 sequence is one column.
 */
#ifndef MRD_JSONPOS_H
#define MRD_JSONPOS_H

#include <stddef.h>

/* One step of a path: an object member (KEY != NULL, compared with the
 * member name after its escapes are decoded) or an array element
 * (KEY == NULL, 0-based INDEX). */
typedef struct jsonpos_step {
    const char *key;
    size_t index;
} jsonpos_step;

/* Which position of the final object member to report.  For an array
 * element (or the empty path, the root) both mean the value's first
 * character. */
typedef enum jsonpos_what {
    JSONPOS_KEY = 0, /* the opening quote of the member's name */
    JSONPOS_VALUE,   /* the first character of the member's value */
} jsonpos_what;

typedef struct jsonpos {
    size_t offset; /* byte offset into the text */
    int line;      /* 1-based */
    int column;    /* 1-based, in characters */
} jsonpos;

/* Locate PATH (NSTEPS steps; 0 = the root value) in TEXT.  Returns 0 and
 * fills *out, or -1 when the path does not exist or the text cannot be
 * followed.  With duplicate keys the first occurrence wins. */
int jsonpos_locate(const char *text, size_t len, const jsonpos_step *path,
                   size_t nsteps, jsonpos_what what, jsonpos *out);

/* Same with a path written as text: keys separated by '.', indexes in
 * brackets, e.g. "regions[1].zones[0].hosts[0].address"; "" is the root.
 * Keys containing '.', '[' or ']' need jsonpos_locate().  Returns -1 for
 * a malformed path too. */
int jsonpos_locate_path(const char *text, size_t len, const char *path,
                        jsonpos_what what, jsonpos *out);

/* Line and column of byte OFFSET (clamped to LEN). */
jsonpos jsonpos_at_offset(const char *text, size_t len, size_t offset);

/* Byte offset where the token that ends at or spans byte offset END - 1
 * starts; END itself when END falls in whitespace or past the last token.
 * Turns jansson's error position (just past the offending token) into the
 * token's first character. */
size_t jsonpos_token_start(const char *text, size_t len, size_t end);

#endif
