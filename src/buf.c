/* buf.c - see buf.h. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "banned.h"

void
buf_init(struct buf *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit;
}

void
buf_release(struct buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

int
buf_reserve(struct buf *b, size_t n, struct dt_err *err)
{
	size_t want, ncap;
	unsigned char *p;

	if (n > b->limit || b->len > b->limit - n)
		return dt_fail(err, DT_ENOMEM, "buffer would exceed its limit of %zu bytes",
			       b->limit);
	want = b->len + n + 1;
	if (want <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < want)
		ncap = ncap > SIZE_MAX / 2 ? want : ncap * 2;
	p = realloc(b->data, ncap);
	if (p == NULL)
		return dt_fail(err, DT_ENOMEM, "cannot allocate %zu bytes", ncap);
	b->data = p;
	b->cap = ncap;
	return 0;
}

int
buf_grow_array(void *arrp, size_t *cap, size_t need, size_t elem, struct dt_err *err)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 16;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return dt_fail(err, DT_ENOMEM, "too many items");
		ncap *= 2;
	}
	if (ncap > SIZE_MAX / elem)
		return dt_fail(err, DT_ENOMEM, "too many items");
	/* arrp is a T **: copied through memcpy, as a void ** would not alias it. */
	memcpy(&p, arrp, sizeof(p));
	p = realloc(p, ncap * elem);
	if (p == NULL)
		return dt_fail(err, DT_ENOMEM, "cannot allocate %zu bytes", ncap * elem);
	memcpy(arrp, &p, sizeof(p));
	*cap = ncap;
	return 0;
}

void
buf_free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int
buf_add(struct buf *b, const void *p, size_t n, struct dt_err *err)
{
	if (buf_reserve(b, n, err) < 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_addc(struct buf *b, unsigned char c, struct dt_err *err)
{
	return buf_add(b, &c, 1, err);
}

int
buf_adds(struct buf *b, const char *s, struct dt_err *err)
{
	return buf_add(b, s, strlen(s), err);
}

int
buf_printf(struct buf *b, struct dt_err *err, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return dt_fail(err, DT_EBUG, "bad format string");
	if (buf_reserve(b, (size_t)n, err) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_add_u32le(struct buf *b, uint32_t v, struct dt_err *err)
{
	unsigned char p[4];

	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
	return buf_add(b, p, 4, err);
}

int
buf_add_u64le(struct buf *b, uint64_t v, struct dt_err *err)
{
	unsigned char p[8];

	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
	return buf_add(b, p, 8, err);
}

int
buf_add_varint(struct buf *b, uint64_t v, struct dt_err *err)
{
	unsigned char p[10];

	return buf_add(b, p, buf_varint(p, v), err);
}

size_t
buf_varint(unsigned char out[10], uint64_t v)
{
	size_t n = 0;

	do {
		out[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			out[n] |= 0x80;
		n++;
	} while (v);
	return n;
}

unsigned char *
buf_detach(struct buf *b, size_t *len)
{
	unsigned char *p = b->data;

	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

int
cur_bytes(struct cursor *c, size_t n, const unsigned char **p)
{
	if (n > c->left)
		return -1;
	*p = c->p;
	c->p += n;
	c->left -= n;
	return 0;
}

int
cur_u8(struct cursor *c, uint8_t *v)
{
	if (c->left < 1)
		return -1;
	*v = c->p[0];
	c->p++;
	c->left--;
	return 0;
}

int
cur_u32le(struct cursor *c, uint32_t *v)
{
	const unsigned char *p;

	if (cur_bytes(c, 4, &p) < 0)
		return -1;
	*v = buf_le32(p);
	return 0;
}

uint16_t
buf_le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

uint32_t
buf_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int
cur_u64le(struct cursor *c, uint64_t *v)
{
	const unsigned char *p;

	if (cur_bytes(c, 8, &p) < 0)
		return -1;
	*v = 0;
	for (int i = 7; i >= 0; i--)
		*v = *v << 8 | p[i];
	return 0;
}

int
cur_varint(struct cursor *c, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		uint8_t byte;

		if (cur_u8(c, &byte) < 0)
			return -1;
		/* The tenth byte may carry only the top bit of a 64-bit value. */
		if (shift == 63 && byte > 1)
			return -1;
		r |= (uint64_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

int
buf_deflate(const void *data, size_t len, int level, unsigned char **z, size_t *zlen,
	    struct dt_err *err)
{
	uLongf n = compressBound((uLong)len);
	unsigned char *out = malloc(n);

	*z = NULL;
	if (out == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	if (compress2(out, &n, len ? data : (const void *)"", (uLong)len, level) != Z_OK) {
		free(out);
		return dt_fail(err, DT_ENOMEM, "zlib cannot compress %zu bytes", len);
	}
	*z = out;
	*zlen = n;
	return 0;
}

int
buf_inflate(const void *z, size_t zlen, size_t rawlen, const char *what, unsigned char **raw,
	    struct dt_err *err)
{
	unsigned char *out = malloc(rawlen ? rawlen : 1);
	uLongf got = (uLongf)rawlen;

	*raw = NULL;
	if (out == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	if (uncompress(out, &got, z, (uLong)zlen) != Z_OK || got != rawlen) {
		free(out);
		return dt_fail(err, DT_EFORMAT, "%s", what);
	}
	*raw = out;
	return 0;
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
buf_unhex(const char *s, size_t n, unsigned char *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit(s[2 * i]), lo = hi < 0 ? -1 : hex_digit(s[2 * i + 1]);

		if (lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}
