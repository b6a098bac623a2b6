/*
 * arena.c - chunked allocation for objects freed together (see arena.h).
 *
 * The chunk being filled is the head of the list. An allocation that does not fit starts a
 * new chunk, except a large one (over a quarter of a chunk), which gets a chunk of its own
 * linked behind the head, so the head's free space stays in use for the small ones.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

#include "banned.h"

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	max_align_t data[];
};

void
arena_init(struct arena *ar, size_t chunk)
{
	ar->head = NULL;
	ar->chunk = chunk;
}

void
arena_release(struct arena *ar)
{
	struct arena_chunk *c = ar->head;

	while (c) {
		struct arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	ar->head = NULL;
}

/* n bytes at an offset that is a multiple of align (a power of two, at most max_align_t's). */
static void *
arena_take(struct arena *ar, size_t n, size_t align, struct dt_err *err)
{
	size_t chunk = ar->chunk ? ar->chunk : ARENA_DEFAULT_CHUNK;
	struct arena_chunk *c = ar->head;
	size_t at = 0;
	void *p;

	if (n > SIZE_MAX / 4) {
		dt_fail(err, DT_ENOMEM, "allocation of %zu bytes too large", n);
		return NULL;
	}
	if (c != NULL)
		at = (c->used + align - 1) & ~(align - 1);
	if (c == NULL || at > c->cap || c->cap - at < n) {
		size_t cap = n > chunk / 4 ? n : chunk;

		c = malloc(sizeof(*c) + cap);
		if (c == NULL) {
			dt_fail(err, DT_ENOMEM, "out of memory");
			return NULL;
		}
		c->used = 0;
		c->cap = cap;
		at = 0;
		if (cap == n && ar->head != NULL) {
			c->next = ar->head->next;
			ar->head->next = c;
		} else {
			c->next = ar->head;
			ar->head = c;
		}
	}
	p = (char *)c->data + at;
	c->used = at + n;
	return p;
}

void *
arena_alloc(struct arena *ar, size_t n, struct dt_err *err)
{
	return arena_take(ar, n, _Alignof(max_align_t), err);
}

char *
arena_strndup(struct arena *ar, const char *s, size_t len, struct dt_err *err)
{
	char *p = len < SIZE_MAX ? arena_take(ar, len + 1, 1, err) : NULL;

	if (p == NULL)
		return NULL;
	if (len > 0)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void *
arena_memdup(struct arena *ar, const void *s, size_t n, struct dt_err *err)
{
	void *p;

	if (n == 0)
		return NULL;
	p = arena_alloc(ar, n, err);
	if (p != NULL)
		memcpy(p, s, n);
	return p;
}
