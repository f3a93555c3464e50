/*
 * subq_safetensors.h — read-only access to Hugging Face safetensors
 * checkpoints: one .safetensors file, or a model directory holding
 * model.safetensors or shards listed by model.safetensors.index.json.
 *
 * Files are memory-mapped read-only (PROT_READ, MAP_PRIVATE); tensor data is
 * returned as const pointers into the mapping, with no copy. When mmap is not
 * possible (or SUBQ_SAFETENSORS_NO_MMAP is given) the file is read into one
 * 64-byte aligned buffer instead.
 *
 * Format (validated in full at open; files are treated as hostile):
 *   bytes [0, 8)       N, the header length, unsigned little-endian;
 *                      N <= file size - 8 and N <= SUBQ_SAFETENSORS_MAX_HEADER
 *   bytes [8, 8 + N)   the header: UTF-8 JSON, an object starting with '{'
 *                      (trailing whitespace allowed), mapping
 *                        tensor name -> {"dtype": "F32", "shape": [d0, ...],
 *                                        "data_offsets": [begin, end]}
 *                      and optionally "__metadata__" -> {string: string}
 *   bytes [8 + N, EOF) the data section; tensor bytes are [begin, end) of it,
 *                      row-major ('C' order), little-endian.
 * Rules enforced (each violation is an error naming the file and tensor):
 *   - the JSON is strict (RFC 8259, strict UTF-8, \u escapes with surrogate
 *     pairs only as pairs, nesting <= 16 levels), with no duplicate keys;
 *   - every tensor has exactly the fields dtype, shape and data_offsets; dtype
 *     is one of the names of subq_safetensors_dtype; shape is an array of at
 *     most SUBQ_SAFETENSORS_MAX_RANK non-negative integers ([] = a scalar);
 *     data_offsets are two integers with begin <= end <= data size;
 *   - product(shape) * dtype bits / 8 == end - begin, computed without overflow
 *     (sub-byte dtypes must fill whole bytes);
 *   - the tensors tile the data section exactly, as the reference
 *     implementation requires: sorted by offset, each begins where the previous
 *     one ended (no overlap, no hole) and the last ends at the end of the file;
 *   - tensor names and metadata strings contain no U+0000.
 *
 * Model directories (subq_safetensors_open_dir): model.safetensors is used when
 * present (as transformers does); otherwise model.safetensors.index.json, whose
 * "weight_map" maps each tensor name to a shard file name. Shard names must be
 * plain file names in the directory (no '/', '\\', "." or ".."), each shard is
 * opened once, every mapped tensor must exist in its shard, and every tensor of
 * a shard must be mapped to that shard. The index's "metadata" is not used.
 *
 * Tensors are numbered 0 .. count-1 in file order (shards sorted by file
 * name), then by data offset, which is the order to read them sequentially.
 *
 * Thread-safety: an open handle is immutable; every query function may run
 * concurrently on one handle from any number of threads. Destroy must not run
 * concurrently with other use. Tensor data pointers stay valid until destroy.
 * The files must not be truncated while open (reading a mapped page past the
 * new end raises SIGBUS, as with every mmap-based loader); open with
 * SUBQ_SAFETENSORS_NO_MMAP where that can happen.
 *
 * Errors (status + subq_last_error_message, which names the function, the file,
 * the tensor and the problem, e.g. "subq_safetensors_open: model.safetensors:
 * tensor 'lm_head.weight': data_offsets [0, 64) hold 64 bytes but shape [4, 8]
 * of F32 needs 128"):
 *   SUBQ_ERR_INVALID_ARGUMENT — NULL arguments, unknown flags, a malformed or
 *     inconsistent file or index, a tensor missing from its shard, a directory
 *     without either file, a name not found (subq_safetensors_get), an index
 *     out of range;
 *   SUBQ_ERR_UNSUPPORTED — an unknown dtype name, rank above 8;
 *   SUBQ_ERR_SYSTEM — open/stat/read failed (errno text; also for a shard the
 *     index names but the directory lacks), not a regular file;
 *   SUBQ_ERR_OUT_OF_MEMORY — allocation failed.
 */
#ifndef SUBQ_SAFETENSORS_H
#define SUBQ_SAFETENSORS_H

#include "subq_base.h"

#ifdef __cplusplus
extern "C" {
#endif

SUBQ_ASSUME_NONNULL_BEGIN

/* Largest rank accepted. */
#define SUBQ_SAFETENSORS_MAX_RANK 8
/* Largest header accepted, in bytes (the reference implementation's limit). */
#define SUBQ_SAFETENSORS_MAX_HEADER 100000000

/* Open flags. */
#define SUBQ_SAFETENSORS_NO_MMAP 1u /* read the whole file into memory instead of mapping it */

/* Element types, named as in the file ("F32"). Values fixed forever. All are
 * supported as raw bytes; what to do with them is the caller's business. */
typedef SUBQ_ENUM(subq_safetensors_dtype) {
  SUBQ_SAFETENSORS_BOOL SUBQ_SWIFT_NAME(bool) = 1,       /* 8 bits, 0 or 1 */
  SUBQ_SAFETENSORS_U8 SUBQ_SWIFT_NAME(u8) = 2,
  SUBQ_SAFETENSORS_I8 SUBQ_SWIFT_NAME(i8) = 3,
  SUBQ_SAFETENSORS_U16 SUBQ_SWIFT_NAME(u16) = 4,
  SUBQ_SAFETENSORS_I16 SUBQ_SWIFT_NAME(i16) = 5,
  SUBQ_SAFETENSORS_F16 SUBQ_SWIFT_NAME(f16) = 6,         /* IEEE binary16 */
  SUBQ_SAFETENSORS_BF16 SUBQ_SWIFT_NAME(bf16) = 7,       /* bfloat16 */
  SUBQ_SAFETENSORS_U32 SUBQ_SWIFT_NAME(u32) = 8,
  SUBQ_SAFETENSORS_I32 SUBQ_SWIFT_NAME(i32) = 9,
  SUBQ_SAFETENSORS_F32 SUBQ_SWIFT_NAME(f32) = 10,
  SUBQ_SAFETENSORS_U64 SUBQ_SWIFT_NAME(u64) = 11,
  SUBQ_SAFETENSORS_I64 SUBQ_SWIFT_NAME(i64) = 12,
  SUBQ_SAFETENSORS_F64 SUBQ_SWIFT_NAME(f64) = 13,
  SUBQ_SAFETENSORS_C64 SUBQ_SWIFT_NAME(c64) = 14,        /* complex of two F32 */
  SUBQ_SAFETENSORS_F8_E4M3 SUBQ_SWIFT_NAME(f8E4M3) = 15, /* 8-bit floats (OCP FP8) */
  SUBQ_SAFETENSORS_F8_E5M2 SUBQ_SWIFT_NAME(f8E5M2) = 16,
  SUBQ_SAFETENSORS_F8_E8M0 SUBQ_SWIFT_NAME(f8E8M0) = 17, /* 8-bit power-of-two scale */
  SUBQ_SAFETENSORS_F6_E2M3 SUBQ_SWIFT_NAME(f6E2M3) = 18, /* 6 bits, packed */
  SUBQ_SAFETENSORS_F6_E3M2 SUBQ_SWIFT_NAME(f6E3M2) = 19, /* 6 bits, packed */
  SUBQ_SAFETENSORS_F4 SUBQ_SWIFT_NAME(f4) = 20           /* 4 bits (E2M1), packed */
} subq_safetensors_dtype;

/* The file's name of a dtype ("F8_E4M3"); "unknown" for other values. Static storage. */
SUBQ_API const char *subq_safetensors_dtype_name(subq_safetensors_dtype dtype);
/* Bits per element (4, 6, 8, 16, 32, 64); 0 for an unknown value. */
SUBQ_API int32_t subq_safetensors_dtype_bits(subq_safetensors_dtype dtype);

/* One tensor. Owned by the handle (valid until destroy); never written by the
 * caller. Fields are appended in later versions, never reordered: check
 * struct_size before reading a field newer than the library you run on. */
typedef struct subq_safetensors_tensor {
  size_t struct_size;                           /* sizeof the library's version of this struct */
  const char *name;                             /* NUL-terminated UTF-8 without U+0000 */
  size_t name_len;                              /* bytes, without the NUL */
  subq_safetensors_dtype dtype;
  int32_t rank;                                 /* 0 (a scalar) .. SUBQ_SAFETENSORS_MAX_RANK */
  int64_t shape[SUBQ_SAFETENSORS_MAX_RANK];     /* shape[0 .. rank); the rest are 0 */
  int64_t n_elements;                           /* product of the shape (1 for a scalar, 0 when a dim is 0) */
  int64_t n_bytes;                              /* == end - begin */
  const void *data;                             /* n_bytes bytes, row-major; never NULL (not dereferenceable when n_bytes == 0) */
  int32_t file_index;                           /* which file (subq_safetensors_file_path) */
  uint32_t data_alignment;                      /* largest power of two <= 4096 dividing the address of data */
  int64_t file_offset;                          /* byte offset of data in its file (8 + N + begin) */
} subq_safetensors_tensor;

typedef struct subq_safetensors subq_safetensors;

/* Opens one .safetensors file. flags: 0 or SUBQ_SAFETENSORS_NO_MMAP. Writes
 * *out only on success. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_safetensors_open(const char *path, uint32_t flags,
                                                            subq_safetensors *SUBQ_NULLABLE *SUBQ_NONNULL out);
/* Opens a model directory (see the top of this header). */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_safetensors_open_dir(const char *dir, uint32_t flags,
                                                                subq_safetensors *SUBQ_NULLABLE *SUBQ_NONNULL out);
/* Parses a file image held in memory: the `size` bytes at `data` are copied
 * (SubQ keeps no pointer to them); flags must be 0. data may be NULL when
 * size is 0 (which fails as a file shorter than 8 bytes). The file name in
 * messages is "<memory>". */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_safetensors_open_memory(const void *SUBQ_NULLABLE data, size_t size,
                                                                   uint32_t flags,
                                                                   subq_safetensors *SUBQ_NULLABLE *SUBQ_NONNULL out);
/* Unmaps and frees; NULL is a no-op. Every pointer obtained from the handle dies. */
SUBQ_API void subq_safetensors_destroy(subq_safetensors *SUBQ_NULLABLE st);

/* Number of tensors; 0 for NULL. */
SUBQ_API int64_t subq_safetensors_count(const subq_safetensors *SUBQ_NULLABLE st);
/* Tensor `index` (0 .. count-1, file then offset order). */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_safetensors_tensor_at(
    const subq_safetensors *st, int64_t index, const subq_safetensors_tensor *SUBQ_NULLABLE *SUBQ_NONNULL out);
/* Tensor by exact name; SUBQ_ERR_INVALID_ARGUMENT ("tensor 'x' not found in
 * DIR") when absent. O(log count). */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_safetensors_get(
    const subq_safetensors *st, const char *name, const subq_safetensors_tensor *SUBQ_NULLABLE *SUBQ_NONNULL out);
/* Index of the tensor named `name`, or -1 when absent (or for NULL
 * arguments). Sets no error: use it to probe optional tensors. */
SUBQ_API int64_t subq_safetensors_find(const subq_safetensors *SUBQ_NULLABLE st, const char *SUBQ_NULLABLE name);

/* Number of files (1 for a single file; the shard count of a sharded
 * directory); 0 for NULL. */
SUBQ_API int32_t subq_safetensors_file_count(const subq_safetensors *SUBQ_NULLABLE st);
/* Path of file `file` as opened (the directory joined with the file name for
 * subq_safetensors_open_dir), or NULL when out of range. */
SUBQ_API const char *SUBQ_NULLABLE subq_safetensors_file_path(const subq_safetensors *SUBQ_NULLABLE st, int32_t file);
/* Number of __metadata__ entries of file `file` (0 when absent or out of range). */
SUBQ_API int64_t subq_safetensors_metadata_count(const subq_safetensors *SUBQ_NULLABLE st, int32_t file);
/* Entry `index` of file `file`'s __metadata__ (sorted by key): key and value,
 * NUL-terminated UTF-8 owned by the handle. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_safetensors_metadata_at(const subq_safetensors *st, int32_t file,
                                                                   int64_t index,
                                                                   const char *SUBQ_NULLABLE *SUBQ_NONNULL key,
                                                                   const char *SUBQ_NULLABLE *SUBQ_NONNULL value);
/* The value of `key` in file `file`'s __metadata__, or NULL when absent.
 * Sets no error. */
SUBQ_API const char *SUBQ_NULLABLE subq_safetensors_metadata_find(const subq_safetensors *SUBQ_NULLABLE st,
                                                                  int32_t file, const char *SUBQ_NULLABLE key);

SUBQ_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* SUBQ_SAFETENSORS_H */
