/*
 * subq_json.h — a small, strict JSON parser for model files (safetensors
 * headers, their shard index). Internal: never installed.
 *
 * Input is untrusted. The parser
 *   - never recurses: containers live on an explicit stack capped at
 *     limits.max_depth;
 *   - caps the number of values (limits.max_values) and the input size
 *     (limits.max_input, at most 2^31 - 1 bytes so offsets fit 32 bits);
 *   - accepts exactly RFC 8259 JSON: strict UTF-8 (no overlong forms, no
 *     encoded surrogates, nothing above U+10FFFF), no raw control characters
 *     in strings, escapes \" \\ \/ \b \f \n \r \t \u plus four hex digits, surrogates
 *     only as a high + low pair, no leading zeros, no NaN/Infinity, nothing
 *     but whitespace after the root value;
 *   - rejects duplicate keys inside any object;
 *   - parses integers exactly to int64 with an overflow flag, and keeps the
 *     number text for an on-demand double conversion (locale-independent).
 *
 * The result is a DOM: a flat array of values; containers hold their first
 * child and count, children are chained by `next`. Strings are decoded to
 * NUL-terminated UTF-8 in one arena (a decoded string may contain U+0000;
 * `len` is authoritative).
 */
#ifndef SUBQ_JSON_H
#define SUBQ_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum subq_json_type {
  SUBQ_JSON_NULL = 0,
  SUBQ_JSON_FALSE,
  SUBQ_JSON_TRUE,
  SUBQ_JSON_NUMBER,
  SUBQ_JSON_STRING,
  SUBQ_JSON_ARRAY,
  SUBQ_JSON_OBJECT
} subq_json_type;

/* number flags */
#define SUBQ_JSON_NUM_INTEGER 1u /* integer syntax: no fraction, no exponent */
#define SUBQ_JSON_NUM_I64 2u     /* ... and the value fits int64 (in .i) */

#define SUBQ_JSON_NONE UINT32_MAX

typedef struct subq_json_value {
  uint8_t type;     /* subq_json_type */
  uint8_t flags;    /* SUBQ_JSON_NUM_* for numbers */
  uint16_t unused;
  uint32_t next;    /* next sibling, SUBQ_JSON_NONE for the last */
  uint32_t key;     /* object member: offset of its key in the string arena; else SUBQ_JSON_NONE */
  uint32_t key_len; /* bytes */
  uint32_t a;       /* string/number: offset of the text in the arena; array/object: first child (or NONE) */
  uint32_t b;       /* string/number: bytes; array/object: child count */
  int64_t i;        /* number with SUBQ_JSON_NUM_I64: its value */
} subq_json_value;

typedef struct subq_json_limits {
  uint32_t max_depth;  /* containers nested at most this deep (root = 1); >= 1 */
  uint32_t max_values; /* values in the document */
  size_t max_input;    /* bytes of input */
} subq_json_limits;

typedef struct subq_json_doc {
  subq_json_value *v; /* v[0] is the root */
  uint32_t n, cap;
  char *s; /* string arena */
  size_t s_len, s_cap;
} subq_json_doc;

/* Parses text[0..len). On success fills *doc (free with subq_json_free) and
 * returns 0. On failure returns -1 with *doc empty and a message in
 * err ("byte 17: invalid UTF-8 in a string"), or -2 when memory ran out. */
int subq_json_parse(const char *text, size_t len, const subq_json_limits *limits, subq_json_doc *doc, char *err,
                    size_t err_cap);
void subq_json_free(subq_json_doc *doc);

static inline const subq_json_value *subq_json_root(const subq_json_doc *d) { return &d->v[0]; }
static inline const char *subq_json_str(const subq_json_doc *d, const subq_json_value *v) { return d->s + v->a; }
static inline const char *subq_json_key(const subq_json_doc *d, const subq_json_value *v) { return d->s + v->key; }
/* First child of a container, or NULL; then subq_json_next. */
static inline const subq_json_value *subq_json_first(const subq_json_doc *d, const subq_json_value *v) {
  return (v->type == SUBQ_JSON_ARRAY || v->type == SUBQ_JSON_OBJECT) && v->a != SUBQ_JSON_NONE ? &d->v[v->a] : NULL;
}
static inline const subq_json_value *subq_json_next(const subq_json_doc *d, const subq_json_value *v) {
  return v->next != SUBQ_JSON_NONE ? &d->v[v->next] : NULL;
}
/* Member of an object by key (exact bytes), or NULL. Linear. */
const subq_json_value *subq_json_get(const subq_json_doc *d, const subq_json_value *obj, const char *key);
/* The number as a double (correctly rounded by the C library, C locale);
 * +-HUGE_VAL for magnitudes beyond double. */
double subq_json_double(const subq_json_doc *d, const subq_json_value *v);
/* "object", "array", ... */
const char *subq_json_type_name(int type);

/* Validates UTF-8 (same rules as the parser): returns the offset of the first
 * bad byte, or len when all is well. */
size_t subq_utf8_check(const unsigned char *p, size_t len);

#endif /* SUBQ_JSON_H */
