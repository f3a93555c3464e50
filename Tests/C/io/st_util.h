/*
 * st_util.h — helpers shared by the safetensors tests: build file images from a
 * header text and data bytes, write them into a scratch directory.
 */
#ifndef ST_UTIL_H
#define ST_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct st_buf {
  unsigned char *p;
  size_t n;
} st_buf;

/* [u64 header_len_field][header bytes][data bytes] */
static inline st_buf st_image_raw(uint64_t len_field, const char *header, size_t header_len, const void *data,
                                  size_t data_len) {
  st_buf b;
  b.n = 8 + header_len + data_len;
  b.p = malloc(b.n ? b.n : 1);
  for (int k = 0; k < 8; k++) b.p[k] = (unsigned char)(len_field >> (8 * k));
  if (header_len) memcpy(b.p + 8, header, header_len);
  if (data_len) memcpy(b.p + 8 + header_len, data, data_len);
  return b;
}

/* The usual image: the length field is the header's length. */
static inline st_buf st_image(const char *header, const void *data, size_t data_len) {
  return st_image_raw(strlen(header), header, strlen(header), data, data_len);
}

static inline int st_write(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = n ? fwrite(p, 1, n, f) : 0;
  return fclose(f) == 0 && w == n ? 0 : -1;
}

static inline int st_write_text(const char *path, const char *text) { return st_write(path, text, strlen(text)); }

static inline int st_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static inline void st_rm_tree(const char *dir) { nftw(dir, st_rm_one, 16, FTW_DEPTH | FTW_PHYS); }

/* A fresh scratch directory under $TMPDIR (or /tmp); the caller removes it. */
static inline char *st_tmpdir(void) {
  const char *t = getenv("TMPDIR");
  char tmpl[512];
  snprintf(tmpl, sizeof tmpl, "%s/subq_st_XXXXXX", t && *t ? t : "/tmp");
  char *d = mkdtemp(tmpl);
  if (!d) return NULL;
  char *r = malloc(strlen(d) + 1);
  strcpy(r, d);
  return r;
}

static inline char *st_join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  snprintf(p, n, "%s/%s", dir, name);
  return p;
}

#endif
