/*
 * test_safetensors_fuzz.c — deterministic mutation fuzzing of the safetensors
 * reader (seeded; runs in CI, also under ASan+UBSan). Valid files are mutated
 * by bit flips, byte substitutions, truncation, header-length lies, number
 * rewrites, range deletion/duplication and splices from other files. Every
 * open must either succeed with views that tile the data section exactly and
 * equal the file's bytes, or fail cleanly with a status and a message naming
 * the function and the file. A sample also goes through files (mmap and
 * read()), which must agree with the in-memory result.
 *
 * SUBQ_FUZZ_ITERS overrides the iteration count (default 40000).
 */
#include <stdint.h>

#include "io/st_util.h"
#include "support/subq_test.h"

typedef struct img {
  unsigned char *p;
  size_t n, cap;
} img;

static img seeds[4];

static void seed_from(int i, const char *header, size_t data_len) {
  unsigned char data[256];
  for (size_t k = 0; k < sizeof data; k++) data[k] = (unsigned char)(k * 13 + 5);
  st_buf b = st_image(header, data, data_len);
  seeds[i].p = b.p;
  seeds[i].n = seeds[i].cap = b.n;
}

static uint64_t rd64(const unsigned char *p) {
  uint64_t n = 0;
  for (int k = 7; k >= 0; k--) n = (n << 8) | p[k];
  return n;
}
static void wr64(unsigned char *p, uint64_t v) {
  for (int k = 0; k < 8; k++) p[k] = (unsigned char)(v >> (8 * k));
}

/* Header extent clamped to the buffer (the length field may lie). */
static size_t hdr_end(const img *m) {
  if (m->n < 8) return m->n;
  uint64_t n = rd64(m->p);
  return n > m->n - 8 ? m->n : (size_t)(8 + n);
}

static void ensure(img *m, size_t n) {
  if (n <= m->cap) return;
  size_t c = m->cap ? m->cap : 64;
  while (c < n) c *= 2;
  m->p = realloc(m->p, c);
  m->cap = c;
}

/* Replaces [at, at+del) with ins[0..nins), keeping the length field consistent if asked. */
static void splice(img *m, size_t at, size_t del, const unsigned char *ins, size_t nins, int fix_len) {
  if (at > m->n) at = m->n;
  if (del > m->n - at) del = m->n - at;
  ensure(m, m->n - del + nins);
  memmove(m->p + at + nins, m->p + at + del, m->n - at - del);
  if (nins) memcpy(m->p + at, ins, nins);
  m->n = m->n - del + nins;
  if (fix_len && m->n >= 8 && at >= 8) wr64(m->p, rd64(m->p) - del + nins);
}

static const char *const k_numbers[] = {"0", "1", "-1", "4", "7", "8", "16", "9223372036854775807",
                                        "9223372036854775808", "18446744073709551615", "4294967296", "1e3", "2.0",
                                        "-0", "00", "99999999999999999999999"};
static const char k_chars[] = "{}[]\",:\\ 0123456789-.eE\x00\x01\x7f\x80\xbf\xc0\xed\xf4\xff";
static const char *const k_tokens[] = {"\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "\"F32\"",
                                       "\"F4\"", "\"BOOL\"", "\"F8_E5M2\"", "[]", "{}", "[0,0]", "\\ud800", "\\u0000",
                                       "null", "[[[[[[[[[[[[[[[[[[[[", ",", " ", "\t\r\n", "\"\"", "\"k\":\"v\","};

static void mutate(img *m, subq_rng *r) {
  size_t he = hdr_end(m);
  size_t hpos = he > 8 ? 8 + (size_t)(subq_rng_next(r) % (he - 8)) : 0;
  switch (subq_rng_next(r) % 10) {
    case 0: /* bit flip anywhere in the header (or the length field) */
      if (he) {
        size_t at = (size_t)(subq_rng_next(r) % he);
        m->p[at] ^= (unsigned char)(1u << (subq_rng_next(r) % 8));
      }
      break;
    case 1: /* structural character into the header */
      if (hpos) m->p[hpos] = (unsigned char)k_chars[subq_rng_next(r) % (sizeof k_chars - 1)];
      break;
    case 2: /* truncation */
      m->n = m->n ? (size_t)(subq_rng_next(r) % m->n) : 0;
      break;
    case 3: { /* header-length lie */
      if (m->n < 8) break;
      uint64_t n = rd64(m->p), v;
      switch (subq_rng_next(r) % 6) {
        case 0: v = n + 1 + subq_rng_next(r) % 8; break;
        case 1: v = n - 1 - subq_rng_next(r) % 8; break;
        case 2: v = m->n - 8; break;
        case 3: v = subq_rng_next(r); break;
        case 4: v = 1ull << (subq_rng_next(r) % 64); break;
        default: v = n / 2; break;
      }
      wr64(m->p, v);
      break;
    }
    case 4: { /* rewrite a number of the header, keeping the length consistent */
      if (!hpos) break;
      size_t i = hpos;
      while (i < he && !(m->p[i] >= '0' && m->p[i] <= '9')) i++;
      if (i >= he) break;
      size_t j = i;
      while (j < he && m->p[j] >= '0' && m->p[j] <= '9') j++;
      const char *num = k_numbers[subq_rng_next(r) % (sizeof k_numbers / sizeof k_numbers[0])];
      char rnd[32];
      if (subq_rng_next(r) % 4 == 0) {
        snprintf(rnd, sizeof rnd, "%llu", (unsigned long long)(subq_rng_next(r) % 300));
        num = rnd;
      }
      splice(m, i, j - i, (const unsigned char *)num, strlen(num), 1);
      break;
    }
    case 5: { /* insert a token into the header */
      if (!hpos) break;
      const char *t = k_tokens[subq_rng_next(r) % (sizeof k_tokens / sizeof k_tokens[0])];
      splice(m, hpos, 0, (const unsigned char *)t, strlen(t), subq_rng_next(r) % 4 != 0);
      break;
    }
    case 6: /* delete a range of the header */
      if (hpos) {
        size_t del = 1 + (size_t)(subq_rng_next(r) % 16);
        splice(m, hpos, del, NULL, 0, subq_rng_next(r) % 4 != 0);
      }
      break;
    case 7: { /* duplicate a range of the header (duplicate keys, repeated entries) */
      if (!hpos) break;
      size_t len = 1 + (size_t)(subq_rng_next(r) % 64);
      if (len > he - hpos) len = he - hpos;
      unsigned char tmp[64];
      memcpy(tmp, m->p + hpos, len);
      size_t at = 8 + (size_t)(subq_rng_next(r) % (he - 8));
      splice(m, at, 0, tmp, len, 1);
      break;
    }
    case 8: { /* splice a chunk of another seed in */
      const img *o = &seeds[subq_rng_next(r) % 4];
      size_t from = (size_t)(subq_rng_next(r) % o->n);
      size_t len = 1 + (size_t)(subq_rng_next(r) % 48);
      if (len > o->n - from) len = o->n - from;
      unsigned char tmp[48];
      memcpy(tmp, o->p + from, len);
      size_t at = m->n ? (size_t)(subq_rng_next(r) % m->n) : 0;
      size_t del = subq_rng_next(r) % 2 ? len : 0;
      splice(m, at, del, tmp, len, (int)(subq_rng_next(r) % 2));
      break;
    }
    default: { /* grow or shrink the data section */
      if (subq_rng_next(r) % 2) {
        unsigned char z[8] = {0};
        splice(m, m->n, 0, z, 1 + (size_t)(subq_rng_next(r) % 8), 0);
      } else if (m->n > he) {
        m->n -= 1 + (size_t)(subq_rng_next(r) % (m->n - he));
      }
      break;
    }
  }
}

/* Checks an opened image: views tile the data section and equal the file bytes. */
static int verify(const subq_safetensors *st, const unsigned char *p, size_t n) {
  if (n < 8) return 0;
  uint64_t hl = rd64(p);
  if (hl > n - 8) return 0;
  int64_t cursor = (int64_t)(8 + hl);
  int64_t count = subq_safetensors_count(st);
  for (int64_t i = 0; i < count; i++) {
    const subq_safetensors_tensor *t = NULL;
    if (subq_safetensors_tensor_at(st, i, &t) != SUBQ_OK || !t) return 0;
    if (t->rank < 0 || t->rank > SUBQ_SAFETENSORS_MAX_RANK || strlen(t->name) != t->name_len) return 0;
    int64_t prod = 1;
    for (int d = 0; d < t->rank; d++) {
      if (t->shape[d] < 0) return 0;
      if (t->shape[d] == 0) prod = 0;
      else if (prod && __builtin_mul_overflow(prod, t->shape[d], &prod)) return 0;
    }
    int32_t bits = subq_safetensors_dtype_bits(t->dtype);
    if (!bits || t->n_elements != prod) return 0;
    if ((__int128)t->n_elements * bits != (__int128)t->n_bytes * 8) return 0;
    if (t->file_offset != cursor || t->n_bytes < 0 || (uint64_t)(t->file_offset + t->n_bytes) > n) return 0;
    if (t->n_bytes && memcmp(t->data, p + t->file_offset, (size_t)t->n_bytes) != 0) return 0;
    if (t->data_alignment == 0 || ((uintptr_t)t->data % t->data_alignment) != 0) return 0;
    int64_t f = subq_safetensors_find(st, t->name);
    if (f != i) return 0;
    cursor += t->n_bytes;
  }
  if ((size_t)cursor != n) return 0;
  for (int64_t i = 0; i < subq_safetensors_metadata_count(st, 0); i++) {
    const char *k = NULL, *v = NULL;
    if (subq_safetensors_metadata_at(st, 0, i, &k, &v) != SUBQ_OK || !k || !v) return 0;
    if (subq_safetensors_metadata_find(st, 0, k) != v) return 0;
  }
  return 1;
}

static int clean_failure(subq_status s, const char *msg, const char *prefix) {
  return (s == SUBQ_ERR_INVALID_ARGUMENT || s == SUBQ_ERR_UNSUPPORTED) && strncmp(msg, prefix, strlen(prefix)) == 0 &&
         strlen(msg) > strlen(prefix) + 4;
}

int main(void) {
  seed_from(0,
            "{\"model.embed_tokens.weight\":{\"dtype\":\"BF16\",\"shape\":[4,8],\"data_offsets\":[0,64]},"
            "\"__metadata__\":{\"format\":\"pt\",\"k\":\"v\\u00e9\"},"
            "\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[64,96]},"
            "\"lm_head.weight\":{\"dtype\":\"F16\",\"shape\":[2,8],\"data_offsets\":[96,128]}}    ",
            128);
  seed_from(1,
            "{\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
            "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[8,8]},"
            "\"b\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[8,11]},"
            "\"q\":{\"dtype\":\"F4\",\"shape\":[2,1],\"data_offsets\":[11,12]},"
            "\"f8\":{\"dtype\":\"F8_E4M3\",\"shape\":[1,1,1,4],\"data_offsets\":[12,16]}}",
            16);
  seed_from(2, "{\"__metadata__\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"\\ud83d\\ude00\"},"
               "\"x\\u00e9\":{\"dtype\":\"U8\",\"shape\":[5],\"data_offsets\":[0,5]}}", 5);
  seed_from(3,
            "{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
            "\"b\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[16,32]},"
            "\"c\":{\"dtype\":\"U16\",\"shape\":[3],\"data_offsets\":[32,38]}}",
            38);
  for (int i = 0; i < 4; i++) {
    subq_safetensors *st = NULL;
    CHECK_OK(subq_safetensors_open_memory(seeds[i].p, seeds[i].n, 0, &st));
    CHECK(st && verify(st, seeds[i].p, seeds[i].n));
    subq_safetensors_destroy(st);
  }

  long iters = 40000;
  const char *env = getenv("SUBQ_FUZZ_ITERS");
  if (env && atol(env) > 0) iters = atol(env);
  char *dir = st_tmpdir();
  char *path = dir ? st_join(dir, "fuzz.safetensors") : NULL;
  CHECK(path != NULL);
  subq_rng rng = {0x5afe7e5u};
  img m = {NULL, 0, 0};
  long ok = 0, failed = 0, via_file = 0;
  for (long it = 0; it < iters; it++) {
    const img *s = &seeds[it % 4];
    m.n = 0;
    ensure(&m, s->n);
    memcpy(m.p, s->p, s->n);
    m.n = s->n;
    int muts = 1 + (int)(subq_rng_next(&rng) % 3);
    for (int k = 0; k < muts; k++) mutate(&m, &rng);

    subq_safetensors *st = NULL;
    subq_clear_last_error();
    subq_status rc = subq_safetensors_open_memory(m.p, m.n, 0, &st);
    if (rc == SUBQ_OK) {
      ok++;
      CHECK_MSG(st && verify(st, m.p, m.n), "iteration %ld: opened but the views are wrong", it);
    } else {
      failed++;
      CHECK_MSG(st == NULL && clean_failure(rc, subq_last_error_message(), "subq_safetensors_open_memory: <memory>: "),
                "iteration %ld: %s \"%s\"", it, subq_status_string(rc), subq_last_error_message());
    }
    subq_safetensors_destroy(st);

    if (path && it % 200 == 0) { /* the file paths agree with the memory path */
      via_file++;
      CHECK(st_write(path, m.p, m.n) == 0);
      for (int pass = 0; pass < 2; pass++) {
        subq_safetensors *sf = NULL;
        subq_status rf = subq_safetensors_open(path, pass ? SUBQ_SAFETENSORS_NO_MMAP : 0, &sf);
        CHECK_MSG(rf == rc, "iteration %ld: file open gave %s, memory %s", it, subq_status_string(rf),
                  subq_status_string(rc));
        if (rf == SUBQ_OK) CHECK(verify(sf, m.p, m.n));
        else CHECK(clean_failure(rf, subq_last_error_message(), "subq_safetensors_open: "));
        subq_safetensors_destroy(sf);
      }
    }
  }
  printf("safetensors mutations: %ld iterations, %ld opened, %ld rejected, %ld also through files\n", iters, ok,
         failed, via_file);
  /* the mutations must exercise both outcomes */
  CHECK_MSG(ok > iters / 200 && failed > iters / 2, "%ld opened, %ld rejected", ok, failed);
  free(m.p);
  for (int i = 0; i < 4; i++) free(seeds[i].p);
  if (dir) st_rm_tree(dir);
  free(path);
  free(dir);
  return subq_test_finish("test_safetensors_fuzz");
}
