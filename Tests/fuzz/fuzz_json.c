/*
 * fuzz_json.c — libFuzzer harness for the internal JSON parser
 * (Sources/CSubQ/io/subq_json.h). Not a ctest: build with -DSUBQ_BUILD_FUZZ=ON.
 *   ./fuzz_json -dict=Tests/fuzz/safetensors.dict -max_total_time=120 CORPUS
 * A parsed document must satisfy the DOM invariants (chains match counts,
 * strings NUL-terminated valid UTF-8, keys only in objects, no duplicate keys
 * in an object); a rejected one must carry a message. Violations trap.
 */
#include <stdint.h>
#include <string.h>

#include "io/subq_json.h"

#define REQUIRE(c) \
  do {             \
    if (!(c)) __builtin_trap(); \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  subq_json_limits lim = {32, 1u << 16, 1u << 20};
  subq_json_doc d;
  char err[256];
  int rc = subq_json_parse((const char *)data, size, &lim, &d, err, sizeof err);
  if (rc) {
    REQUIRE(rc == -1 && err[0] != 0 && d.v == NULL);
    return 0;
  }
  REQUIRE(d.n >= 1 && d.n <= lim.max_values && d.v[0].key == SUBQ_JSON_NONE);
  for (uint32_t i = 0; i < d.n; i++) {
    const subq_json_value *v = &d.v[i];
    REQUIRE(v->type <= SUBQ_JSON_OBJECT);
    if (v->type == SUBQ_JSON_STRING || v->type == SUBQ_JSON_NUMBER) {
      REQUIRE((size_t)v->a + v->b < d.s_len && d.s[v->a + v->b] == 0);
      REQUIRE(subq_utf8_check((const unsigned char *)d.s + v->a, v->b) == v->b);
      if (v->type == SUBQ_JSON_NUMBER) (void)subq_json_double(&d, v);
    }
    if (v->type == SUBQ_JSON_ARRAY || v->type == SUBQ_JSON_OBJECT) {
      uint32_t n = 0;
      for (const subq_json_value *c = subq_json_first(&d, v); c; c = subq_json_next(&d, c)) {
        REQUIRE(c > v && (c->key != SUBQ_JSON_NONE) == (v->type == SUBQ_JSON_OBJECT));
        if (c->key != SUBQ_JSON_NONE) {
          REQUIRE((size_t)c->key + c->key_len < d.s_len && d.s[c->key + c->key_len] == 0);
          /* no later sibling repeats the key */
          for (const subq_json_value *o = subq_json_next(&d, c); o && n < 64; o = subq_json_next(&d, o))
            REQUIRE(o->key_len != c->key_len || memcmp(d.s + o->key, d.s + c->key, c->key_len) != 0);
        }
        REQUIRE(++n <= d.n);
      }
      REQUIRE(n == v->b);
    }
  }
  subq_json_free(&d);
  return 0;
}
