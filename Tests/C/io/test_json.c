/*
 * test_json.c — the internal JSON parser (io/subq_json.h) used for safetensors
 * headers and shard indexes: accepted documents decode exactly (escapes,
 * surrogate pairs, int64 limits, doubles), every strictness rule rejects with
 * a message naming the byte, limits (depth, value count, input size) hold,
 * and a deterministic mutation run never breaks the DOM invariants.
 */
#include <math.h>
#include <stdint.h>

#include "io/subq_json.h"
#include "support/subq_test.h"

static const subq_json_limits k_lim = {64, 1u << 20, 1u << 26};

static int parse(const char *text, size_t len, subq_json_doc *d, char *err) {
  return subq_json_parse(text, len, &k_lim, d, err, 256);
}

static int parse_s(const char *text, subq_json_doc *d, char *err) { return parse(text, strlen(text), d, err); }

/* Expects `text` (len bytes) to be rejected with a message containing needle. */
static void reject_n(const char *text, size_t len, const char *needle) {
  subq_json_doc d;
  char err[256];
  int rc = parse(text, len, &d, err);
  CHECK_MSG(rc == -1 && strstr(err, needle) != NULL, "input '%.*s': rc %d, err '%s', wanted '%s'", (int)len, text,
            rc, err, needle);
  CHECK(d.v == NULL && d.s == NULL);
}
static void reject(const char *text, const char *needle) { reject_n(text, strlen(text), needle); }

static void accept(const char *text) {
  subq_json_doc d;
  char err[256];
  int rc = parse_s(text, &d, err);
  CHECK_MSG(rc == 0, "input '%s' rejected: %s", text, err);
  if (rc == 0) subq_json_free(&d);
}

/* Walks the DOM: counts match the chains, strings are NUL-terminated and valid UTF-8. */
static int check_dom(const subq_json_doc *d) {
  for (uint32_t i = 0; i < d->n; i++) {
    const subq_json_value *v = &d->v[i];
    if (v->type > SUBQ_JSON_OBJECT) return 0;
    if (v->next != SUBQ_JSON_NONE && (v->next <= i || v->next >= d->n)) return 0;
    if (v->type == SUBQ_JSON_STRING || v->type == SUBQ_JSON_NUMBER) {
      if ((size_t)v->a + v->b >= d->s_len || d->s[v->a + v->b] != 0) return 0;
      if (subq_utf8_check((const unsigned char *)d->s + v->a, v->b) != v->b) return 0;
    }
    if (v->key != SUBQ_JSON_NONE) {
      if ((size_t)v->key + v->key_len >= d->s_len || d->s[v->key + v->key_len] != 0) return 0;
      if (subq_utf8_check((const unsigned char *)d->s + v->key, v->key_len) != v->key_len) return 0;
    }
    if (v->type == SUBQ_JSON_ARRAY || v->type == SUBQ_JSON_OBJECT) {
      uint32_t n = 0;
      for (const subq_json_value *c = subq_json_first(d, v); c; c = subq_json_next(d, c)) {
        if ((c->key != SUBQ_JSON_NONE) != (v->type == SUBQ_JSON_OBJECT)) return 0;
        if (++n > d->n) return 0;
      }
      if (n != v->b) return 0;
    }
  }
  return d->v[0].key == SUBQ_JSON_NONE;
}

static void test_accepts(void) {
  subq_json_doc d;
  char err[256];
  /* escapes and surrogate pairs */
  CHECK(parse_s("  {\"a\\u00e9\\n\": \"x\\\"\\\\\\/\\b\\f\\r\\t\\ud83d\\ude00\\u20ac\", \"b\": [true, false, null]} ", &d,
                err) == 0);
  const subq_json_value *r = subq_json_root(&d);
  CHECK(r->type == SUBQ_JSON_OBJECT && r->b == 2);
  const subq_json_value *a = subq_json_get(&d, r, "a\xc3\xa9\n");
  CHECK(a && a->type == SUBQ_JSON_STRING);
  if (a) {
    static const char want[] = "x\"\\/\b\f\r\t\xf0\x9f\x98\x80\xe2\x82\xac";
    CHECK(a->b == sizeof want - 1 && memcmp(subq_json_str(&d, a), want, sizeof want) == 0);
  }
  const subq_json_value *b = subq_json_get(&d, r, "b");
  CHECK(b && b->type == SUBQ_JSON_ARRAY && b->b == 3);
  if (b) {
    const subq_json_value *e = subq_json_first(&d, b);
    CHECK(e->type == SUBQ_JSON_TRUE);
    e = subq_json_next(&d, e);
    CHECK(e->type == SUBQ_JSON_FALSE);
    e = subq_json_next(&d, e);
    CHECK(e->type == SUBQ_JSON_NULL && subq_json_next(&d, e) == NULL);
  }
  CHECK(subq_json_get(&d, r, "c") == NULL);
  CHECK(check_dom(&d));
  subq_json_free(&d);

  /* \u0000 decodes to a NUL inside the string; len stays authoritative */
  CHECK(parse_s("\"a\\u0000b\"", &d, err) == 0);
  CHECK(d.v[0].b == 3 && memcmp(subq_json_str(&d, &d.v[0]), "a\0b", 4) == 0);
  subq_json_free(&d);

  /* raw UTF-8 of every length, including the largest code point */
  CHECK(parse_s("\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"", &d, err) == 0);
  CHECK(d.v[0].b == 21);
  subq_json_free(&d);

  /* integers: exact at the int64 limits, flagged beyond */
  CHECK(parse_s("[0, -0, 9223372036854775807, -9223372036854775808, 9223372036854775808, -9223372036854775809, "
                "1.5e3, 0.1, -2E-2, 123456789012345678901234567890]",
                &d, err) == 0);
  const subq_json_value *e = subq_json_first(&d, subq_json_root(&d));
  CHECK(e->flags == (SUBQ_JSON_NUM_INTEGER | SUBQ_JSON_NUM_I64) && e->i == 0);
  e = subq_json_next(&d, e);
  CHECK(e->flags == (SUBQ_JSON_NUM_INTEGER | SUBQ_JSON_NUM_I64) && e->i == 0);
  e = subq_json_next(&d, e);
  CHECK((e->flags & SUBQ_JSON_NUM_I64) && e->i == INT64_MAX);
  e = subq_json_next(&d, e);
  CHECK((e->flags & SUBQ_JSON_NUM_I64) && e->i == INT64_MIN);
  e = subq_json_next(&d, e);
  CHECK(e->flags == SUBQ_JSON_NUM_INTEGER);
  CHECK(subq_json_double(&d, e) == 9223372036854775808.0);
  e = subq_json_next(&d, e);
  CHECK(e->flags == SUBQ_JSON_NUM_INTEGER);
  e = subq_json_next(&d, e);
  CHECK(e->flags == 0 && subq_json_double(&d, e) == 1500.0);
  e = subq_json_next(&d, e);
  CHECK(e->flags == 0 && subq_json_double(&d, e) == 0.1);
  e = subq_json_next(&d, e);
  CHECK(e->flags == 0 && subq_json_double(&d, e) == -0.02);
  e = subq_json_next(&d, e);
  CHECK(e->flags == SUBQ_JSON_NUM_INTEGER && subq_json_double(&d, e) == 1.2345678901234568e29);
  CHECK(check_dom(&d));
  subq_json_free(&d);

  accept("{}");
  accept("[]");
  accept(" [ [ ] , { } ] ");
  accept("\"\"");
  accept("7");
  accept("{\"a\":{\"a\":1},\"b\":{\"a\":2}}"); /* equal keys in different objects are fine */
}

static void test_rejects(void) {
  reject("", "empty input");
  reject("   ", "empty input");
  reject("{", "expected a string key");
  reject("{\"a\"", "expected ':'");
  reject("{\"a\":", "unexpected end of input");
  reject("[1,]", "expected a value, found ']'");
  reject("{\"a\":1,}", "expected a string key");
  reject("[1 2]", "expected ',' or ']'");
  reject("{\"a\":1 \"b\":2}", "expected ',' or '}'");
  reject("{} x", "'x' after the JSON value");
  reject("{}}", "after the JSON value");
  reject("{'a':1}", "expected a string key");
  reject("{a:1}", "expected a string key");
  reject("[tru]", "invalid literal");
  reject("[nul]", "invalid literal");
  reject("[NaN]", "expected a value");
  reject("[Infinity]", "expected a value");
  reject("[01]", "leading zero");
  reject("[-01]", "leading zero");
  reject("[1.]", "digits after '.'");
  reject("[.5]", "expected a value");
  reject("[1e]", "exponent digits");
  reject("[1e+]", "exponent digits");
  reject("[-]", "invalid number");
  reject("[+1]", "expected a value");
  reject("\"abc", "unterminated string");
  reject("\"abc\\\"", "unterminated string");
  reject("\"a\\x\"", "invalid escape \\'x'");
  reject("\"a\\u12\"", "truncated \\u escape");
  reject("\"a\\u12\"   ", "bad hex digit");
  reject("\"a\\u12G4\"", "bad hex digit");
  reject("\"\\udc00\"", "lone low surrogate");
  reject("\"\\ud800\"", "not followed by a low surrogate");
  reject("\"\\ud800x\"", "not followed by a low surrogate");
  reject("\"\\ud800\\u0041\"", "not a low surrogate");
  reject("\"\\ud800\\ud800\"", "not a low surrogate");
  reject("\"a\tb\"", "raw control character 0x09");
  reject_n("\"a\0b\"", 5, "raw control character 0x00");
  reject("\"\xc0\x80\"", "invalid UTF-8");         /* overlong NUL */
  reject("\"\xc1\xbf\"", "invalid UTF-8");         /* overlong */
  reject("\"\xe0\x80\x80\"", "invalid UTF-8");     /* overlong 3-byte */
  reject("\"\xed\xa0\x80\"", "invalid UTF-8");     /* encoded surrogate */
  reject("\"\xf0\x80\x80\x80\"", "invalid UTF-8"); /* overlong 4-byte */
  reject("\"\xf4\x90\x80\x80\"", "invalid UTF-8"); /* above U+10FFFF */
  reject("\"\xf5\x80\x80\x80\"", "invalid UTF-8");
  reject("\"\xff\"", "invalid UTF-8");
  reject("\"\x80\"", "invalid UTF-8");             /* stray continuation */
  reject("\"\xe2\x82\"", "invalid UTF-8");         /* truncated sequence */
  reject("\"\xe2\x82", "unterminated string");
  reject("\xef\xbb\xbf{}", "expected a value");    /* no BOM */
  reject("{\"a\":1,\"b\":2,\"a\":3}", "duplicate key 'a'");
  reject("{\"\\u0061\":1,\"a\":2}", "duplicate key 'a'"); /* equal after decoding */
  reject("[{\"k\\n\":1,\"k\\n\":2}]", "duplicate key 'k\\x0a'");
  reject("[1] [2]", "after the JSON value");
  /* error messages name the byte */
  reject("[1, x]", "byte 4:");
}

static void test_limits(void) {
  subq_json_doc d;
  char err[256];
  /* depth: exactly at the limit parses, one more fails; a million brackets fail fast without recursion */
  size_t n = 1000000;
  char *deep = malloc(2 * n + 1);
  for (size_t i = 0; i < n; i++) deep[i] = '[', deep[2 * n - 1 - i] = ']';
  deep[2 * n] = 0;
  subq_json_limits lim = {64, 1000, 1u << 26};
  CHECK(subq_json_parse(deep + n - 64, 128, &lim, &d, err, sizeof err) == 0);
  CHECK(d.n == 64 && check_dom(&d));
  subq_json_free(&d);
  CHECK(subq_json_parse(deep + n - 65, 130, &lim, &d, err, sizeof err) == -1);
  CHECK_MSG(strstr(err, "nesting deeper than 64 levels") != NULL, "%s", err);
  CHECK(subq_json_parse(deep, 2 * n, &lim, &d, err, sizeof err) == -1 && strstr(err, "nesting deeper"));
  free(deep);
  /* value count */
  lim.max_values = 4;
  CHECK(subq_json_parse("[1,2,3]", 7, &lim, &d, err, sizeof err) == 0);
  subq_json_free(&d);
  CHECK(subq_json_parse("[1,2,3,4]", 9, &lim, &d, err, sizeof err) == -1 && strstr(err, "more than 4 JSON values"));
  /* input size */
  lim.max_values = 1000;
  lim.max_input = 8;
  CHECK(subq_json_parse("[1,2,3,4]", 9, &lim, &d, err, sizeof err) == -1 && strstr(err, "exceeds the 8-byte limit"));
  /* a large flat object with unique keys parses (duplicate detection is n log n) */
  size_t cap = 64 + 200000 * 24;
  char *big = malloc(cap);
  size_t o = 0;
  big[o++] = '{';
  for (int i = 0; i < 200000; i++) o += (size_t)snprintf(big + o, cap - o, "%s\"k%07d\":%d", i ? "," : "", i, i);
  big[o++] = '}';
  lim.max_values = 1u << 20;
  lim.max_input = 1u << 26;
  CHECK(subq_json_parse(big, o, &lim, &d, err, sizeof err) == 0 && d.v[0].b == 200000);
  subq_json_free(&d);
  free(big);
}

/* Mutations of valid documents: every parse succeeds with a sound DOM or fails with a message. */
static void test_mutations(void) {
  static const char *seeds[] = {
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},\"__metadata__\":{\"format\":\"pt\"}}",
      "{\"metadata\":{\"total_size\":1234},\"weight_map\":{\"a\":\"m-1.safetensors\",\"b\":\"m-2.safetensors\"}}",
      "[\"\\ud83d\\ude00\\u00e9\\n\", -1.5e-3, 9223372036854775807, true, false, null, {}, [[[]]]]",
  };
  static const char alphabet[] = "{}[]\",:\\u0123456789-+.eEtfn \t\xc3\xa9\xed\xf0\x80\xbf\xff";
  subq_rng rng = {12345};
  int ok = 0, bad = 0;
  char buf[512];
  for (int it = 0; it < 20000; it++) {
    const char *s = seeds[it % 3];
    size_t n = strlen(s);
    memcpy(buf, s, n);
    int muts = 1 + (int)(subq_rng_next(&rng) % 3);
    for (int m = 0; m < muts; m++) {
      size_t pos = n ? (size_t)(subq_rng_next(&rng) % n) : 0;
      switch (subq_rng_next(&rng) % 4) {
        case 0: buf[pos] = alphabet[subq_rng_next(&rng) % (sizeof alphabet - 1)]; break;
        case 1: buf[pos] ^= (char)(1u << (subq_rng_next(&rng) % 8)); break;
        case 2: n = pos; break; /* truncate */
        case 3:                 /* delete one byte */
          if (n) {
            memmove(buf + pos, buf + pos + 1, n - pos - 1);
            n--;
          }
          break;
      }
    }
    subq_json_doc d;
    char err[256];
    err[0] = 0;
    int rc = parse(buf, n, &d, err);
    if (rc == 0) {
      ok++;
      CHECK(check_dom(&d));
      subq_json_free(&d);
    } else {
      bad++;
      CHECK_MSG(rc == -1 && strncmp(err, "byte ", 5) == 0, "rc %d err '%s'", rc, err);
    }
  }
  printf("json mutations: %d parsed, %d rejected\n", ok, bad);
  CHECK(ok > 100 && bad > 100);
}

int main(void) {
  test_accepts();
  test_rejects();
  test_limits();
  test_mutations();
  return subq_test_finish("test_json");
}
