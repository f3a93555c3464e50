/*
 * fuzz_safetensors.c — libFuzzer harness for the safetensors reader. Not a
 * ctest: build with -DSUBQ_BUILD_FUZZ=ON (clang with libFuzzer), then e.g.
 *   ./fuzz_safetensors -dict=Tests/fuzz/safetensors.dict -max_total_time=300 CORPUS Tests/fuzz/corpus
 * Every input is opened from memory; a successful open must give views that
 * tile the data section and lie inside the input, and every byte of every
 * view is read (so ASan sees any out-of-bounds view). A failed open must set
 * a message. Violations trap.
 */
#include <stdint.h>
#include <string.h>

#include "subq.h"

#define REQUIRE(c) \
  do {             \
    if (!(c)) __builtin_trap(); \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  subq_safetensors *st = NULL;
  subq_clear_last_error();
  subq_status rc = subq_safetensors_open_memory(size ? data : NULL, size, 0, &st);
  if (rc != SUBQ_OK) {
    REQUIRE(st == NULL && subq_last_error_message()[0] != 0);
    return 0;
  }
  REQUIRE(size >= 8);
  uint64_t n = 0;
  for (int k = 7; k >= 0; k--) n = (n << 8) | data[k];
  REQUIRE(n <= size - 8);
  int64_t cursor = (int64_t)(8 + n);
  unsigned sum = 0;
  for (int64_t i = 0; i < subq_safetensors_count(st); i++) {
    const subq_safetensors_tensor *t = NULL;
    REQUIRE(subq_safetensors_tensor_at(st, i, &t) == SUBQ_OK && t);
    REQUIRE(t->rank >= 0 && t->rank <= SUBQ_SAFETENSORS_MAX_RANK && strlen(t->name) == t->name_len);
    REQUIRE(t->file_offset == cursor && t->n_bytes >= 0 && (uint64_t)(t->file_offset + t->n_bytes) <= size);
    REQUIRE(t->n_bytes == 0 || memcmp(t->data, data + t->file_offset, (size_t)t->n_bytes) == 0);
    const unsigned char *p = t->data;
    for (int64_t k = 0; k < t->n_bytes; k++) sum += p[k];
    REQUIRE(subq_safetensors_find(st, t->name) == i);
    cursor += t->n_bytes;
  }
  REQUIRE((size_t)cursor == size);
  for (int64_t i = 0; i < subq_safetensors_metadata_count(st, 0); i++) {
    const char *k = NULL, *v = NULL;
    REQUIRE(subq_safetensors_metadata_at(st, 0, i, &k, &v) == SUBQ_OK);
    sum += (unsigned)strlen(k) + (unsigned)strlen(v);
  }
  subq_safetensors_destroy(st);
  return (int)(sum & 0); /* keep the reads */
}
