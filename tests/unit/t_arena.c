/* t_arena.c - unit tests of arena.h, the one arena of htree.c and artifacts. */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "t.h"

TEST(t_arena_aligns_objects_packs_strings)
{
	struct arena ar;
	struct dt_err err = { 0 };
	char *s1, *s2;
	void *o;

	arena_init(&ar, 1024);
	s1 = arena_strndup(&ar, "abc", 3, &err);
	s2 = arena_strndup(&ar, "de\0f", 4, &err);
	o = arena_alloc(&ar, 24, &err);
	REQUIRE(s1 && s2 && o);
	CHECK(strcmp(s1, "abc") == 0 && memcmp(s2, "de\0f", 5) == 0);
	CHECK(s2 == s1 + 4); /* strings are packed */
	CHECK((uintptr_t)o % alignof(max_align_t) == 0);
	CHECK(arena_memdup(&ar, "x", 0, &err) == NULL && err.code == DT_OK);
	arena_release(&ar);
	CHECK(ar.head == NULL);
	arena_release(&ar); /* twice is safe */
}

TEST(t_arena_large_block_keeps_current_chunk)
{
	struct arena ar;
	struct dt_err err = { 0 };
	char *a, *big, *b;

	arena_init(&ar, 1024);
	a = arena_strndup(&ar, "a", 1, &err);
	big = arena_alloc(&ar, 4096, &err); /* over a quarter of a chunk: a chunk of its own */
	b = arena_strndup(&ar, "b", 1, &err);
	REQUIRE(a && big && b);
	memset(big, 0x5a, 4096);
	CHECK(b == a + 2); /* the small ones still share the first chunk */
	CHECK(strcmp(a, "a") == 0 && strcmp(b, "b") == 0);
	CHECK(arena_alloc(&ar, SIZE_MAX / 2, &err) == NULL && err.code == DT_ENOMEM);
	arena_release(&ar);
}

TEST(t_arena_zeroed_struct_uses_default_chunk)
{
	struct arena ar = { 0 };
	struct dt_err err = { 0 };

	for (int i = 0; i < 10000; i++)
		REQUIRE(arena_strndup(&ar, "0123456789", 10, &err) != NULL);
	arena_release(&ar);
}
