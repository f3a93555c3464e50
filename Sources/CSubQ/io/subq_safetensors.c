/* subq_safetensors.c — hardened safetensors reader: mmap, strict header validation, sharded model directories. */
#include "internal/subq_internal.h"
#include "io/subq_json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof(subq_safetensors_dtype) == 4, "enum fields are 4 bytes");

/* Nesting a valid header needs: root object > tensor object > shape array. */
#define ST_MAX_DEPTH 16
/* JSON values per header: ~8 per tensor, so about half a million tensors. */
#define ST_MAX_VALUES (1u << 22)
/* The index file lists one line per tensor; real ones are well under 1 MiB. */
#define ST_MAX_INDEX ((size_t)64 << 20)

typedef struct st_file {
  char *path;             /* as opened, for messages and subq_safetensors_file_path */
  unsigned char *base;    /* mapping or buffer */
  size_t size;
  bool mapped;
  const unsigned char *data; /* data section */
  uint64_t data_size;
  char *strings;          /* the header's decoded strings (names, metadata), NUL-terminated */
  int64_t n_meta;
  const char **meta;      /* key0, value0, key1, ... sorted by key */
  int64_t n_tensors;
  subq_safetensors_tensor *tensors; /* per-file records before assembly */
} st_file;

struct subq_safetensors {
  int32_t n_files;
  st_file *files;
  int64_t n_tensors;
  subq_safetensors_tensor *tensors; /* file order, then offset */
  int64_t *by_name;                 /* indices sorted by name */
  char *where;                      /* file or directory, for "not found in ..." */
};

/* ---- dtypes --------------------------------------------------------------------- */
static const struct {
  const char *name;
  subq_safetensors_dtype dtype;
  int32_t bits;
} st_dtypes[] = {
    {"BOOL", SUBQ_SAFETENSORS_BOOL, 8},       {"U8", SUBQ_SAFETENSORS_U8, 8},
    {"I8", SUBQ_SAFETENSORS_I8, 8},           {"U16", SUBQ_SAFETENSORS_U16, 16},
    {"I16", SUBQ_SAFETENSORS_I16, 16},        {"F16", SUBQ_SAFETENSORS_F16, 16},
    {"BF16", SUBQ_SAFETENSORS_BF16, 16},      {"U32", SUBQ_SAFETENSORS_U32, 32},
    {"I32", SUBQ_SAFETENSORS_I32, 32},        {"F32", SUBQ_SAFETENSORS_F32, 32},
    {"U64", SUBQ_SAFETENSORS_U64, 64},        {"I64", SUBQ_SAFETENSORS_I64, 64},
    {"F64", SUBQ_SAFETENSORS_F64, 64},        {"C64", SUBQ_SAFETENSORS_C64, 64},
    {"F8_E4M3", SUBQ_SAFETENSORS_F8_E4M3, 8}, {"F8_E5M2", SUBQ_SAFETENSORS_F8_E5M2, 8},
    {"F8_E8M0", SUBQ_SAFETENSORS_F8_E8M0, 8}, {"F6_E2M3", SUBQ_SAFETENSORS_F6_E2M3, 6},
    {"F6_E3M2", SUBQ_SAFETENSORS_F6_E3M2, 6}, {"F4", SUBQ_SAFETENSORS_F4, 4},
};
#define ST_NDTYPES (sizeof st_dtypes / sizeof st_dtypes[0])

const char *subq_safetensors_dtype_name(subq_safetensors_dtype dtype) {
  for (size_t i = 0; i < ST_NDTYPES; i++)
    if (st_dtypes[i].dtype == dtype) return st_dtypes[i].name;
  return "unknown";
}

int32_t subq_safetensors_dtype_bits(subq_safetensors_dtype dtype) {
  for (size_t i = 0; i < ST_NDTYPES; i++)
    if (st_dtypes[i].dtype == dtype) return st_dtypes[i].bits;
  return 0;
}

/* ---- messages ------------------------------------------------------------------ */
/* Long paths keep their tail (the file name is what matters). */
static const char *short_path(const char *path) {
  size_t n = strlen(path);
  return n > 160 ? path + n - 157 : path;
}

/* A name or string from the file, quoted-safe: control characters escaped,
 * cut at 96 bytes on a UTF-8 boundary. */
static const char *show(char *buf, size_t cap, const char *s, size_t len) {
  size_t o = 0, i = 0;
  for (; i < len && o + 8 < cap && i < 96; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f) o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    else buf[o++] = (char)c;
  }
  if (i < len) {
    while (o > 0 && ((unsigned char)buf[o - 1] & 0xc0) == 0x80) o--; /* continuation bytes */
    if (o > 0 && (unsigned char)buf[o - 1] >= 0xc0) o--;               /* their lead byte */
    snprintf(buf + o, cap - o, "...");
  } else {
    buf[o] = 0;
  }
  return buf;
}

static subq_status st_err(const char *fn, const char *path, subq_status status, const char *fmt, ...)
    SUBQ_PRINTF(4, 5);
static subq_status st_err(const char *fn, const char *path, subq_status status, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return subq_error(status, "%s: %s: %s", fn, short_path(path), buf);
}

static void fmt_shape(char *buf, size_t cap, const int64_t *shape, int32_t rank) {
  size_t o = (size_t)snprintf(buf, cap, "[");
  for (int32_t d = 0; d < rank && o < cap; d++)
    o += (size_t)snprintf(buf + o, cap - o, "%s%lld", d ? ", " : "", (long long)shape[d]);
  if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* ---- header parsing -------------------------------------------------------------- */
typedef struct st_rec {
  int64_t begin, end;
  int64_t index; /* into the file's tensors */
} st_rec;

static int rec_cmp(const void *a, const void *b) {
  const st_rec *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

static int meta_cmp(const void *a, const void *b) {
  const char *const *x = a, *const *y = b;
  return strcmp(x[0], y[0]);
}

static bool is_nonneg_int(const subq_json_value *v) {
  return v->type == SUBQ_JSON_NUMBER && (v->flags & SUBQ_JSON_NUM_I64) && v->i >= 0;
}

static uint32_t alignment_of(const void *p) {
  uintptr_t a = (uintptr_t)p;
  uint32_t al = 1;
  while (al < 4096 && (a & ((uintptr_t)al * 2 - 1)) == 0) al *= 2;
  return al;
}

/* Validates f->base[0, f->size) and fills the file's tensors and metadata. */
static subq_status st_parse(const char *fn, st_file *f) {
  const char *path = f->path;
  char nb[400], sb[200], sb2[200];
  if (f->size < 8)
    return st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "file is %zu bytes, shorter than the 8-byte header length",
                  f->size);
  uint64_t n = 0;
  for (int k = 7; k >= 0; k--) n = (n << 8) | f->base[k];
  if (n > SUBQ_SAFETENSORS_MAX_HEADER)
    return st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "header length %llu exceeds the limit of %d bytes",
                  (unsigned long long)n, SUBQ_SAFETENSORS_MAX_HEADER);
  if (n > f->size - 8)
    return st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT,
                  "header length %llu exceeds the %zu bytes after the length field (truncated file?)",
                  (unsigned long long)n, f->size - 8);
  const unsigned char *hdr = f->base + 8;
  if (n == 0) return st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "header is empty (length 0)");
  if (hdr[0] != '{')
    return st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "header does not start with '{' (byte 0x%02x)", hdr[0]);
  size_t bad = subq_utf8_check(hdr, (size_t)n);
  if (bad != (size_t)n)
    return st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "header is not valid UTF-8 (at header byte %zu)", bad);
  f->data = hdr + n;
  f->data_size = f->size - 8 - n;

  subq_json_limits lim = {ST_MAX_DEPTH, ST_MAX_VALUES, SUBQ_SAFETENSORS_MAX_HEADER};
  subq_json_doc doc;
  char jerr[256];
  int jrc = subq_json_parse((const char *)hdr, (size_t)n, &lim, &doc, jerr, sizeof jerr);
  if (jrc == -2) return st_err(fn, path, SUBQ_ERR_OUT_OF_MEMORY, "out of memory parsing the %llu-byte header",
                               (unsigned long long)n);
  if (jrc) return st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "header JSON: %s", jerr);

  subq_status st = SUBQ_OK;
  const subq_json_value *root = subq_json_root(&doc);
  if (root->type != SUBQ_JSON_OBJECT) { /* cannot happen after the '{' check; kept for safety */
    st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "header is %s, not an object", subq_json_type_name(root->type));
    goto fail;
  }
  const subq_json_value *metaobj = subq_json_get(&doc, root, "__metadata__");
  int64_t cap = (int64_t)root->b - (metaobj != NULL);
  f->tensors = calloc(cap > 0 ? (size_t)cap : 1, sizeof *f->tensors);
  st_rec *recs = calloc(cap > 0 ? (size_t)cap : 1, sizeof *recs);
  if (!f->tensors || !recs) {
    free(recs);
    st = st_err(fn, path, SUBQ_ERR_OUT_OF_MEMORY, "out of memory for %lld tensors", (long long)cap);
    goto fail;
  }

  if (metaobj) {
    if (metaobj->type != SUBQ_JSON_OBJECT) {
      st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "__metadata__ is %s, not an object of strings",
                  subq_json_type_name(metaobj->type));
      goto fail_recs;
    }
    f->meta = malloc((metaobj->b ? (size_t)metaobj->b : 1) * 2 * sizeof *f->meta);
    if (!f->meta) {
      st = st_err(fn, path, SUBQ_ERR_OUT_OF_MEMORY, "out of memory for the metadata");
      goto fail_recs;
    }
    for (const subq_json_value *m = subq_json_first(&doc, metaobj); m; m = subq_json_next(&doc, m)) {
      const char *key = subq_json_key(&doc, m);
      if (m->type != SUBQ_JSON_STRING) {
        st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "__metadata__ '%s' is %s, not a string",
                    show(nb, sizeof nb, key, m->key_len), subq_json_type_name(m->type));
        goto fail_recs;
      }
      if (strlen(key) != m->key_len || strlen(subq_json_str(&doc, m)) != m->b) {
        st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "__metadata__ '%s' contains U+0000",
                    show(nb, sizeof nb, key, m->key_len));
        goto fail_recs;
      }
      /* offsets for now: the arena is handed over (not moved) below */
      f->meta[2 * f->n_meta] = key;
      f->meta[2 * f->n_meta + 1] = subq_json_str(&doc, m);
      f->n_meta++;
    }
    qsort(f->meta, (size_t)f->n_meta, 2 * sizeof *f->meta, meta_cmp);
  }

  for (const subq_json_value *t = subq_json_first(&doc, root); t; t = subq_json_next(&doc, t)) {
    if (t == metaobj) continue;
    const char *name = subq_json_key(&doc, t);
    show(nb, sizeof nb, name, t->key_len);
    if (strlen(name) != t->key_len) {
      st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "tensor '%s': name contains U+0000", nb);
      goto fail_recs;
    }
    if (t->type != SUBQ_JSON_OBJECT) {
      st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "tensor '%s': entry is %s, not an object", nb,
                  subq_json_type_name(t->type));
      goto fail_recs;
    }
    const subq_json_value *vd = NULL, *vs = NULL, *vo = NULL;
    for (const subq_json_value *m = subq_json_first(&doc, t); m; m = subq_json_next(&doc, m)) {
      const char *k = subq_json_key(&doc, m);
      if (m->key_len == 5 && !memcmp(k, "dtype", 5)) vd = m;
      else if (m->key_len == 5 && !memcmp(k, "shape", 5)) vs = m;
      else if (m->key_len == 12 && !memcmp(k, "data_offsets", 12)) vo = m;
      else {
        st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "tensor '%s': unknown field '%s'", nb,
                    show(sb, sizeof sb, k, m->key_len));
        goto fail_recs;
      }
    }
    if (!vd || !vs || !vo) {
      st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "tensor '%s': missing \"%s\"", nb,
                  !vd ? "dtype" : !vs ? "shape" : "data_offsets");
      goto fail_recs;
    }
    subq_safetensors_tensor *ti = &f->tensors[f->n_tensors];
    ti->struct_size = sizeof *ti;
    ti->name = name;
    ti->name_len = t->key_len;
    /* dtype */
    if (vd->type != SUBQ_JSON_STRING) {
      st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "tensor '%s': dtype is %s, not a string", nb,
                  subq_json_type_name(vd->type));
      goto fail_recs;
    }
    int32_t bits = 0;
    for (size_t i = 0; i < ST_NDTYPES; i++)
      if (strlen(st_dtypes[i].name) == vd->b && !memcmp(st_dtypes[i].name, subq_json_str(&doc, vd), vd->b)) {
        ti->dtype = st_dtypes[i].dtype;
        bits = st_dtypes[i].bits;
      }
    if (!bits) {
      st = st_err(fn, path, SUBQ_ERR_UNSUPPORTED, "tensor '%s': unknown dtype '%s'", nb,
                  show(sb, sizeof sb, subq_json_str(&doc, vd), vd->b));
      goto fail_recs;
    }
    /* shape */
    if (vs->type != SUBQ_JSON_ARRAY) {
      st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "tensor '%s': shape is %s, not an array", nb,
                  subq_json_type_name(vs->type));
      goto fail_recs;
    }
    if (vs->b > SUBQ_SAFETENSORS_MAX_RANK) {
      st = st_err(fn, path, SUBQ_ERR_UNSUPPORTED, "tensor '%s': rank %u exceeds the supported %d", nb, vs->b,
                  SUBQ_SAFETENSORS_MAX_RANK);
      goto fail_recs;
    }
    ti->rank = (int32_t)vs->b;
    int32_t d = 0;
    int64_t nel = 1;
    bool ovf = false, zero = false;
    for (const subq_json_value *e = subq_json_first(&doc, vs); e; e = subq_json_next(&doc, e), d++) {
      if (!is_nonneg_int(e)) {
        st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "tensor '%s': shape[%d] is not a non-negative integer (%s)",
                    nb, d, e->type == SUBQ_JSON_NUMBER ? subq_json_str(&doc, e) : subq_json_type_name(e->type));
        goto fail_recs;
      }
      ti->shape[d] = e->i;
      if (!subq_mul_i64(nel, e->i, &nel)) ovf = true;
      if (e->i == 0) zero = true;
    }
    if (zero) nel = 0, ovf = false; /* a zero dim makes the product 0 whatever came before */
    fmt_shape(sb, sizeof sb, ti->shape, ti->rank);
    /* data_offsets */
    const subq_json_value *ob = subq_json_first(&doc, vo), *oe = ob ? subq_json_next(&doc, ob) : NULL;
    if (vo->type != SUBQ_JSON_ARRAY || vo->b != 2 || !is_nonneg_int(ob) || !is_nonneg_int(oe)) {
      st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "tensor '%s': data_offsets is not two non-negative integers",
                  nb);
      goto fail_recs;
    }
    int64_t begin = ob->i, end = oe->i;
    if (begin > end) {
      st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "tensor '%s': data_offsets [%lld, %lld) end before they begin",
                  nb, (long long)begin, (long long)end);
      goto fail_recs;
    }
    if ((uint64_t)end > f->data_size) {
      st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT,
                  "tensor '%s': data_offsets [%lld, %lld) exceed the %llu-byte data section", nb, (long long)begin,
                  (long long)end, (unsigned long long)f->data_size);
      goto fail_recs;
    }
    if (ovf) {
      st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "tensor '%s': shape %s has more elements than int64 holds", nb,
                  sb);
      goto fail_recs;
    }
    int64_t nbits;
    if (!subq_mul_i64(nel, bits, &nbits)) {
      st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "tensor '%s': shape %s of %s overflows int64 bits", nb, sb,
                  subq_safetensors_dtype_name(ti->dtype));
      goto fail_recs;
    }
    if (nbits % 8) {
      st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT, "tensor '%s': shape %s of %s is not a whole number of bytes",
                  nb, sb, subq_safetensors_dtype_name(ti->dtype));
      goto fail_recs;
    }
    if (nbits / 8 != end - begin) {
      st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT,
                  "tensor '%s': data_offsets [%lld, %lld) hold %lld bytes but shape %s of %s needs %lld", nb,
                  (long long)begin, (long long)end, (long long)(end - begin), sb,
                  subq_safetensors_dtype_name(ti->dtype), (long long)(nbits / 8));
      goto fail_recs;
    }
    ti->n_elements = nel;
    ti->n_bytes = end - begin;
    ti->data = f->data + begin;
    ti->data_alignment = alignment_of(ti->data);
    ti->file_offset = (int64_t)(8 + n) + begin;
    recs[f->n_tensors].begin = begin;
    recs[f->n_tensors].end = end;
    recs[f->n_tensors].index = f->n_tensors;
    f->n_tensors++;
  }

  /* The tensors must tile the data section: no overlap, no hole, nothing after. */
  qsort(recs, (size_t)f->n_tensors, sizeof *recs, rec_cmp);
  int64_t cursor = 0;
  for (int64_t i = 0; i < f->n_tensors; i++) {
    const subq_safetensors_tensor *ti = &f->tensors[recs[i].index];
    show(nb, sizeof nb, ti->name, ti->name_len);
    if (recs[i].begin != cursor) {
      if (i == 0)
        st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT,
                    "tensor '%s': data_offsets [%lld, %lld) leave a hole of %lld bytes at the start of the data", nb,
                    (long long)recs[i].begin, (long long)recs[i].end, (long long)recs[i].begin);
      else {
        const subq_safetensors_tensor *prev = &f->tensors[recs[i - 1].index];
        show(sb2, sizeof sb2, prev->name, prev->name_len);
        if (recs[i].begin < cursor)
          st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT,
                      "tensor '%s': data_offsets [%lld, %lld) overlap tensor '%s' at [%lld, %lld)", nb,
                      (long long)recs[i].begin, (long long)recs[i].end, sb2, (long long)recs[i - 1].begin,
                      (long long)recs[i - 1].end);
        else
          st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT,
                      "tensor '%s': data_offsets [%lld, %lld) leave a hole of %lld bytes after tensor '%s'", nb,
                      (long long)recs[i].begin, (long long)recs[i].end, (long long)(recs[i].begin - cursor), sb2);
      }
      goto fail_recs;
    }
    cursor = recs[i].end;
  }
  if ((uint64_t)cursor != f->data_size) {
    st = st_err(fn, path, SUBQ_ERR_INVALID_ARGUMENT,
                "the tensors cover %lld of the %llu bytes of the data section (%llu trailing bytes)", (long long)cursor,
                (unsigned long long)f->data_size, (unsigned long long)(f->data_size - (uint64_t)cursor));
    goto fail_recs;
  }
  /* put the records in offset order, the order to read them in */
  subq_safetensors_tensor *ordered = malloc((f->n_tensors ? (size_t)f->n_tensors : 1) * sizeof *ordered);
  if (!ordered) {
    st = st_err(fn, path, SUBQ_ERR_OUT_OF_MEMORY, "out of memory for %lld tensors", (long long)f->n_tensors);
    goto fail_recs;
  }
  for (int64_t i = 0; i < f->n_tensors; i++) ordered[i] = f->tensors[recs[i].index];
  free(f->tensors);
  f->tensors = ordered;
  free(recs);
  /* keep the decoded strings (names and metadata point into them); drop the values */
  f->strings = doc.s;
  doc.s = NULL;
  subq_json_free(&doc);
  return SUBQ_OK;

fail_recs:
  free(recs);
fail:
  free(f->tensors);
  f->tensors = NULL;
  f->n_tensors = 0;
  free(f->meta);
  f->meta = NULL;
  f->n_meta = 0;
  subq_json_free(&doc);
  return st;
}

/* ---- files ---------------------------------------------------------------------- */
static void st_file_release(st_file *f) {
  if (f->base) {
    if (f->mapped) munmap(f->base, f->size);
    else subq_free(f->base);
  }
  free(f->path);
  free(f->strings);
  free(f->meta);
  free(f->tensors);
  memset(f, 0, sizeof *f);
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

/* Reads all of fd (size bytes) into a 64-byte aligned buffer. */
static subq_status read_all(const char *fn, const char *path, int fd, size_t size, unsigned char **out) {
  unsigned char *buf = subq_alloc(size ? size : 1);
  if (!buf) return st_err(fn, path, SUBQ_ERR_OUT_OF_MEMORY, "out of memory reading %zu bytes", size);
  size_t got = 0;
  while (got < size) {
    size_t want = size - got;
    if (want > ((size_t)1 << 30)) want = (size_t)1 << 30;
    ssize_t r = read(fd, buf + got, want);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      subq_free(buf);
      return st_err(fn, path, SUBQ_ERR_SYSTEM, "read failed: %s", strerror(e));
    }
    if (r == 0) {
      subq_free(buf);
      return st_err(fn, path, SUBQ_ERR_SYSTEM, "file shrank while being read (%zu of %zu bytes)", got, size);
    }
    got += (size_t)r;
  }
  *out = buf;
  return SUBQ_OK;
}

/* Maps (or reads) f->path and validates it. */
static subq_status st_load(const char *fn, st_file *f, uint32_t flags) {
  int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* O_NONBLOCK: a FIFO must not hang us */
  if (fd < 0) {
    int e = errno;
    return st_err(fn, f->path, SUBQ_ERR_SYSTEM, "cannot open: %s", strerror(e));
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    int e = errno;
    close(fd);
    return st_err(fn, f->path, SUBQ_ERR_SYSTEM, "fstat failed: %s", strerror(e));
  }
  if (!S_ISREG(sb.st_mode)) {
    close(fd);
    return st_err(fn, f->path, SUBQ_ERR_SYSTEM, "not a regular file");
  }
  if (sb.st_size < 0 || (uint64_t)sb.st_size > (uint64_t)SIZE_MAX / 2) {
    close(fd);
    return st_err(fn, f->path, SUBQ_ERR_INVALID_ARGUMENT, "file size %lld cannot be mapped",
                  (long long)sb.st_size);
  }
  f->size = (size_t)sb.st_size;
  if (f->size >= 8 && !(flags & SUBQ_SAFETENSORS_NO_MMAP)) {
    void *p = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
      f->base = p;
      f->mapped = true;
    }
  }
  subq_status st = SUBQ_OK;
  if (!f->base && f->size >= 8) st = read_all(fn, f->path, fd, f->size, &f->base);
  close(fd);
  if (st) return st;
  return st_parse(fn, f);
}

/* ---- assembly ------------------------------------------------------------------- */
/* Merge sort of indices by name (reentrant, unlike qsort with a global). */
static void sort_by_name(const subq_safetensors_tensor *t, int64_t *idx, int64_t *tmp, int64_t n) {
  for (int64_t w = 1; w < n; w *= 2) {
    for (int64_t lo = 0; lo < n; lo += 2 * w) {
      int64_t mid = SUBQ_MIN(lo + w, n), hi = SUBQ_MIN(lo + 2 * w, n), i = lo, j = mid, k = lo;
      while (i < mid && j < hi) tmp[k++] = strcmp(t[idx[i]].name, t[idx[j]].name) <= 0 ? idx[i++] : idx[j++];
      while (i < mid) tmp[k++] = idx[i++];
      while (j < hi) tmp[k++] = idx[j++];
    }
    memcpy(idx, tmp, (size_t)n * sizeof *idx);
  }
}

/* Builds the handle from loaded files (takes them over, also on failure). */
static subq_status st_assemble(const char *fn, st_file *files, int32_t n_files, const char *where,
                               subq_safetensors **out) {
  subq_safetensors *h = calloc(1, sizeof *h);
  subq_status st = SUBQ_OK;
  if (!h) {
    for (int32_t i = 0; i < n_files; i++) st_file_release(&files[i]);
    free(files);
    return st_err(fn, where, SUBQ_ERR_OUT_OF_MEMORY, "out of memory");
  }
  h->files = files;
  h->n_files = n_files;
  int64_t total = 0;
  for (int32_t i = 0; i < n_files; i++) total += files[i].n_tensors; /* each bounded by its header size */
  h->n_tensors = total;
  h->where = dup_str(where);
  h->tensors = malloc((total ? (size_t)total : 1) * sizeof *h->tensors);
  h->by_name = malloc((total ? (size_t)total : 1) * sizeof *h->by_name);
  int64_t *tmp = malloc((total ? (size_t)total : 1) * sizeof *tmp);
  if (!h->where || !h->tensors || !h->by_name || !tmp) {
    free(tmp);
    subq_safetensors_destroy(h);
    return st_err(fn, where, SUBQ_ERR_OUT_OF_MEMORY, "out of memory for %lld tensors", (long long)total);
  }
  int64_t k = 0;
  for (int32_t i = 0; i < n_files; i++) {
    for (int64_t j = 0; j < files[i].n_tensors; j++) {
      h->tensors[k] = files[i].tensors[j];
      h->tensors[k].file_index = i;
      h->by_name[k] = k;
      k++;
    }
    free(files[i].tensors);
    files[i].tensors = NULL;
  }
  sort_by_name(h->tensors, h->by_name, tmp, total);
  free(tmp);
  for (int64_t i = 1; i < total; i++) {
    const subq_safetensors_tensor *a = &h->tensors[h->by_name[i - 1]], *b = &h->tensors[h->by_name[i]];
    if (strcmp(a->name, b->name) == 0) {
      char nb[200];
      st = st_err(fn, where, SUBQ_ERR_INVALID_ARGUMENT, "tensor '%s' appears in both %s and %s",
                  show(nb, sizeof nb, a->name, a->name_len), short_path(files[a->file_index].path),
                  short_path(files[b->file_index].path));
      subq_safetensors_destroy(h);
      return st;
    }
  }
  *out = h;
  return SUBQ_OK;
}

/* ---- public API ------------------------------------------------------------------ */
subq_status subq_safetensors_open(const char *path, uint32_t flags, subq_safetensors **out) {
  static const char fn[] = "subq_safetensors_open";
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  if (!path) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: path is NULL", fn);
  if (flags & ~SUBQ_SAFETENSORS_NO_MMAP)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: unknown flags 0x%x", fn, flags);
  st_file *f = calloc(1, sizeof *f);
  if (!f || !(f->path = dup_str(path))) {
    free(f);
    return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  }
  subq_status st = st_load(fn, f, flags);
  if (st) {
    st_file_release(f);
    free(f);
    return st;
  }
  return st_assemble(fn, f, 1, path, out);
}

subq_status subq_safetensors_open_memory(const void *data, size_t size, uint32_t flags, subq_safetensors **out) {
  static const char fn[] = "subq_safetensors_open_memory";
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  if (!data && size) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: data is NULL but size is %zu", fn, size);
  if (flags) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: unknown flags 0x%x", fn, flags);
  st_file *f = calloc(1, sizeof *f);
  if (!f || !(f->path = dup_str("<memory>"))) {
    free(f);
    return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  }
  f->size = size;
  if (size) {
    f->base = subq_alloc(size);
    if (!f->base) {
      st_file_release(f);
      free(f);
      return subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory copying %zu bytes", fn, size);
    }
    memcpy(f->base, data, size);
  }
  subq_status st = st_parse(fn, f);
  if (st) {
    st_file_release(f);
    free(f);
    return st;
  }
  return st_assemble(fn, f, 1, "<memory>", out);
}

static char *join_path(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  bool slash = a > 0 && dir[a - 1] != '/';
  char *p = malloc(a + slash + b + 1);
  if (!p) return NULL;
  memcpy(p, dir, a);
  if (slash) p[a] = '/';
  memcpy(p + a + slash, name, b + 1);
  return p;
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

typedef struct wm_entry {
  const char *name;
  const char *shard;
  int32_t file;
} wm_entry;

static int wm_cmp(const void *a, const void *b) { return strcmp(((const wm_entry *)a)->name, ((const wm_entry *)b)->name); }

static subq_status open_sharded(const char *fn, const char *dir, const char *index_path, uint32_t flags,
                                subq_safetensors **out) {
  char nb[200], sb[200];
  /* read the index */
  int fd = open(index_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int e = errno;
    return st_err(fn, index_path, SUBQ_ERR_SYSTEM, "cannot open: %s", strerror(e));
  }
  struct stat sbuf;
  if (fstat(fd, &sbuf) != 0 || !S_ISREG(sbuf.st_mode)) {
    close(fd);
    return st_err(fn, index_path, SUBQ_ERR_SYSTEM, "not a regular file");
  }
  if (sbuf.st_size < 0 || (uint64_t)sbuf.st_size > ST_MAX_INDEX) {
    close(fd);
    return st_err(fn, index_path, SUBQ_ERR_INVALID_ARGUMENT, "index of %lld bytes exceeds the %zu-byte limit",
                  (long long)sbuf.st_size, ST_MAX_INDEX);
  }
  unsigned char *text = NULL;
  subq_status st = read_all(fn, index_path, fd, (size_t)sbuf.st_size, &text);
  close(fd);
  if (st) return st;
  size_t tlen = (size_t)sbuf.st_size;
  size_t bad = subq_utf8_check(text, tlen);
  if (bad != tlen) {
    subq_free(text);
    return st_err(fn, index_path, SUBQ_ERR_INVALID_ARGUMENT, "not valid UTF-8 (at byte %zu)", bad);
  }
  subq_json_limits lim = {ST_MAX_DEPTH, ST_MAX_VALUES, ST_MAX_INDEX};
  subq_json_doc doc;
  char jerr[256];
  int jrc = subq_json_parse((const char *)text, tlen, &lim, &doc, jerr, sizeof jerr);
  subq_free(text);
  if (jrc == -2) return st_err(fn, index_path, SUBQ_ERR_OUT_OF_MEMORY, "out of memory parsing the index");
  if (jrc) return st_err(fn, index_path, SUBQ_ERR_INVALID_ARGUMENT, "JSON: %s", jerr);

  st_file *files = NULL;
  int32_t n_files = 0;
  wm_entry *wm = NULL;
  const char **shards = NULL;
  const subq_json_value *root = subq_json_root(&doc);
  const subq_json_value *map = root->type == SUBQ_JSON_OBJECT ? subq_json_get(&doc, root, "weight_map") : NULL;
  if (root->type != SUBQ_JSON_OBJECT) {
    st = st_err(fn, index_path, SUBQ_ERR_INVALID_ARGUMENT, "index is %s, not an object",
                subq_json_type_name(root->type));
    goto done;
  }
  if (!map || map->type != SUBQ_JSON_OBJECT) {
    st = st_err(fn, index_path, SUBQ_ERR_INVALID_ARGUMENT, "\"weight_map\" is %s, not an object",
                map ? subq_json_type_name(map->type) : "missing");
    goto done;
  }
  if (map->b == 0) {
    st = st_err(fn, index_path, SUBQ_ERR_INVALID_ARGUMENT, "\"weight_map\" is empty");
    goto done;
  }
  uint32_t nw = map->b;
  wm = calloc(nw, sizeof *wm);
  shards = calloc(nw, sizeof *shards);
  if (!wm || !shards) {
    st = st_err(fn, index_path, SUBQ_ERR_OUT_OF_MEMORY, "out of memory");
    goto done;
  }
  uint32_t i = 0;
  for (const subq_json_value *e = subq_json_first(&doc, map); e; e = subq_json_next(&doc, e), i++) {
    const char *name = subq_json_key(&doc, e);
    show(nb, sizeof nb, name, e->key_len);
    if (strlen(name) != e->key_len) {
      st = st_err(fn, index_path, SUBQ_ERR_INVALID_ARGUMENT, "weight_map: tensor name '%s' contains U+0000", nb);
      goto done;
    }
    if (e->type != SUBQ_JSON_STRING) {
      st = st_err(fn, index_path, SUBQ_ERR_INVALID_ARGUMENT, "weight_map: '%s' maps to %s, not a file name", nb,
                  subq_json_type_name(e->type));
      goto done;
    }
    const char *shard = subq_json_str(&doc, e);
    show(sb, sizeof sb, shard, e->b);
    if (e->b == 0 || strlen(shard) != e->b || strchr(shard, '/') || strchr(shard, '\\') || !strcmp(shard, ".") ||
        !strcmp(shard, "..")) {
      st = st_err(fn, index_path, SUBQ_ERR_INVALID_ARGUMENT,
                  "weight_map: '%s' maps to '%s', which is not a plain file name in the directory", nb, sb);
      goto done;
    }
    wm[i].name = name;
    wm[i].shard = shard;
    shards[i] = shard;
  }
  /* unique shard names, sorted */
  qsort(shards, nw, sizeof *shards, str_cmp);
  uint32_t ns = 0;
  for (i = 0; i < nw; i++)
    if (ns == 0 || strcmp(shards[ns - 1], shards[i]) != 0) shards[ns++] = shards[i];
  files = calloc(ns, sizeof *files);
  if (!files) {
    st = st_err(fn, index_path, SUBQ_ERR_OUT_OF_MEMORY, "out of memory");
    goto done;
  }
  for (i = 0; i < ns; i++) {
    files[i].path = join_path(dir, shards[i]);
    n_files++;
    if (!files[i].path) {
      st = st_err(fn, index_path, SUBQ_ERR_OUT_OF_MEMORY, "out of memory");
      goto done;
    }
    if ((st = st_load(fn, &files[i], flags))) {
      /* name the index too: the shard is missing or broken */
      char first[600];
      snprintf(first, sizeof first, "%s", subq_last_error_message());
      st = subq_error(st, "%s (shard listed in %s)", first, short_path(index_path));
      goto done;
    }
  }
  /* every mapped tensor is in its shard; every shard tensor is mapped there */
  for (i = 0; i < nw; i++) {
    int32_t lo = 0, hi = (int32_t)ns - 1;
    while (lo <= hi) {
      int32_t mid = lo + (hi - lo) / 2;
      int c = strcmp(shards[mid], wm[i].shard);
      if (c == 0) {
        wm[i].file = mid;
        break;
      }
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
  }
  qsort(wm, nw, sizeof *wm, wm_cmp);
  for (int32_t fi = 0; fi < n_files; fi++) {
    for (int64_t j = 0; j < files[fi].n_tensors; j++) {
      const subq_safetensors_tensor *t = &files[fi].tensors[j];
      wm_entry key = {t->name, NULL, 0};
      wm_entry *hit = bsearch(&key, wm, nw, sizeof *wm, wm_cmp);
      if (!hit || hit->file != fi) {
        show(nb, sizeof nb, t->name, t->name_len);
        st = st_err(fn, files[fi].path, SUBQ_ERR_INVALID_ARGUMENT, "holds tensor '%s', which %s maps %s%s", nb,
                    short_path(index_path), hit ? "to " : "nowhere", hit ? hit->shard : "");
        goto done;
      }
    }
  }
  int64_t total = 0;
  for (int32_t fi = 0; fi < n_files; fi++) total += files[fi].n_tensors;
  if (total != (int64_t)nw) {
    /* Every shard tensor is mapped to its shard, so some mapped tensor is missing from its
     * shard: find the first by name (sorted shard names + binary search, n log n). */
    const char **have = malloc((total ? (size_t)total : 1) * sizeof *have);
    if (!have) {
      st = st_err(fn, index_path, SUBQ_ERR_OUT_OF_MEMORY, "out of memory");
      goto done;
    }
    int64_t k = 0;
    for (int32_t fi = 0; fi < n_files; fi++)
      for (int64_t j = 0; j < files[fi].n_tensors; j++) have[k++] = files[fi].tensors[j].name;
    qsort(have, (size_t)total, sizeof *have, str_cmp);
    for (i = 0; i < nw; i++) {
      if (bsearch(&wm[i].name, have, (size_t)total, sizeof *have, str_cmp)) continue;
      show(nb, sizeof nb, wm[i].name, strlen(wm[i].name));
      st = st_err(fn, index_path, SUBQ_ERR_INVALID_ARGUMENT, "weight_map: tensor '%s' is not in its shard %s", nb,
                  short_path(files[wm[i].file].path));
      free(have);
      goto done;
    }
    free(have);
    st = st_err(fn, index_path, SUBQ_ERR_INTERNAL, "tensor count mismatch (%lld in shards, %u mapped)",
                (long long)total, nw);
    goto done;
  }
  subq_json_free(&doc);
  free(wm);
  free(shards);
  return st_assemble(fn, files, n_files, dir, out);

done:
  for (int32_t fi = 0; fi < n_files; fi++) st_file_release(&files[fi]);
  free(files);
  free(wm);
  free(shards);
  subq_json_free(&doc);
  return st;
}

static bool is_file(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

subq_status subq_safetensors_open_dir(const char *dir, uint32_t flags, subq_safetensors **out) {
  static const char fn[] = "subq_safetensors_open_dir";
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  if (!dir) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: dir is NULL", fn);
  if (flags & ~SUBQ_SAFETENSORS_NO_MMAP)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: unknown flags 0x%x", fn, flags);
  struct stat sb;
  if (stat(dir, &sb) != 0) {
    int e = errno;
    return st_err(fn, dir, SUBQ_ERR_SYSTEM, "cannot open the directory: %s", strerror(e));
  }
  if (!S_ISDIR(sb.st_mode)) return st_err(fn, dir, SUBQ_ERR_INVALID_ARGUMENT, "not a directory");
  char *single = join_path(dir, "model.safetensors");
  char *index = join_path(dir, "model.safetensors.index.json");
  subq_status st;
  if (!single || !index) {
    st = subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  } else if (is_file(single)) {
    st_file *f = calloc(1, sizeof *f);
    if (!f) {
      st = subq_error(SUBQ_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    } else {
      f->path = single;
      single = NULL;
      st = st_load(fn, f, flags);
      if (st) {
        st_file_release(f);
        free(f);
      } else {
        st = st_assemble(fn, f, 1, dir, out);
      }
    }
  } else if (is_file(index)) {
    st = open_sharded(fn, dir, index, flags, out);
  } else {
    st = st_err(fn, dir, SUBQ_ERR_INVALID_ARGUMENT,
                "holds neither model.safetensors nor model.safetensors.index.json");
  }
  free(single);
  free(index);
  return st;
}

void subq_safetensors_destroy(subq_safetensors *st) {
  if (!st) return;
  for (int32_t i = 0; i < st->n_files; i++) st_file_release(&st->files[i]);
  free(st->files);
  free(st->tensors);
  free(st->by_name);
  free(st->where);
  free(st);
}

int64_t subq_safetensors_count(const subq_safetensors *st) { return st ? st->n_tensors : 0; }

subq_status subq_safetensors_tensor_at(const subq_safetensors *st, int64_t index,
                                       const subq_safetensors_tensor **out) {
  static const char fn[] = "subq_safetensors_tensor_at";
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  if (!st) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: st is NULL", fn);
  if (index < 0 || index >= st->n_tensors)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index %lld is outside [0, %lld)", fn, (long long)index,
                      (long long)st->n_tensors);
  *out = &st->tensors[index];
  return SUBQ_OK;
}

int64_t subq_safetensors_find(const subq_safetensors *st, const char *name) {
  if (!st || !name) return -1;
  int64_t lo = 0, hi = st->n_tensors - 1;
  while (lo <= hi) {
    int64_t mid = lo + (hi - lo) / 2;
    int c = strcmp(st->tensors[st->by_name[mid]].name, name);
    if (c == 0) return st->by_name[mid];
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

subq_status subq_safetensors_get(const subq_safetensors *st, const char *name, const subq_safetensors_tensor **out) {
  static const char fn[] = "subq_safetensors_get";
  if (!out) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  if (!st) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: st is NULL", fn);
  if (!name) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: name is NULL", fn);
  int64_t i = subq_safetensors_find(st, name);
  if (i < 0) {
    char nb[200];
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: tensor '%s' not found in %s", fn,
                      show(nb, sizeof nb, name, strlen(name)), short_path(st->where));
  }
  *out = &st->tensors[i];
  return SUBQ_OK;
}

int32_t subq_safetensors_file_count(const subq_safetensors *st) { return st ? st->n_files : 0; }

const char *subq_safetensors_file_path(const subq_safetensors *st, int32_t file) {
  if (!st || file < 0 || file >= st->n_files) return NULL;
  return st->files[file].path;
}

int64_t subq_safetensors_metadata_count(const subq_safetensors *st, int32_t file) {
  if (!st || file < 0 || file >= st->n_files) return 0;
  return st->files[file].n_meta;
}

subq_status subq_safetensors_metadata_at(const subq_safetensors *st, int32_t file, int64_t index, const char **key,
                                         const char **value) {
  static const char fn[] = "subq_safetensors_metadata_at";
  if (!key || !value) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, !key ? "key" : "value");
  if (!st) return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: st is NULL", fn);
  if (file < 0 || file >= st->n_files)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: file %d is outside [0, %d)", fn, file, st->n_files);
  const st_file *f = &st->files[file];
  if (index < 0 || index >= f->n_meta)
    return subq_error(SUBQ_ERR_INVALID_ARGUMENT, "%s: index %lld is outside [0, %lld)", fn, (long long)index,
                      (long long)f->n_meta);
  *key = f->meta[2 * index];
  *value = f->meta[2 * index + 1];
  return SUBQ_OK;
}

const char *subq_safetensors_metadata_find(const subq_safetensors *st, int32_t file, const char *key) {
  if (!st || !key || file < 0 || file >= st->n_files) return NULL;
  const st_file *f = &st->files[file];
  int64_t lo = 0, hi = f->n_meta - 1;
  while (lo <= hi) {
    int64_t mid = lo + (hi - lo) / 2;
    int c = strcmp(f->meta[2 * mid], key);
    if (c == 0) return f->meta[2 * mid + 1];
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return NULL;
}
