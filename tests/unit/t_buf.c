/* t_buf.c - buf.h: varints, growth limits, cursors. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "t.h"

/* ---- buf ---- */

TEST(t_buf_varint_roundtrip)
{
	struct buf b;
	uint64_t vals[] = { 0, 1, 127, 128, 300, 1ull << 32, UINT64_MAX };
	struct cursor c;

	buf_init(&b, 1024);
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		REQUIRE(buf_add_varint(&b, vals[i], NULL) == 0);
	c.p = b.data;
	c.left = b.len;
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint64_t v;
		CHECK(cur_varint(&c, &v) == 0 && v == vals[i]);
	}
	CHECK(c.left == 0);
	buf_release(&b);
}

TEST(t_buf_rejects_growth_past_limit)
{
	struct buf b;
	struct dt_err err = { 0 };

	buf_init(&b, 10);
	CHECK(buf_add(&b, "0123456789", 10, &err) == 0);
	CHECK(buf_addc(&b, 'x', &err) == -1 && err.code == DT_ENOMEM);
	buf_release(&b);
}

TEST(t_buf_grow_keeps_elements_and_refuses_overflow)
{
	uint64_t *v = NULL;
	size_t n = 0, cap = 0;
	struct dt_err err = { 0 };
	int ok = 1;

	for (uint64_t i = 0; i < 1000; i++) {
		REQUIRE(BUF_GROW(v, n + 1, cap, &err) == 0 && cap >= n + 1);
		v[n++] = i * 7;
	}
	for (size_t i = 0; i < n; i++)
		ok &= v[i] == i * 7;
	CHECK(ok);
	/* An element count whose byte size overflows: refused, the array left as it was. */
	size_t old = cap;
	CHECK(BUF_GROW(v, SIZE_MAX / 4, cap, &err) == -1 && err.code == DT_ENOMEM && cap == old);
	CHECK(v[999] == 999 * 7);
	free(v);
}

TEST(t_cursor_rejects_overlong_varint)
{
	unsigned char bad[11];
	struct cursor c = { bad, sizeof(bad) };
	uint64_t v;

	memset(bad, 0xff, sizeof(bad));
	CHECK(cur_varint(&c, &v) == -1);
	c.p = bad;
	c.left = 3; /* continuation bits to the end */
	CHECK(cur_varint(&c, &v) == -1);
}
