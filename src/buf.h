/*
 * buf.h - a growable byte buffer with a size cap.
 * buf_init() on caller-owned storage; buf_release() frees (safe on a zeroed struct).
 * Growth past the cap fails with DT_ENOMEM, so a length read from hostile input can
 * never make us allocate more than the caller allowed.
 */
#ifndef DELTAIR_BUF_H
#define DELTAIR_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct buf {
	unsigned char *data; /* owned; always NUL-terminated past len when non-NULL */
	size_t len;
	size_t cap;   /* allocated */
	size_t limit; /* the most len may reach */
};

void buf_init(struct buf *b, size_t limit);
void buf_release(struct buf *b);
/* Make room for n more bytes. */
int buf_reserve(struct buf *b, size_t n, struct dt_err *err) DT_MUST_USE;
int buf_add(struct buf *b, const void *p, size_t n, struct dt_err *err) DT_MUST_USE;
int buf_addc(struct buf *b, unsigned char c, struct dt_err *err) DT_MUST_USE;
int buf_adds(struct buf *b, const char *s, struct dt_err *err) DT_MUST_USE;
int buf_printf(struct buf *b, struct dt_err *err, const char *fmt, ...) DT_PRINTF(3, 4) DT_MUST_USE;
/* Little-endian fixed and LEB128 variable-length integers, for on-disk encodings. */
int buf_add_u32le(struct buf *b, uint32_t v, struct dt_err *err) DT_MUST_USE;
int buf_add_u64le(struct buf *b, uint64_t v, struct dt_err *err) DT_MUST_USE;
int buf_add_varint(struct buf *b, uint64_t v, struct dt_err *err) DT_MUST_USE;
/* v as LEB128 into out; returns its length (1 to 10). */
size_t buf_varint(unsigned char out[10], uint64_t v);
/*
 * Growable arrays (git's ALLOC_GROW with errors): make room for need elements of elem bytes
 * in the array whose address is arrp (a T **), which has room for *cap. Grows by doubling,
 * so n appends cost O(n). On failure (DT_ENOMEM, also when the size would overflow) the
 * array and *cap are unchanged. BUF_GROW(v, n + 1, cap, err) before v[n++] = x.
 */
int buf_grow_array(void *arrp, size_t *cap, size_t need, size_t elem,
		   struct dt_err *err) DT_MUST_USE;
#define BUF_GROW(arr, need, cap, err) buf_grow_array(&(arr), &(cap), (need), sizeof(*(arr)), (err))
/* Free the n strings of v, then v (NULL with n 0 is fine). */
void buf_free_strings(char **v, size_t n);

/*
 * zlib (RFC 1950) at level: *z is new (free()), *zlen bytes. DT_ENOMEM when out of memory
 * or zlib fails.
 */
int buf_deflate(const void *data, size_t len, int level, unsigned char **z, size_t *zlen,
		struct dt_err *err) DT_MUST_USE;
/*
 * Inflate z into exactly rawlen bytes: *raw is new (free()). The caller caps rawlen; a
 * stream that does not give exactly rawlen bytes is DT_EFORMAT ("what" names it).
 */
int buf_inflate(const void *z, size_t zlen, size_t rawlen, const char *what, unsigned char **raw,
		struct dt_err *err) DT_MUST_USE;

/*
 * 2n hex digits at s (either case) into n bytes at out; -1 at the first pair that is not
 * two digits (the bytes before it are written, the rest are not).
 */
int buf_unhex(const char *s, size_t n, unsigned char *out) DT_MUST_USE;

/* Hand the data over: *out is new (free()), the buffer is left empty. */
unsigned char *buf_detach(struct buf *b, size_t *len);
void buf_reset(struct buf *b);

/* A cursor over untrusted bytes: every read checks what remains. */
struct cursor {
	const unsigned char *p;
	size_t left;
};
int cur_u8(struct cursor *c, uint8_t *v) DT_MUST_USE;
int cur_u32le(struct cursor *c, uint32_t *v) DT_MUST_USE;
int cur_u64le(struct cursor *c, uint64_t *v) DT_MUST_USE;
int cur_varint(struct cursor *c, uint64_t *v) DT_MUST_USE;
/* Little-endian integers at p, for fixed layouts whose size the caller has checked. */
uint16_t buf_le16(const unsigned char *p);
uint32_t buf_le32(const unsigned char *p);
/* Borrow n bytes: *p points into the cursor's memory. */
int cur_bytes(struct cursor *c, size_t n, const unsigned char **p) DT_MUST_USE;

#endif
