/*
 * test_safetensors.c — subq_safetensors_*: valid files written here (several
 * dtypes, scalars, empty tensors, metadata, padded headers, any header order)
 * open through mmap, read() and memory with identical views; model
 * directories (single file and sharded with an index); every hostile case
 * (truncation, header-length lies, offsets out of range, overlap, holes,
 * shapes that lie, unknown dtypes, giant sizes, non-UTF-8, deep nesting,
 * duplicate keys, path traversal, missing shards and tensors) fails with the
 * expected status and a message naming the file, tensor and problem; lookups
 * are safe from several threads at once.
 */
#include <pthread.h>
#include <stdint.h>

#include "io/st_util.h"
#include "support/subq_test.h"

static char *g_dir;

/* ---- a valid multi-dtype file ---------------------------------------------------- */
/* Offsets are laid out in this order; the header lists them in another order. */
typedef struct spec {
  const char *name, *dtype, *shape;
  int64_t bytes;
} spec;

static const spec k_specs[] = {
    {"w.f32", "F32", "[2,3]", 24},       {"w.f64", "F64", "[1]", 8},       {"w.bf16", "BF16", "[4]", 8},
    {"w.f16", "F16", "[2,2]", 8},        {"s.i64", "I64", "[]", 8},        {"w.i32", "I32", "[3]", 12},
    {"w.i16", "I16", "[2]", 4},          {"w.i8", "I8", "[3]", 3},         {"w.u8", "U8", "[1,1,1,1,1,1,1,1]", 1},
    {"w.bool", "BOOL", "[2]", 2},        {"empty", "F32", "[0,5]", 0},     {"w.f8", "F8_E4M3", "[3]", 3},
    {"w.f4", "F4", "[6]", 3},            {"w.u64", "U64", "[1]", 8},       {"also.empty", "BF16", "[3,0]", 0},
};
#define NSPEC ((int)(sizeof k_specs / sizeof k_specs[0]))

/* Builds the header (tensors listed last-to-first, metadata in the middle,
 * padded with spaces to a multiple of 8) and data bytes (i-th byte = i*7+1). */
static st_buf valid_image(size_t *data_len_out, int64_t *offsets) {
  char hdr[4096];
  size_t o = 0;
  int64_t off = 0;
  for (int i = 0; i < NSPEC; i++) offsets[i] = off, off += k_specs[i].bytes;
  o += (size_t)snprintf(hdr + o, sizeof hdr - o, "{");
  for (int i = NSPEC - 1; i >= 0; i--) {
    o += (size_t)snprintf(hdr + o, sizeof hdr - o, "\"%s\": {\"dtype\": \"%s\", \"shape\": %s, \"data_offsets\": [%lld, %lld]},",
                          k_specs[i].name, k_specs[i].dtype, k_specs[i].shape, (long long)offsets[i],
                          (long long)(offsets[i] + k_specs[i].bytes));
    if (i == NSPEC / 2)
      o += (size_t)snprintf(hdr + o, sizeof hdr - o, "\"__metadata__\": {\"format\": \"pt\", \"note\": \"caf\\u00e9\"},");
  }
  hdr[o - 1] = '}';
  while (o % 8) hdr[o++] = ' ';
  hdr[o] = 0;
  unsigned char data[512];
  for (int64_t i = 0; i < off; i++) data[i] = (unsigned char)(i * 7 + 1);
  *data_len_out = (size_t)off;
  return st_image(hdr, data, (size_t)off);
}

static void check_valid(const subq_safetensors *st, const st_buf *img, const int64_t *offsets) {
  CHECK(subq_safetensors_count(st) == NSPEC);
  CHECK(subq_safetensors_file_count(st) == 1);
  uint64_t n = 0;
  for (int k = 7; k >= 0; k--) n = (n << 8) | img->p[k];
  for (int i = 0; i < NSPEC; i++) {
    const subq_safetensors_tensor *t = NULL;
    /* file order = offset order; empty tensors sort before a tensor at the same offset */
    CHECK_OK(subq_safetensors_get(st, k_specs[i].name, &t));
    if (!t) continue;
    CHECK(t->struct_size == sizeof *t);
    CHECK(strcmp(t->name, k_specs[i].name) == 0 && t->name_len == strlen(k_specs[i].name));
    CHECK(strcmp(subq_safetensors_dtype_name(t->dtype), k_specs[i].dtype) == 0);
    CHECK(t->n_bytes == k_specs[i].bytes);
    CHECK(t->file_offset == (int64_t)(8 + n) + offsets[i]);
    CHECK(t->file_index == 0);
    CHECK(memcmp(t->data, img->p + t->file_offset, (size_t)t->n_bytes) == 0);
    CHECK(t->data_alignment >= 1 && t->data_alignment <= 4096 && ((uintptr_t)t->data % t->data_alignment) == 0 &&
          (t->data_alignment == 4096 || ((uintptr_t)t->data % (2 * t->data_alignment)) != 0));
    int64_t prod = 1;
    for (int d = 0; d < t->rank; d++) prod *= t->shape[d];
    for (int d = t->rank; d < SUBQ_SAFETENSORS_MAX_RANK; d++) CHECK(t->shape[d] == 0);
    CHECK(t->n_elements == prod);
    CHECK(t->n_elements * subq_safetensors_dtype_bits(t->dtype) / 8 == t->n_bytes);
    int64_t idx = subq_safetensors_find(st, k_specs[i].name);
    const subq_safetensors_tensor *t2 = NULL;
    CHECK_OK(subq_safetensors_tensor_at(st, idx, &t2));
    CHECK(t2 == t);
  }
  /* specific shapes */
  const subq_safetensors_tensor *t = NULL;
  CHECK_OK(subq_safetensors_get(st, "w.f32", &t));
  CHECK(t && t->rank == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->n_elements == 6 &&
        t->dtype == SUBQ_SAFETENSORS_F32);
  CHECK_OK(subq_safetensors_get(st, "s.i64", &t));
  CHECK(t && t->rank == 0 && t->n_elements == 1 && t->n_bytes == 8 && t->dtype == SUBQ_SAFETENSORS_I64);
  CHECK_OK(subq_safetensors_get(st, "empty", &t));
  CHECK(t && t->rank == 2 && t->n_elements == 0 && t->n_bytes == 0 && t->data != NULL);
  CHECK_OK(subq_safetensors_get(st, "w.u8", &t));
  CHECK(t && t->rank == 8);
  CHECK_OK(subq_safetensors_get(st, "w.f4", &t));
  CHECK(t && t->dtype == SUBQ_SAFETENSORS_F4 && t->n_elements == 6 && t->n_bytes == 3);
  /* iteration is in offset order */
  int64_t prev_end = 0;
  for (int64_t i = 0; i < subq_safetensors_count(st); i++) {
    CHECK_OK(subq_safetensors_tensor_at(st, i, &t));
    CHECK(t->file_offset == (int64_t)(8 + n) + prev_end);
    prev_end += t->n_bytes;
  }
  /* metadata, sorted by key */
  CHECK(subq_safetensors_metadata_count(st, 0) == 2);
  const char *k = NULL, *v = NULL;
  CHECK_OK(subq_safetensors_metadata_at(st, 0, 0, &k, &v));
  CHECK(k && v && strcmp(k, "format") == 0 && strcmp(v, "pt") == 0);
  CHECK_OK(subq_safetensors_metadata_at(st, 0, 1, &k, &v));
  CHECK(k && v && strcmp(k, "note") == 0 && strcmp(v, "caf\xc3\xa9") == 0);
  CHECK(subq_safetensors_metadata_find(st, 0, "format") && !strcmp(subq_safetensors_metadata_find(st, 0, "format"), "pt"));
  CHECK(subq_safetensors_metadata_find(st, 0, "nope") == NULL);
  CHECK(subq_safetensors_metadata_find(st, 1, "format") == NULL);
  CHECK(subq_safetensors_metadata_count(st, 1) == 0);
  CHECK_STATUS(subq_safetensors_metadata_at(st, 0, 2, &k, &v), SUBQ_ERR_INVALID_ARGUMENT, "index 2 is outside [0, 2)");
  CHECK_STATUS(subq_safetensors_metadata_at(st, 3, 0, &k, &v), SUBQ_ERR_INVALID_ARGUMENT, "file 3 is outside [0, 1)");
  /* lookups that miss */
  CHECK(subq_safetensors_find(st, "missing") == -1);
  CHECK(subq_safetensors_find(st, NULL) == -1);
  CHECK_STATUS(subq_safetensors_get(st, "missing", &t), SUBQ_ERR_INVALID_ARGUMENT, "tensor 'missing' not found in");
  CHECK_STATUS(subq_safetensors_tensor_at(st, NSPEC, &t), SUBQ_ERR_INVALID_ARGUMENT, "index 15 is outside [0, 15)");
  CHECK_STATUS(subq_safetensors_tensor_at(st, -1, &t), SUBQ_ERR_INVALID_ARGUMENT, "index -1 is outside");
}

static void test_valid(void) {
  size_t dl;
  int64_t offsets[NSPEC];
  st_buf img = valid_image(&dl, offsets);
  char *path = st_join(g_dir, "valid.safetensors");
  CHECK(st_write(path, img.p, img.n) == 0);
  subq_safetensors *st = NULL;
  CHECK_OK(subq_safetensors_open(path, 0, &st));
  if (st) {
    check_valid(st, &img, offsets);
    CHECK(strcmp(subq_safetensors_file_path(st, 0), path) == 0);
    CHECK(subq_safetensors_file_path(st, 1) == NULL);
  }
  subq_safetensors_destroy(st);
  st = NULL;
  CHECK_OK(subq_safetensors_open(path, SUBQ_SAFETENSORS_NO_MMAP, &st));
  if (st) check_valid(st, &img, offsets);
  subq_safetensors_destroy(st);
  st = NULL;
  CHECK_OK(subq_safetensors_open_memory(img.p, img.n, 0, &st));
  if (st) {
    check_valid(st, &img, offsets);
    CHECK(strcmp(subq_safetensors_file_path(st, 0), "<memory>") == 0);
  }
  subq_safetensors_destroy(st);

  /* the smallest valid files: no tensors at all, and only metadata */
  st_buf e = st_image("{}", NULL, 0);
  st = NULL;
  CHECK_OK(subq_safetensors_open_memory(e.p, e.n, 0, &st));
  CHECK(st && subq_safetensors_count(st) == 0 && subq_safetensors_find(st, "") == -1);
  subq_safetensors_destroy(st);
  free(e.p);
  e = st_image("{\"__metadata__\":{}}\n\t ", NULL, 0);
  st = NULL;
  CHECK_OK(subq_safetensors_open_memory(e.p, e.n, 0, &st));
  CHECK(st && subq_safetensors_count(st) == 0 && subq_safetensors_metadata_count(st, 0) == 0);
  subq_safetensors_destroy(st);
  free(e.p);
  /* an empty name and a non-ASCII name are names like any other */
  unsigned char d4[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  e = st_image("{\"\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
               "\"\\u00e9\\ud83d\\ude00\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
               d4, 8);
  st = NULL;
  CHECK_OK(subq_safetensors_open_memory(e.p, e.n, 0, &st));
  CHECK(st && subq_safetensors_find(st, "") == 0 && subq_safetensors_find(st, "\xc3\xa9\xf0\x9f\x98\x80") == 1);
  subq_safetensors_destroy(st);
  free(e.p);
  free(path);
  free(img.p);
}

/* ---- hostile files ---------------------------------------------------------------- */
/* Opens an image from memory and from a file; both must fail alike. */
static void hostile_img(st_buf img, subq_status want, const char *needle) {
  subq_safetensors *st = NULL;
  CHECK_STATUS(subq_safetensors_open_memory(img.p, img.n, 0, &st), want, needle);
  CHECK(st == NULL);
  char *path = st_join(g_dir, "hostile.safetensors");
  CHECK(st_write(path, img.p, img.n) == 0);
  CHECK_STATUS(subq_safetensors_open(path, 0, &st), want, needle);
  CHECK_STATUS(subq_safetensors_open(path, SUBQ_SAFETENSORS_NO_MMAP, &st), want, needle);
  /* the message names the function and the file */
  CHECK_MSG(strncmp(subq_last_error_message(), "subq_safetensors_open: ", 23) == 0 &&
                strstr(subq_last_error_message(), "hostile.safetensors: ") != NULL,
            "%s", subq_last_error_message());
  CHECK(st == NULL);
  free(path);
  free(img.p);
}

static void hostile(const char *header, size_t data_len, subq_status want, const char *needle) {
  unsigned char data[256] = {0};
  hostile_img(st_image(header, data, data_len), want, needle);
}

#define T1(dtype, shape, off) "{\"t\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" off "}}"

static void test_hostile(void) {
  const subq_status INV = SUBQ_ERR_INVALID_ARGUMENT;
  unsigned char zeros[64] = {0};
  /* truncated below the length field */
  hostile_img(st_image_raw(0, "", 0, NULL, 0), INV, "header is empty");
  st_buf b = st_image("{}", NULL, 0);
  b.n = 5;
  hostile_img(b, INV, "file is 5 bytes, shorter than the 8-byte header length");
  b = st_image("", NULL, 0);
  b.n = 0;
  hostile_img(b, INV, "file is 0 bytes");
  /* header length lies */
  hostile_img(st_image_raw(100, "{}", 2, NULL, 0), INV, "header length 100 exceeds the 2 bytes after the length field");
  hostile_img(st_image_raw(UINT64_MAX, "{}", 2, NULL, 0), INV, "header length 18446744073709551615 exceeds the limit");
  hostile_img(st_image_raw(100000001, "{}", 2, NULL, 0), INV, "exceeds the limit of 100000000 bytes");
  hostile_img(st_image_raw(5, T1("F32", "[1]", "[0,4]"), strlen(T1("F32", "[1]", "[0,4]")), zeros, 4), INV,
              "header JSON: byte 5:");
  hostile_img(st_image_raw(1, "{}", 2, NULL, 0), INV, "header JSON"); /* "{" alone, "}" becomes data */
  /* not an object */
  hostile("[]", 0, INV, "header does not start with '{'");
  hostile(" {}", 0, INV, "does not start with '{' (byte 0x20)");
  /* truncated data: the last tensor runs past the end */
  {
    const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}";
    hostile(h, 20, INV, "tensor 'b': data_offsets [8, 24) exceed the 20-byte data section");
    hostile(h, 28, INV, "the tensors cover 24 of the 28 bytes of the data section (4 trailing bytes)");
  }
  /* offsets out of range, reversed, malformed */
  hostile(T1("F32", "[1]", "[0,4]"), 2, INV, "tensor 't': data_offsets [0, 4) exceed the 2-byte data section");
  hostile(T1("F32", "[1]", "[9223372036854775803,9223372036854775807]"), 4, INV, "exceed the 4-byte data section");
  hostile(T1("F32", "[1]", "[8,4]"), 8, INV, "data_offsets [8, 4) end before they begin");
  hostile(T1("F32", "[1]", "[0,18446744073709551616]"), 4, INV, "data_offsets is not two non-negative integers");
  hostile(T1("F32", "[1]", "[-4,0]"), 4, INV, "data_offsets is not two non-negative integers");
  hostile(T1("F32", "[1]", "[0,4.0]"), 4, INV, "data_offsets is not two non-negative integers");
  hostile(T1("F32", "[1]", "[0]"), 4, INV, "data_offsets is not two non-negative integers");
  hostile(T1("F32", "[1]", "[0,4,8]"), 4, INV, "data_offsets is not two non-negative integers");
  hostile(T1("F32", "[1]", "{}"), 4, INV, "data_offsets is not two non-negative integers");
  /* shapes that lie (the message of the issue, verbatim) */
  hostile("{\"lm_head.weight\":{\"dtype\":\"F32\",\"shape\":[4,8],\"data_offsets\":[0,64]}}", 64, INV,
          "tensor 'lm_head.weight': data_offsets [0, 64) hold 64 bytes but shape [4, 8] of F32 needs 128");
  hostile(T1("BF16", "[]", "[0,4]"), 4, INV, "hold 4 bytes but shape [] of BF16 needs 2");
  hostile(T1("F32", "[0]", "[0,4]"), 4, INV, "hold 4 bytes but shape [0] of F32 needs 0");
  hostile(T1("F4", "[3]", "[0,2]"), 2, INV, "shape [3] of F4 is not a whole number of bytes");
  hostile(T1("F32", "[2,-1]", "[0,4]"), 4, INV, "shape[1] is not a non-negative integer (-1)");
  hostile(T1("F32", "[2.0]", "[0,8]"), 8, INV, "shape[0] is not a non-negative integer (2.0)");
  hostile(T1("F32", "[\"2\"]", "[0,8]"), 8, INV, "shape[0] is not a non-negative integer (a string)");
  hostile(T1("F32", "2", "[0,8]"), 8, INV, "shape is a number, not an array");
  hostile(T1("F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]"), 4, SUBQ_ERR_UNSUPPORTED, "tensor 't': rank 9 exceeds the supported 8");
  /* giant sizes */
  hostile(T1("F32", "[4294967296,4294967296,4294967296]", "[0,4]"), 4, INV,
          "shape [4294967296, 4294967296, 4294967296] has more elements than int64 holds");
  hostile(T1("F64", "[1152921504606846976,2]", "[0,4]"), 4, INV, "of F64 overflows int64 bits");
  hostile(T1("F32", "[9223372036854775807]", "[0,4]"), 4, INV, "overflows int64 bits");
  hostile(T1("F32", "[99999999999999999999]", "[0,4]"), 4, INV, "shape[0] is not a non-negative integer (99999999999999999999)");
  {
    /* a zero dim makes any product 0: a valid empty tensor, wherever the zero stands */
    static const char *const zs[] = {T1("U8", "[0,9223372036854775807,9223372036854775807]", "[0,0]"),
                                     T1("F64", "[9223372036854775807,9223372036854775807,0]", "[0,0]")};
    for (int i = 0; i < 2; i++) {
      st_buf z = st_image(zs[i], NULL, 0);
      subq_safetensors *st = NULL;
      const subq_safetensors_tensor *t = NULL;
      CHECK_OK(subq_safetensors_open_memory(z.p, z.n, 0, &st));
      CHECK_OK(subq_safetensors_get(st, "t", &t));
      CHECK(t && t->n_elements == 0 && t->n_bytes == 0 && t->rank == 3);
      subq_safetensors_destroy(st);
      free(z.p);
    }
  }
  /* unknown or malformed dtypes */
  hostile(T1("F33", "[1]", "[0,4]"), 4, SUBQ_ERR_UNSUPPORTED, "tensor 't': unknown dtype 'F33'");
  hostile(T1("f32", "[1]", "[0,4]"), 4, SUBQ_ERR_UNSUPPORTED, "unknown dtype 'f32'");
  hostile(T1("F32\\u0000", "[1]", "[0,4]"), 4, SUBQ_ERR_UNSUPPORTED, "unknown dtype 'F32\\x00'");
  hostile("{\"t\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, INV, "dtype is a number, not a string");
  /* structure */
  hostile("{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, INV, "tensor 't': missing \"dtype\"");
  hostile("{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, INV, "missing \"shape\"");
  hostile("{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, INV, "missing \"data_offsets\"");
  hostile("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"offsets\":[0,4],\"data_offsets\":[0,4]}}", 4, INV,
          "tensor 't': unknown field 'offsets'");
  hostile("{\"t\":[1,2]}", 0, INV, "tensor 't': entry is an array, not an object");
  hostile("{\"__metadata__\":[]}", 0, INV, "__metadata__ is an array, not an object of strings");
  hostile("{\"__metadata__\":{\"total\":12}}", 0, INV, "__metadata__ 'total' is a number, not a string");
  hostile("{\"__metadata__\":{\"a\":\"x\\u0000y\"}}", 0, INV, "__metadata__ 'a' contains U+0000");
  hostile("{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, INV,
          "tensor 'a\\x00b': name contains U+0000");
  /* duplicates */
  hostile("{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
          "\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
          2, INV, "header JSON: byte 104: duplicate key 't' in an object");
  hostile("{\"__metadata__\":{},\"__metadata__\":{}}", 0, INV, "duplicate key '__metadata__'");
  hostile("{\"t\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, INV, "duplicate key 'dtype'");
  /* overlap and holes */
  hostile("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
          "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[4,12]}}",
          12, INV, "tensor 'b': data_offsets [4, 12) overlap tensor 'a' at [0, 8)");
  hostile("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
          "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}",
          8, INV, "overlap tensor 'a'");
  hostile("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
          "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,12]}}",
          12, INV, "tensor 'b': data_offsets [8, 12) leave a hole of 4 bytes after tensor 'a'");
  hostile(T1("U8", "[4]", "[4,8]"), 8, INV, "leave a hole of 4 bytes at the start of the data");
  hostile("{}", 16, INV, "the tensors cover 0 of the 16 bytes");
  /* non-UTF-8 and JSON violations */
  hostile("{\"t\xff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, INV,
          "header is not valid UTF-8 (at header byte 3)");
  hostile("{\"t\xed\xa0\x80\":{}}", 0, INV, "not valid UTF-8");
  hostile("{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],}}", 1, INV, "header JSON: byte 52: expected a string key, found '}'");
  hostile("{\"t\":\"\\ud800\"}", 0, INV, "not followed by a low surrogate");
  hostile("{\"t\":{\"dtype\":\"U8\",\"shape\":[01],\"data_offsets\":[0,1]}}", 1, INV, "leading zero");
  hostile("{\"t\":{}} {}", 0, INV, "after the JSON value");
  /* deep nesting: a hostile header nests far below what a header needs */
  {
    size_t depth = 200000;
    size_t cap = depth * 2 + 64;
    char *h = malloc(cap);
    size_t o = (size_t)snprintf(h, cap, "{\"__metadata__\":");
    for (size_t i = 0; i < depth; i++) h[o++] = '[';
    for (size_t i = 0; i < depth; i++) h[o++] = ']';
    h[o++] = '}';
    h[o] = 0;
    hostile(h, 0, INV, "nesting deeper than 16 levels");
    free(h);
  }
  /* open on things that are not safetensors files */
  subq_safetensors *st = NULL;
  CHECK_STATUS(subq_safetensors_open(g_dir, 0, &st), SUBQ_ERR_SYSTEM, "not a regular file");
  char *missing = st_join(g_dir, "missing.safetensors");
  CHECK_STATUS(subq_safetensors_open(missing, 0, &st), SUBQ_ERR_SYSTEM, "missing.safetensors: cannot open: No such file");
  free(missing);
  CHECK(st == NULL);
  /* argument checks */
  CHECK_STATUS(subq_safetensors_open(NULL, 0, &st), SUBQ_ERR_INVALID_ARGUMENT, "subq_safetensors_open: path is NULL");
  CHECK_STATUS(subq_safetensors_open("x", 0, NULL), SUBQ_ERR_INVALID_ARGUMENT, "out is NULL");
  CHECK_STATUS(subq_safetensors_open("x", 6, &st), SUBQ_ERR_INVALID_ARGUMENT, "unknown flags 0x6");
  CHECK_STATUS(subq_safetensors_open_memory(NULL, 8, 0, &st), SUBQ_ERR_INVALID_ARGUMENT, "data is NULL but size is 8");
  CHECK_STATUS(subq_safetensors_open_memory(zeros, 8, SUBQ_SAFETENSORS_NO_MMAP, &st), SUBQ_ERR_INVALID_ARGUMENT,
               "unknown flags 0x1");
  CHECK_STATUS(subq_safetensors_open_memory(NULL, 0, 0, &st), SUBQ_ERR_INVALID_ARGUMENT, "file is 0 bytes");
  CHECK_STATUS(subq_safetensors_open_dir(NULL, 0, &st), SUBQ_ERR_INVALID_ARGUMENT, "dir is NULL");
  CHECK_STATUS(subq_safetensors_open_dir("x", 2, &st), SUBQ_ERR_INVALID_ARGUMENT, "unknown flags 0x2");
  const subq_safetensors_tensor *t = NULL;
  CHECK_STATUS(subq_safetensors_get(NULL, "a", &t), SUBQ_ERR_INVALID_ARGUMENT, "st is NULL");
  CHECK_STATUS(subq_safetensors_tensor_at(NULL, 0, &t), SUBQ_ERR_INVALID_ARGUMENT, "st is NULL");
  CHECK(subq_safetensors_count(NULL) == 0 && subq_safetensors_file_count(NULL) == 0);
  CHECK(subq_safetensors_file_path(NULL, 0) == NULL && subq_safetensors_metadata_find(NULL, 0, "a") == NULL);
  subq_safetensors_destroy(NULL);
  CHECK(strcmp(subq_safetensors_dtype_name((subq_safetensors_dtype)99), "unknown") == 0);
  CHECK(subq_safetensors_dtype_bits((subq_safetensors_dtype)99) == 0);
  CHECK(subq_safetensors_dtype_bits(SUBQ_SAFETENSORS_F6_E3M2) == 6 && subq_safetensors_dtype_bits(SUBQ_SAFETENSORS_C64) == 64);
}

/* ---- model directories -------------------------------------------------------------- */
static char *make_dir(const char *name) {
  char *d = st_join(g_dir, name);
  mkdir(d, 0700);
  return d;
}

static void write_shard(const char *dir, const char *file, const char *header, size_t data_len) {
  unsigned char data[256];
  for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i ^ 0x5a);
  st_buf b = st_image(header, data, data_len);
  char *p = st_join(dir, file);
  CHECK(st_write(p, b.p, b.n) == 0);
  free(p);
  free(b.p);
}

static void write_index(const char *dir, const char *text) {
  char *p = st_join(dir, "model.safetensors.index.json");
  CHECK(st_write_text(p, text) == 0);
  free(p);
}

#define SHARD1 "{\"model.embed\":{\"dtype\":\"BF16\",\"shape\":[2,4],\"data_offsets\":[0,16]}," \
               "\"model.l0\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}"
#define SHARD2 "{\"__metadata__\":{\"format\":\"pt\"},\"lm_head\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]}}"
#define GOOD_INDEX \
  "{\"metadata\":{\"total_size\":30},\"weight_map\":{\"lm_head\":\"model-00002-of-00002.safetensors\"," \
  "\"model.embed\":\"model-00001-of-00002.safetensors\",\"model.l0\":\"model-00001-of-00002.safetensors\"}}"

static void sharded_case(const char *name, const char *index, subq_status want, const char *needle) {
  char *d = make_dir(name);
  write_shard(d, "model-00001-of-00002.safetensors", SHARD1, 24);
  write_shard(d, "model-00002-of-00002.safetensors", SHARD2, 6);
  write_index(d, index);
  subq_safetensors *st = NULL;
  CHECK_STATUS(subq_safetensors_open_dir(d, 0, &st), want, needle);
  CHECK_MSG(strncmp(subq_last_error_message(), "subq_safetensors_open_dir: ", 27) == 0, "%s", subq_last_error_message());
  CHECK(st == NULL);
  free(d);
}

static void test_dirs(void) {
  /* single file */
  char *d = make_dir("single");
  write_shard(d, "model.safetensors", SHARD1, 24);
  write_index(d, "not json, and ignored since model.safetensors wins");
  subq_safetensors *st = NULL;
  CHECK_OK(subq_safetensors_open_dir(d, 0, &st));
  CHECK(st && subq_safetensors_count(st) == 2 && subq_safetensors_file_count(st) == 1);
  if (st) CHECK(strstr(subq_safetensors_file_path(st, 0), "single/model.safetensors") != NULL);
  const subq_safetensors_tensor *t = NULL;
  CHECK_STATUS(subq_safetensors_get(st, "lm_head", &t), SUBQ_ERR_INVALID_ARGUMENT, "tensor 'lm_head' not found in");
  CHECK(strstr(subq_last_error_message(), "single") != NULL);
  subq_safetensors_destroy(st);
  free(d);

  /* sharded */
  d = make_dir("sharded");
  write_shard(d, "model-00001-of-00002.safetensors", SHARD1, 24);
  write_shard(d, "model-00002-of-00002.safetensors", SHARD2, 6);
  write_shard(d, "unrelated.safetensors", "{", 0); /* not in the index: never opened */
  write_index(d, GOOD_INDEX);
  for (int pass = 0; pass < 2; pass++) {
    st = NULL;
    CHECK_OK(subq_safetensors_open_dir(d, pass ? SUBQ_SAFETENSORS_NO_MMAP : 0, &st));
    if (!st) continue;
    CHECK(subq_safetensors_count(st) == 3 && subq_safetensors_file_count(st) == 2);
    CHECK(strstr(subq_safetensors_file_path(st, 0), "model-00001-of-00002.safetensors") != NULL);
    CHECK(strstr(subq_safetensors_file_path(st, 1), "model-00002-of-00002.safetensors") != NULL);
    /* file then offset order */
    CHECK_OK(subq_safetensors_tensor_at(st, 0, &t));
    CHECK(t && strcmp(t->name, "model.embed") == 0 && t->file_index == 0 && t->file_offset == 8 + (int64_t)strlen(SHARD1));
    CHECK_OK(subq_safetensors_tensor_at(st, 1, &t));
    CHECK(t && strcmp(t->name, "model.l0") == 0 && t->file_index == 0);
    CHECK_OK(subq_safetensors_tensor_at(st, 2, &t));
    CHECK(t && strcmp(t->name, "lm_head") == 0 && t->file_index == 1 && t->dtype == SUBQ_SAFETENSORS_F16);
    CHECK(subq_safetensors_find(st, "lm_head") == 2 && subq_safetensors_find(st, "model.l0") == 1);
    CHECK_OK(subq_safetensors_get(st, "model.l0", &t));
    if (t) {
      const unsigned char *p = t->data;
      CHECK(p[0] == (16 ^ 0x5a) && p[7] == (23 ^ 0x5a));
    }
    CHECK(subq_safetensors_metadata_count(st, 0) == 0 && subq_safetensors_metadata_count(st, 1) == 1);
    CHECK(subq_safetensors_metadata_find(st, 1, "format") != NULL);
    subq_safetensors_destroy(st);
  }
  /* a trailing slash on the directory is fine */
  size_t dl = strlen(d);
  char *ds = malloc(dl + 2);
  memcpy(ds, d, dl);
  ds[dl] = '/', ds[dl + 1] = 0;
  st = NULL;
  CHECK_OK(subq_safetensors_open_dir(ds, 0, &st));
  CHECK(st && strstr(subq_safetensors_file_path(st, 0), "sharded/model-00001") != NULL);
  subq_safetensors_destroy(st);
  free(ds);
  free(d);

  /* hostile indexes */
  const subq_status INV = SUBQ_ERR_INVALID_ARGUMENT;
  sharded_case("trav1", "{\"weight_map\":{\"a\":\"../model-00001-of-00002.safetensors\"}}", INV,
               "weight_map: 'a' maps to '../model-00001-of-00002.safetensors', which is not a plain file name");
  sharded_case("trav2", "{\"weight_map\":{\"a\":\"/etc/passwd\"}}", INV, "not a plain file name");
  sharded_case("trav3", "{\"weight_map\":{\"a\":\"..\"}}", INV, "maps to '..', which is not a plain file name");
  sharded_case("trav4", "{\"weight_map\":{\"a\":\".\"}}", INV, "not a plain file name");
  sharded_case("trav5", "{\"weight_map\":{\"a\":\"sub\\\\x.safetensors\"}}", INV, "not a plain file name");
  sharded_case("trav6", "{\"weight_map\":{\"a\":\"\"}}", INV, "maps to '', which is not a plain file name");
  sharded_case("trav7", "{\"weight_map\":{\"a\":\"x\\u0000.safetensors\"}}", INV, "not a plain file name");
  sharded_case("missing_shard",
               "{\"weight_map\":{\"lm_head\":\"model-00003-of-00002.safetensors\","
               "\"model.embed\":\"model-00001-of-00002.safetensors\",\"model.l0\":\"model-00001-of-00002.safetensors\"}}",
               SUBQ_ERR_SYSTEM, "model-00003-of-00002.safetensors: cannot open: No such file or directory (shard listed in");
  sharded_case("missing_tensor",
               "{\"weight_map\":{\"lm_head\":\"model-00002-of-00002.safetensors\",\"extra\":\"model-00002-of-00002.safetensors\","
               "\"model.embed\":\"model-00001-of-00002.safetensors\",\"model.l0\":\"model-00001-of-00002.safetensors\"}}",
               INV, "weight_map: tensor 'extra' is not in its shard");
  sharded_case("wrong_shard",
               "{\"weight_map\":{\"lm_head\":\"model-00002-of-00002.safetensors\","
               "\"model.embed\":\"model-00002-of-00002.safetensors\",\"model.l0\":\"model-00001-of-00002.safetensors\"}}",
               INV, "model-00001-of-00002.safetensors: holds tensor 'model.embed', which");
  sharded_case("unmapped",
               "{\"weight_map\":{\"lm_head\":\"model-00002-of-00002.safetensors\","
               "\"model.embed\":\"model-00001-of-00002.safetensors\"}}",
               INV, "holds tensor 'model.l0', which");
  sharded_case("dup_key",
               "{\"weight_map\":{\"lm_head\":\"model-00002-of-00002.safetensors\",\"lm_head\":\"model-00002-of-00002.safetensors\"}}",
               INV, "JSON: byte 104: duplicate key 'lm_head'");
  sharded_case("no_map", "{\"metadata\":{}}", INV, "\"weight_map\" is missing, not an object");
  sharded_case("map_array", "{\"weight_map\":[]}", INV, "\"weight_map\" is an array, not an object");
  sharded_case("empty_map", "{\"weight_map\":{}}", INV, "\"weight_map\" is empty");
  sharded_case("map_num", "{\"weight_map\":{\"a\":1}}", INV, "weight_map: 'a' maps to a number, not a file name");
  sharded_case("not_json", "{\"weight_map\":", INV, "model.safetensors.index.json: JSON: byte 14: unexpected end of input");
  sharded_case("bad_utf8", "{\"weight_map\":{\"a\xc0\xaf\":\"x\"}}", INV, "model.safetensors.index.json: not valid UTF-8 (at byte 17)");
  sharded_case("index_array", "[]", INV, "index is an array, not an object");

  /* a broken shard is reported with its own message plus the index */
  d = make_dir("broken_shard");
  write_shard(d, "model-00001-of-00002.safetensors", SHARD1, 20);
  write_shard(d, "model-00002-of-00002.safetensors", SHARD2, 6);
  write_index(d, GOOD_INDEX);
  st = NULL;
  CHECK_STATUS(subq_safetensors_open_dir(d, 0, &st), INV,
               "model-00001-of-00002.safetensors: tensor 'model.l0': data_offsets [16, 24) exceed the 20-byte data section");
  CHECK(strstr(subq_last_error_message(), "shard listed in") != NULL);
  free(d);

  /* neither file; not a directory; missing */
  d = make_dir("empty_dir");
  CHECK_STATUS(subq_safetensors_open_dir(d, 0, &st), INV, "holds neither model.safetensors nor model.safetensors.index.json");
  free(d);
  d = st_join(g_dir, "single/model.safetensors");
  CHECK_STATUS(subq_safetensors_open_dir(d, 0, &st), INV, "not a directory");
  free(d);
  d = st_join(g_dir, "nope");
  CHECK_STATUS(subq_safetensors_open_dir(d, 0, &st), SUBQ_ERR_SYSTEM, "cannot open the directory");
  free(d);
  CHECK(st == NULL);
}

/* ---- concurrent reads on one handle ------------------------------------------------ */
static void *reader(void *arg) {
  const subq_safetensors *st = arg;
  long bad = 0;
  for (int it = 0; it < 2000; it++) {
    for (int i = 0; i < NSPEC; i++) {
      const subq_safetensors_tensor *t = NULL;
      if (subq_safetensors_get(st, k_specs[i].name, &t) != SUBQ_OK || strcmp(t->name, k_specs[i].name) != 0) bad++;
    }
    const subq_safetensors_tensor *t = NULL;
    if (subq_safetensors_get(st, "nope", &t) != SUBQ_ERR_INVALID_ARGUMENT ||
        !strstr(subq_last_error_message(), "'nope'"))
      bad++;
  }
  return (void *)bad;
}

static void test_threads(void) {
  size_t dl;
  int64_t offsets[NSPEC];
  st_buf img = valid_image(&dl, offsets);
  subq_safetensors *st = NULL;
  CHECK_OK(subq_safetensors_open_memory(img.p, img.n, 0, &st));
  pthread_t th[4];
  for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, reader, st);
  for (int i = 0; i < 4; i++) {
    void *r;
    pthread_join(th[i], &r);
    CHECK(r == NULL);
  }
  subq_safetensors_destroy(st);
  free(img.p);
}

int main(void) {
  g_dir = st_tmpdir();
  if (!g_dir) {
    fprintf(stderr, "cannot create a scratch directory\n");
    return 1;
  }
  test_valid();
  test_hostile();
  test_dirs();
  test_threads();
  st_rm_tree(g_dir);
  free(g_dir);
  return subq_test_finish("test_safetensors");
}
