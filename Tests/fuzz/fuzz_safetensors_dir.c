/*
 * fuzz_safetensors_dir.c — libFuzzer harness for sharded model directories:
 * each input is written as model.safetensors.index.json into a scratch
 * directory that holds two valid shards (a.safetensors: tensors "x", "y";
 * b.safetensors: "z") and one broken file (bad.safetensors), then opened
 * with subq_safetensors_open_dir. A success must expose exactly the tensors
 * of the shards the index names, each mapped to its own shard; a failure must
 * set a message. Not a ctest: build with -DSUBQ_BUILD_FUZZ=ON.
 *   ./fuzz_safetensors_dir -dict=Tests/fuzz/safetensors.dict -max_total_time=120 CORPUS
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "subq.h"

#define REQUIRE(c) \
  do {             \
    if (!(c)) __builtin_trap(); \
  } while (0)

static char g_dir[256], g_index[300];

static void put(const char *name, const char *header, size_t data_len) {
  char path[300];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  FILE *f = fopen(path, "wb");
  REQUIRE(f);
  uint64_t n = strlen(header);
  for (int k = 0; k < 8; k++) fputc((int)((n >> (8 * k)) & 0xff), f);
  fwrite(header, 1, n, f);
  for (size_t i = 0; i < data_len; i++) fputc((int)i, f);
  fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  const char *t = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/subq_fuzz_dir_XXXXXX", t && *t ? t : "/tmp");
  REQUIRE(mkdtemp(g_dir));
  put("a.safetensors",
      "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"y\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[8,9]}}",
      9);
  put("b.safetensors", "{\"z\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[0,2]}}", 2);
  put("bad.safetensors", "{\"z\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[0,2]}}", 1);
  snprintf(g_index, sizeof g_index, "%s/model.safetensors.index.json", g_dir);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FILE *f = fopen(g_index, "wb");
  REQUIRE(f);
  if (size) fwrite(data, 1, size, f);
  fclose(f);
  subq_safetensors *st = NULL;
  subq_clear_last_error();
  if (subq_safetensors_open_dir(g_dir, 0, &st) != SUBQ_OK) {
    REQUIRE(st == NULL && subq_last_error_message()[0] != 0);
    return 0;
  }
  int64_t n = subq_safetensors_count(st);
  REQUIRE(n == 1 || n == 2 || n == 3);
  for (int64_t i = 0; i < n; i++) {
    const subq_safetensors_tensor *t = NULL;
    REQUIRE(subq_safetensors_tensor_at(st, i, &t) == SUBQ_OK);
    const char *path = subq_safetensors_file_path(st, t->file_index);
    REQUIRE(path);
    const char *base = strrchr(path, '/') + 1;
    if (!strcmp(t->name, "z")) REQUIRE(!strcmp(base, "b.safetensors"));
    else REQUIRE(!strcmp(base, "a.safetensors") && (!strcmp(t->name, "x") || !strcmp(t->name, "y")));
    REQUIRE(subq_safetensors_find(st, t->name) == i);
  }
  subq_safetensors_destroy(st);
  return 0;
}
