/* A small, strict JSON reader for one object whose members of interest are strings.
 *
 * json_read_object() accepts exactly one JSON text (RFC 8259): one value with optional
 * whitespace around it, nothing else. Everything is validated, nested values included:
 * the structure, string escapes (\uXXXX with surrogate pairs), UTF-8 (no overlong forms,
 * no surrogates, nothing above U+10FFFF), control characters (refused inside strings),
 * the number grammar and the literals true/false/null. Limits of this reader: nesting
 * depth 32, 32 keys per object, keys of at most 127 bytes. The value must
 * be an object; no key may appear twice; the members named in `fields` must be strings,
 * and their decoded values are copied out. */
#ifndef NPC_ACTIONS_JSON_READ_H
#define NPC_ACTIONS_JSON_READ_H

#include <stddef.h>

typedef struct JsonField {
  const char* key; /* the member's name */
  char* value;     /* receives the decoded string, UTF-8, NUL-terminated */
  size_t cap;      /* bytes at value, the NUL included */
  size_t length;   /* out: bytes of the decoded string */
  size_t chars;    /* out: its code points (what JSON Schema's maxLength counts) */
  int found;       /* out: 1 when the member was there */
} JsonField;

/* Parses text[0, len). Returns 1 when it is valid JSON of the shape above; else 0, with
 * a message naming the byte offset in err (err_cap bytes, NUL-terminated). Members not
 * named in fields are an error unless allow_other is 1 (then they are validated and
 * skipped). A field whose value does not fit its cap is an error. */
int json_read_object(const char* text, size_t len, JsonField* fields, size_t n_fields, int allow_other, char* err,
                     size_t err_cap);

#endif
