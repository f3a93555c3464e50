/* subq_json.c — strict, non-recursive JSON DOM parser for untrusted model files (see subq_json.h). */
#include "io/subq_json.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__APPLE__)
#include <xlocale.h>
#endif

typedef struct jp {
  const unsigned char *p;
  size_t len, pos;
  const subq_json_limits *lim;
  subq_json_doc *doc;
  char *err;
  size_t err_cap;
  int oom;
} jp;

typedef struct jframe {
  uint32_t node, last; /* container and its last child so far (NONE when empty) */
} jframe;

static int jfail(jp *s, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int jfail(jp *s, size_t at, const char *fmt, ...) {
  if (s->err && s->err_cap) {
    int k = snprintf(s->err, s->err_cap, "byte %zu: ", at);
    if (k < 0) k = 0;
    if ((size_t)k < s->err_cap) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(s->err + k, s->err_cap - (size_t)k, fmt, ap);
      va_end(ap);
    }
  }
  return -1;
}

static int joom(jp *s) {
  s->oom = 1;
  if (s->err && s->err_cap) snprintf(s->err, s->err_cap, "out of memory");
  return -1;
}

static const char *jchar_desc(jp *s, size_t at, char buf[16]) {
  if (at >= s->len) return "end of input";
  unsigned c = s->p[at];
  if (c >= 0x20 && c < 0x7f) snprintf(buf, 16, "'%c'", (int)c);
  else snprintf(buf, 16, "byte 0x%02x", c);
  return buf;
}

static void skip_ws(jp *s) {
  while (s->pos < s->len) {
    unsigned char c = s->p[s->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    s->pos++;
  }
}

/* Ensures room for `extra` more arena bytes. */
static int arena_reserve(jp *s, size_t extra) {
  subq_json_doc *d = s->doc;
  if (extra <= d->s_cap - d->s_len) return 0;
  size_t need = d->s_len + extra; /* s_len <= max_input + small, extra <= max_input: no overflow */
  size_t cap = d->s_cap ? d->s_cap : 256;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  char *ns = realloc(d->s, cap);
  if (!ns) return joom(s);
  d->s = ns;
  d->s_cap = cap;
  return 0;
}

static int new_value(jp *s, uint32_t *out) {
  subq_json_doc *d = s->doc;
  if (d->n >= s->lim->max_values) return jfail(s, s->pos, "more than %u JSON values", s->lim->max_values);
  if (d->n == d->cap) {
    uint32_t cap = d->cap ? (d->cap > UINT32_MAX / 2 ? UINT32_MAX - 1 : d->cap * 2) : 64;
    if (cap > s->lim->max_values) cap = s->lim->max_values;
    subq_json_value *nv = realloc(d->v, (size_t)cap * sizeof *nv);
    if (!nv) return joom(s);
    d->v = nv;
    d->cap = cap;
  }
  subq_json_value *v = &d->v[d->n];
  memset(v, 0, sizeof *v);
  v->next = SUBQ_JSON_NONE;
  v->key = SUBQ_JSON_NONE;
  v->a = SUBQ_JSON_NONE;
  *out = d->n++;
  return 0;
}

size_t subq_utf8_check(const unsigned char *p, size_t len) {
  size_t i = 0;
  while (i < len) {
    unsigned c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c == 0xe0) n = 2, lo = 0xa0;
    else if (c >= 0xe1 && c <= 0xec) n = 2;
    else if (c == 0xed) n = 2, hi = 0x9f; /* no UTF-16 surrogates */
    else if (c >= 0xee && c <= 0xef) n = 2;
    else if (c == 0xf0) n = 3, lo = 0x90;
    else if (c >= 0xf1 && c <= 0xf3) n = 3;
    else if (c == 0xf4) n = 3, hi = 0x8f; /* <= U+10FFFF */
    else return i;
    if (len - i <= n) return i;
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k <= n; k++)
      if ((p[i + k] & 0xc0) != 0x80) return i;
    i += n + 1;
  }
  return len;
}

static int hex4(jp *s, size_t at, unsigned *out) {
  if (s->len - at < 4) return jfail(s, at, "truncated \\u escape");
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    unsigned c = s->p[at + (size_t)k], d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return jfail(s, at + (size_t)k, "bad hex digit in a \\u escape");
    v = v * 16 + d;
  }
  *out = v;
  return 0;
}

/* Parses the string starting at s->pos (a '"') into the arena; returns its offset/length. */
static int parse_string(jp *s, uint32_t *off, uint32_t *slen) {
  size_t start = s->pos;
  s->pos++;
  /* find the raw extent first: decoded bytes + NUL never exceed raw bytes + 1 */
  size_t end = s->pos;
  while (end < s->len && s->p[end] != '"') end += s->p[end] == '\\' ? 2 : 1;
  if (end >= s->len) return jfail(s, start, "unterminated string");
  if (arena_reserve(s, end - s->pos + 1)) return -1;
  char *o = s->doc->s + s->doc->s_len;
  size_t k = 0;
  while (s->pos < end) {
    unsigned c = s->p[s->pos];
    if (c == '\\') {
      unsigned e = s->p[s->pos + 1];
      size_t at = s->pos;
      s->pos += 2;
      switch (e) {
        case '"': o[k++] = '"'; break;
        case '\\': o[k++] = '\\'; break;
        case '/': o[k++] = '/'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'n': o[k++] = '\n'; break;
        case 'r': o[k++] = '\r'; break;
        case 't': o[k++] = '\t'; break;
        case 'u': {
          unsigned u = 0;
          if (s->pos > end || hex4(s, s->pos, &u)) return s->pos > end ? jfail(s, at, "truncated \\u escape") : -1;
          s->pos += 4;
          if (u >= 0xdc00 && u <= 0xdfff) return jfail(s, at, "\\u%04x is a lone low surrogate", u);
          if (u >= 0xd800 && u <= 0xdbff) {
            unsigned lo = 0;
            if (s->pos + 2 > end || s->p[s->pos] != '\\' || s->p[s->pos + 1] != 'u')
              return jfail(s, at, "\\u%04x (high surrogate) is not followed by a low surrogate", u);
            if (hex4(s, s->pos + 2, &lo)) return -1;
            if (lo < 0xdc00 || lo > 0xdfff)
              return jfail(s, s->pos, "\\u%04x (high surrogate) is followed by \\u%04x, not a low surrogate", u, lo);
            s->pos += 6;
            u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
          }
          if (s->pos > end) return jfail(s, at, "truncated \\u escape");
          if (u < 0x80) o[k++] = (char)u;
          else if (u < 0x800) {
            o[k++] = (char)(0xc0 | (u >> 6));
            o[k++] = (char)(0x80 | (u & 0x3f));
          } else if (u < 0x10000) {
            o[k++] = (char)(0xe0 | (u >> 12));
            o[k++] = (char)(0x80 | ((u >> 6) & 0x3f));
            o[k++] = (char)(0x80 | (u & 0x3f));
          } else {
            o[k++] = (char)(0xf0 | (u >> 18));
            o[k++] = (char)(0x80 | ((u >> 12) & 0x3f));
            o[k++] = (char)(0x80 | ((u >> 6) & 0x3f));
            o[k++] = (char)(0x80 | (u & 0x3f));
          }
          break;
        }
        default: {
          char b[16];
          return jfail(s, at, "invalid escape \\%s", jchar_desc(s, at + 1, b));
        }
      }
    } else if (c < 0x20) {
      return jfail(s, s->pos, "raw control character 0x%02x in a string", c);
    } else if (c < 0x80) {
      o[k++] = (char)c;
      s->pos++;
    } else {
      /* one multi-byte sequence; its lead byte gives the length */
      size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      if (c < 0xc2 || c > 0xf4 || end - s->pos < n || subq_utf8_check(s->p + s->pos, n) != n)
        return jfail(s, s->pos, "invalid UTF-8 in a string");
      memcpy(o + k, s->p + s->pos, n);
      k += n;
      s->pos += n;
    }
  }
  if (s->pos != end) return jfail(s, start, "unterminated string"); /* an escape ran over the quote */
  s->pos = end + 1;
  o[k] = 0;
  *off = (uint32_t)s->doc->s_len;
  *slen = (uint32_t)k;
  s->doc->s_len += k + 1;
  return 0;
}

static int parse_number(jp *s, subq_json_value *v) {
  size_t start = s->pos, i = s->pos;
  const unsigned char *p = s->p;
  bool neg = false, integer = true;
  if (i < s->len && p[i] == '-') neg = true, i++;
  if (i >= s->len || p[i] < '0' || p[i] > '9') return jfail(s, start, "invalid number");
  size_t dstart = i;
  if (p[i] == '0') {
    i++;
    if (i < s->len && p[i] >= '0' && p[i] <= '9') return jfail(s, start, "number with a leading zero");
  } else {
    while (i < s->len && p[i] >= '0' && p[i] <= '9') i++;
  }
  size_t dend = i;
  if (i < s->len && p[i] == '.') {
    integer = false;
    i++;
    if (i >= s->len || p[i] < '0' || p[i] > '9') return jfail(s, i, "number without digits after '.'");
    while (i < s->len && p[i] >= '0' && p[i] <= '9') i++;
  }
  if (i < s->len && (p[i] == 'e' || p[i] == 'E')) {
    integer = false;
    i++;
    if (i < s->len && (p[i] == '+' || p[i] == '-')) i++;
    if (i >= s->len || p[i] < '0' || p[i] > '9') return jfail(s, i, "number without exponent digits");
    while (i < s->len && p[i] >= '0' && p[i] <= '9') i++;
  }
  v->type = SUBQ_JSON_NUMBER;
  if (integer) {
    v->flags = SUBQ_JSON_NUM_INTEGER;
    /* accumulate negatively so INT64_MIN fits */
    int64_t acc = 0;
    bool ok = true;
    for (size_t k = dstart; k < dend && ok; k++) {
      int64_t dg = p[k] - '0';
      if (acc < (INT64_MIN + dg) / 10) ok = false;
      else acc = acc * 10 - dg;
    }
    if (ok && !neg && acc == INT64_MIN) ok = false;
    if (ok) {
      v->flags |= SUBQ_JSON_NUM_I64;
      v->i = neg ? acc : -acc;
    }
  }
  size_t n = i - start;
  if (arena_reserve(s, n + 1)) return -1;
  memcpy(s->doc->s + s->doc->s_len, p + start, n);
  s->doc->s[s->doc->s_len + n] = 0;
  v->a = (uint32_t)s->doc->s_len;
  v->b = (uint32_t)n;
  s->doc->s_len += n + 1;
  s->pos = i;
  return 0;
}

typedef struct keyref {
  const char *p;
  uint32_t len;
} keyref;

static int keyref_cmp(const void *a, const void *b) {
  const keyref *x = a, *y = b;
  uint32_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->p, y->p, n);
  if (c) return c;
  return x->len < y->len ? -1 : x->len > y->len;
}

/* Rejects an object whose members repeat a key (sort, then compare neighbours). */
static int check_duplicates(jp *s, uint32_t obj, keyref **scratch, size_t *scratch_cap, size_t at) {
  subq_json_doc *d = s->doc;
  uint32_t n = d->v[obj].b;
  if (n < 2) return 0;
  if (n > *scratch_cap) {
    keyref *ns = realloc(*scratch, (size_t)n * sizeof *ns);
    if (!ns) return joom(s);
    *scratch = ns;
    *scratch_cap = n;
  }
  keyref *k = *scratch;
  uint32_t i = 0;
  for (uint32_t c = d->v[obj].a; c != SUBQ_JSON_NONE; c = d->v[c].next) {
    k[i].p = d->s + d->v[c].key;
    k[i].len = d->v[c].key_len;
    i++;
  }
  qsort(k, n, sizeof *k, keyref_cmp);
  for (i = 1; i < n; i++)
    if (keyref_cmp(&k[i - 1], &k[i]) == 0) {
      /* print at most 64 bytes of the key, escaping what is not printable ASCII */
      char buf[64 * 4 + 8];
      size_t o = 0;
      for (uint32_t j = 0; j < k[i].len && j < 64; j++) {
        unsigned char c = (unsigned char)k[i].p[j];
        if (c >= 0x20 && c < 0x7f && c != '\'') buf[o++] = (char)c;
        else o += (size_t)snprintf(buf + o, sizeof buf - o, "\\x%02x", c);
      }
      buf[o] = 0;
      return jfail(s, at, "duplicate key '%s%s' in an object", buf, k[i].len > 64 ? "..." : "");
    }
  return 0;
}

static int parse_key(jp *s, uint32_t *koff, uint32_t *klen) {
  char b[16];
  if (s->pos >= s->len || s->p[s->pos] != '"')
    return jfail(s, s->pos, "expected a string key, found %s", jchar_desc(s, s->pos, b));
  if (parse_string(s, koff, klen)) return -1;
  skip_ws(s);
  if (s->pos >= s->len || s->p[s->pos] != ':')
    return jfail(s, s->pos, "expected ':' after a key, found %s", jchar_desc(s, s->pos, b));
  s->pos++;
  skip_ws(s);
  return 0;
}

static int parse_doc(jp *s) {
  subq_json_doc *d = s->doc;
  const subq_json_limits *lim = s->lim;
  jframe *stack = malloc((size_t)lim->max_depth * sizeof *stack);
  keyref *scratch = NULL;
  size_t scratch_cap = 0;
  if (!stack) return joom(s);
  uint32_t depth = 0;
  uint32_t koff = SUBQ_JSON_NONE, klen = 0;
  int rc = 0;
  char b[16];
  skip_ws(s);
  if (s->pos >= s->len) {
    rc = jfail(s, s->pos, "empty input");
    goto done;
  }
  for (;;) {
    /* ---- a value is expected at s->pos (key already parsed when the parent is an object) */
    uint32_t idx = 0;
    if ((rc = new_value(s, &idx))) goto done;
    subq_json_value *v = &d->v[idx];
    v->key = koff;
    v->key_len = klen;
    koff = SUBQ_JSON_NONE;
    klen = 0;
    if (depth) {
      jframe *f = &stack[depth - 1];
      if (f->last == SUBQ_JSON_NONE) d->v[f->node].a = idx;
      else d->v[f->last].next = idx;
      f->last = idx;
      d->v[f->node].b++;
    }
    if (s->pos >= s->len) {
      rc = jfail(s, s->pos, "unexpected end of input, expected a value");
      goto done;
    }
    unsigned c = s->p[s->pos];
    if (c == '{' || c == '[') {
      if (depth >= lim->max_depth) {
        rc = jfail(s, s->pos, "nesting deeper than %u levels", lim->max_depth);
        goto done;
      }
      v->type = c == '{' ? SUBQ_JSON_OBJECT : SUBQ_JSON_ARRAY;
      stack[depth].node = idx;
      stack[depth].last = SUBQ_JSON_NONE;
      depth++;
      s->pos++;
      skip_ws(s);
      unsigned close = c == '{' ? '}' : ']';
      if (s->pos < s->len && s->p[s->pos] == close) {
        s->pos++;
        depth--;
      } else {
        if (c == '{' && (rc = parse_key(s, &koff, &klen))) goto done;
        continue;
      }
    } else if (c == '"') {
      uint32_t off, n;
      if ((rc = parse_string(s, &off, &n))) goto done;
      v = &d->v[idx];
      v->type = SUBQ_JSON_STRING;
      v->a = off;
      v->b = n;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      if ((rc = parse_number(s, v))) goto done;
    } else if (c == 't' || c == 'f' || c == 'n') {
      const char *lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
      size_t n = strlen(lit);
      if (s->len - s->pos < n || memcmp(s->p + s->pos, lit, n) != 0) {
        rc = jfail(s, s->pos, "invalid literal (expected %s)", lit);
        goto done;
      }
      v->type = c == 't' ? SUBQ_JSON_TRUE : c == 'f' ? SUBQ_JSON_FALSE : SUBQ_JSON_NULL;
      s->pos += n;
    } else {
      rc = jfail(s, s->pos, "expected a value, found %s", jchar_desc(s, s->pos, b));
      goto done;
    }
    /* ---- after a complete value: ',' or a closing bracket, possibly several */
    for (;;) {
      skip_ws(s);
      if (depth == 0) {
        if (s->pos != s->len) rc = jfail(s, s->pos, "%s after the JSON value", jchar_desc(s, s->pos, b));
        goto done;
      }
      jframe *f = &stack[depth - 1];
      bool is_obj = d->v[f->node].type == SUBQ_JSON_OBJECT;
      c = s->pos < s->len ? s->p[s->pos] : 0;
      if (c == ',') {
        s->pos++;
        skip_ws(s);
        if (is_obj && (rc = parse_key(s, &koff, &klen))) goto done;
        break; /* next value */
      }
      if (c == (is_obj ? '}' : ']')) {
        if (is_obj && (rc = check_duplicates(s, f->node, &scratch, &scratch_cap, s->pos))) goto done;
        s->pos++;
        depth--;
        continue;
      }
      rc = jfail(s, s->pos, "expected ',' or '%c', found %s", is_obj ? '}' : ']', jchar_desc(s, s->pos, b));
      goto done;
    }
  }
done:
  free(stack);
  free(scratch);
  return rc;
}

int subq_json_parse(const char *text, size_t len, const subq_json_limits *limits, subq_json_doc *doc, char *err,
                    size_t err_cap) {
  memset(doc, 0, sizeof *doc);
  if (err && err_cap) err[0] = 0;
  subq_json_limits lim = *limits;
  if (lim.max_depth < 1) lim.max_depth = 1;
  if (lim.max_values < 1) lim.max_values = 1;
  if (lim.max_values > UINT32_MAX - 1) lim.max_values = UINT32_MAX - 1;
  if (lim.max_input > (size_t)INT32_MAX) lim.max_input = (size_t)INT32_MAX;
  jp s = {(const unsigned char *)text, len, 0, &lim, doc, err, err_cap, 0};
  if (len > lim.max_input) {
    if (err && err_cap) snprintf(err, err_cap, "input of %zu bytes exceeds the %zu-byte limit", len, lim.max_input);
    return -1;
  }
  if (!text && len) {
    if (err && err_cap) snprintf(err, err_cap, "no input");
    return -1;
  }
  int rc = parse_doc(&s);
  if (rc) {
    subq_json_free(doc);
    return s.oom ? -2 : -1;
  }
  return 0;
}

void subq_json_free(subq_json_doc *doc) {
  free(doc->v);
  free(doc->s);
  memset(doc, 0, sizeof *doc);
}

const subq_json_value *subq_json_get(const subq_json_doc *d, const subq_json_value *obj, const char *key) {
  if (obj->type != SUBQ_JSON_OBJECT) return NULL;
  size_t n = strlen(key);
  for (const subq_json_value *c = subq_json_first(d, obj); c; c = subq_json_next(d, c))
    if (c->key_len == n && memcmp(d->s + c->key, key, n) == 0) return c;
  return NULL;
}

#if defined(__GLIBC__) || defined(__APPLE__)
static locale_t g_c_locale;
static pthread_once_t g_c_locale_once = PTHREAD_ONCE_INIT;
static void make_c_locale(void) { g_c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0); }
#endif

double subq_json_double(const subq_json_doc *d, const subq_json_value *v) {
  if (v->type != SUBQ_JSON_NUMBER) return NAN;
  const char *t = d->s + v->a;
#if defined(__GLIBC__) || defined(__APPLE__)
  pthread_once(&g_c_locale_once, make_c_locale);
  if (g_c_locale) return strtod_l(t, NULL, g_c_locale);
#endif
  return strtod(t, NULL); /* JSON numbers use '.', as the C locale does */
}

const char *subq_json_type_name(int type) {
  switch (type) {
    case SUBQ_JSON_NULL: return "null";
    case SUBQ_JSON_FALSE:
    case SUBQ_JSON_TRUE: return "a boolean";
    case SUBQ_JSON_NUMBER: return "a number";
    case SUBQ_JSON_STRING: return "a string";
    case SUBQ_JSON_ARRAY: return "an array";
    case SUBQ_JSON_OBJECT: return "an object";
  }
  return "?";
}
