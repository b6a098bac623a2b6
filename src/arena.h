/*
 * arena.h - many small allocations that live and die together (a tree's paths, a set of
 * artifact definitions): carved out of large chunks, freed at once.
 * arena_init() on caller-owned storage; arena_release() frees every chunk (safe on a zeroed
 * struct) and leaves the arena empty and usable. Not thread-safe while allocating; what was
 * allocated may be read by any thread.
 */
#ifndef DELTAIR_ARENA_H
#define DELTAIR_ARENA_H

#include <stddef.h>

#include "error.h"

#define ARENA_DEFAULT_CHUNK (64u << 10)

struct arena_chunk;

struct arena {
	struct arena_chunk *head; /* owned: the chunk being filled, then the others */
	size_t chunk;             /* bytes of a new chunk; 0 means ARENA_DEFAULT_CHUNK */
};

/* chunk: the size of each chunk; an allocation over a quarter of it gets its own. */
void arena_init(struct arena *ar, size_t chunk);
void arena_release(struct arena *ar);
/*
 * Borrowed: n bytes aligned for any object (max_align_t), valid until the arena is
 * released. NULL with DT_ENOMEM when out of memory or n is absurd.
 */
void *arena_alloc(struct arena *ar, size_t n, struct dt_err *err) DT_MUST_USE;
/* The len bytes at s plus a NUL, packed (no alignment): borrowed as above. */
char *arena_strndup(struct arena *ar, const char *s, size_t len, struct dt_err *err) DT_MUST_USE;
/* A copy of the n bytes at s, aligned as arena_alloc(); NULL (no failure) when n is 0. */
void *arena_memdup(struct arena *ar, const void *s, size_t n, struct dt_err *err) DT_MUST_USE;

#endif
