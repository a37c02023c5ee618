/* A strict JSON reader (see json_read.h): recursive descent over the bytes, with the
 * position of the first mistake in the message. */
#include "json_read.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 32
#define MAX_KEYS 32
#define KEY_CAP 128

typedef struct {
  const unsigned char *start, *p, *end;
  char* err;
  size_t err_cap;
  int depth;
} Reader;

static int fail(Reader* r, const char* what) {
  if (r->err_cap > 0) snprintf(r->err, r->err_cap, "offset %ld: %s", (long)(r->p - r->start), what);
  return 0;
}

static void skip_ws(Reader* r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

/* Appends code point c as UTF-8 to out (cap bytes, one kept for the NUL) unless out is
 * NULL; counts the bytes in *n even past cap, so the caller sees an overflow. */
static void put_utf8(char* out, size_t cap, size_t* n, uint32_t c) {
  unsigned char b[4];
  size_t k = 0, i;
  if (c < 0x80) b[k++] = (unsigned char)c;
  else if (c < 0x800) { b[k++] = (unsigned char)(0xC0 | (c >> 6)); b[k++] = (unsigned char)(0x80 | (c & 0x3F)); }
  else if (c < 0x10000) {
    b[k++] = (unsigned char)(0xE0 | (c >> 12));
    b[k++] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    b[k++] = (unsigned char)(0x80 | (c & 0x3F));
  } else {
    b[k++] = (unsigned char)(0xF0 | (c >> 18));
    b[k++] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    b[k++] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    b[k++] = (unsigned char)(0x80 | (c & 0x3F));
  }
  for (i = 0; i < k; i++, (*n)++)
    if (out && *n + 1 < cap) out[*n] = (char)b[i];
}

static int hex4(Reader* r, uint32_t* v) {
  int i;
  *v = 0;
  for (i = 0; i < 4; i++, r->p++) {
    const unsigned char c = r->p < r->end ? *r->p : 0;
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return fail(r, "\\u needs four hex digits");
    *v = *v * 16 + (uint32_t)d;
  }
  return 1;
}

/* One UTF-8 character of a string (first byte >= 0x80), well formed, into *c. */
static int utf8_char(Reader* r, uint32_t* c) {
  const unsigned char b = *r->p;
  int n, i;
  uint32_t min;
  if (b >= 0xC2 && b <= 0xDF) { n = 1; *c = b & 0x1F; min = 0x80; }
  else if (b >= 0xE0 && b <= 0xEF) { n = 2; *c = b & 0x0F; min = 0x800; }
  else if (b >= 0xF0 && b <= 0xF4) { n = 3; *c = b & 0x07; min = 0x10000; }
  else return fail(r, "invalid UTF-8");
  for (i = 1; i <= n; i++) {
    if (r->p + i >= r->end || (r->p[i] & 0xC0) != 0x80) return fail(r, "invalid UTF-8");
    *c = (*c << 6) | (r->p[i] & 0x3F);
  }
  if (*c < min || *c > 0x10FFFF || (*c >= 0xD800 && *c <= 0xDFFF)) return fail(r, "invalid UTF-8");
  r->p += n + 1;
  return 1;
}

/* A string at r->p (the opening quote), decoded into out (NULL: only validated). */
static int read_string(Reader* r, char* out, size_t cap, size_t* len, size_t* chars) {
  size_t n = 0, count = 0;
  r->p++;
  for (;;) {
    uint32_t c;
    if (r->p >= r->end) return fail(r, "unterminated string");
    if (*r->p == '"') break;
    if (*r->p < 0x20) return fail(r, "control character in a string");
    if (*r->p == '\\') {
      static const char kNames[] = "\"\\/bfnrt", kValues[] = "\"\\/\b\f\n\r\t";
      const unsigned char e = ++r->p < r->end ? *r->p : 0;
      const char* simple = e ? strchr(kNames, e) : NULL;
      if (simple) {
        c = (unsigned char)kValues[simple - kNames];
        r->p++;
      } else if (e == 'u') {
        r->p++;
        if (!hex4(r, &c)) return 0;
        if (c >= 0xDC00 && c <= 0xDFFF) return fail(r, "lone low surrogate");
        if (c >= 0xD800 && c <= 0xDBFF) {
          uint32_t low;
          if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u') return fail(r, "high surrogate without a low one");
          r->p += 2;
          if (!hex4(r, &low)) return 0;
          if (low < 0xDC00 || low > 0xDFFF) return fail(r, "high surrogate without a low one");
          c = 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00);
        }
      } else {
        return fail(r, "invalid escape");
      }
    } else if (*r->p >= 0x80) {
      if (!utf8_char(r, &c)) return 0;
    } else {
      c = *r->p++;
    }
    put_utf8(out, cap, &n, c);
    count++;
  }
  r->p++;
  if (out && cap > 0) out[n + 1 <= cap ? n : cap - 1] = '\0';
  if (len) *len = n;
  if (chars) *chars = count;
  return 1;
}

static int read_digits(Reader* r) {
  const unsigned char* from = r->p;
  while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
  return r->p > from ? 1 : fail(r, "expected a digit");
}

static int read_number(Reader* r) {
  if (r->p < r->end && *r->p == '-') r->p++;
  if (r->p < r->end && *r->p == '0') r->p++;
  else if (!read_digits(r)) return 0;
  if (r->p < r->end && *r->p == '.') {
    r->p++;
    if (!read_digits(r)) return 0;
  }
  if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
    r->p++;
    if (r->p < r->end && (*r->p == '+' || *r->p == '-')) r->p++;
    if (!read_digits(r)) return 0;
  }
  return 1;
}

static int read_value(Reader* r, JsonField* fields, size_t n_fields, int allow_other);

/* An object at r->p; with fields (the top level), its members are checked against them. */
static int read_object(Reader* r, JsonField* fields, size_t n_fields, int allow_other) {
  char seen[MAX_KEYS][KEY_CAP]; /* the keys so far, for duplicates */
  size_t n_seen = 0, i;
  r->p++;
  skip_ws(r);
  if (r->p < r->end && *r->p == '}') { r->p++; return 1; }
  for (;;) {
    char key[KEY_CAP];
    size_t key_len;
    JsonField* field = NULL;
    skip_ws(r);
    if (r->p >= r->end || *r->p != '"') return fail(r, "expected a key");
    if (!read_string(r, key, sizeof key, &key_len, NULL)) return 0;
    if (key_len + 1 > sizeof key || strlen(key) != key_len) return fail(r, "key too long or holding NUL");
    for (i = 0; i < n_seen; i++)
      if (strcmp(seen[i], key) == 0) return fail(r, "duplicate key");
    if (n_seen == sizeof seen / sizeof seen[0]) return fail(r, "too many keys");
    memcpy(seen[n_seen++], key, key_len + 1);
    for (i = 0; i < n_fields; i++)
      if (strcmp(fields[i].key, key) == 0) field = &fields[i];
    if (fields && !field && !allow_other) return fail(r, "unexpected key");
    skip_ws(r);
    if (r->p >= r->end || *r->p != ':') return fail(r, "expected ':'");
    r->p++;
    skip_ws(r);
    if (field) {
      if (r->p >= r->end || *r->p != '"') return fail(r, "expected a string value");
      if (!read_string(r, field->value, field->cap, &field->length, &field->chars)) return 0;
      if (field->length + 1 > field->cap) return fail(r, "string value too long");
      field->found = 1;
    } else if (!read_value(r, NULL, 0, 1)) {
      return 0;
    }
    skip_ws(r);
    if (r->p < r->end && *r->p == ',') { r->p++; continue; }
    if (r->p < r->end && *r->p == '}') { r->p++; return 1; }
    return fail(r, "expected ',' or '}'");
  }
}

static int read_array(Reader* r) {
  r->p++;
  skip_ws(r);
  if (r->p < r->end && *r->p == ']') { r->p++; return 1; }
  for (;;) {
    skip_ws(r);
    if (!read_value(r, NULL, 0, 1)) return 0;
    skip_ws(r);
    if (r->p < r->end && *r->p == ',') { r->p++; continue; }
    if (r->p < r->end && *r->p == ']') { r->p++; return 1; }
    return fail(r, "expected ',' or ']'");
  }
}

static int read_literal(Reader* r, const char* word) {
  const size_t n = strlen(word);
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return fail(r, "invalid literal");
  r->p += n;
  return 1;
}

static int read_value(Reader* r, JsonField* fields, size_t n_fields, int allow_other) {
  int ok;
  if (r->p >= r->end) return fail(r, "expected a value");
  if (++r->depth > MAX_DEPTH) return fail(r, "nested too deeply");
  switch (*r->p) {
    case '{': ok = read_object(r, fields, n_fields, allow_other); break;
    case '[': ok = read_array(r); break;
    case '"': ok = read_string(r, NULL, 0, NULL, NULL); break;
    case 't': ok = read_literal(r, "true"); break;
    case 'f': ok = read_literal(r, "false"); break;
    case 'n': ok = read_literal(r, "null"); break;
    default: ok = (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')) ? read_number(r) : fail(r, "expected a value");
  }
  r->depth--;
  return ok;
}

int json_read_object(const char* text, size_t len, JsonField* fields, size_t n_fields, int allow_other, char* err,
                     size_t err_cap) {
  Reader r;
  size_t i;
  r.start = r.p = (const unsigned char*)text;
  r.end = r.start + len;
  r.err = err;
  r.err_cap = err_cap;
  r.depth = 0;
  if (err_cap > 0) err[0] = '\0';
  for (i = 0; i < n_fields; i++) {
    fields[i].found = 0;
    fields[i].length = fields[i].chars = 0;
    if (fields[i].cap > 0) fields[i].value[0] = '\0';
  }
  skip_ws(&r);
  if (r.p >= r.end || *r.p != '{') return fail(&r, "expected an object");
  if (!read_value(&r, fields, n_fields, allow_other)) return 0;
  skip_ws(&r);
  if (r.p != r.end) return fail(&r, "text after the value");
  return 1;
}
