/*
 * t.h - the unit-test harness. A test is TEST(name) { ... }; it registers itself, so a new
 * t_<module>.c needs no table edit. CHECK(cond) records file:line and fails the test (it
 * goes on, so one run shows every broken check); REQUIRE(cond) also returns; SKIP("why").
 * Each test runs in a fresh temporary directory that is its working directory.
 */
#ifndef DELTAIR_T_H
#define DELTAIR_T_H

#include <stdio.h>

struct t_case {
	const char *name;
	void (*fn)(void);
	const char *file;
	struct t_case *next;
};

void t_register(struct t_case *c);
void t_fail(const char *file, int line, const char *expr);
void t_skip(const char *why);
int t_skipped(void);
/* Write n bytes to path in the test's directory; returns 0 or -1. */
int t_write(const char *path, const void *data, size_t n);
/* The repository's top directory ($TOP, or three levels above the test binary), or NULL. */
const char *t_top(void);
/* ../shared beside the repository ($SHARED first), or NULL. */
const char *t_shared(void);
/* Read a whole file: new (free()); NULL on failure. */
char *t_slurp(const char *path, size_t *len);

#define TEST(name)                                                          \
	static void name(void);                                             \
	static struct t_case name##_case = { #name, name, __FILE__, NULL }; \
	__attribute__((constructor)) static void name##_reg(void)           \
	{                                                                   \
		t_register(&name##_case);                                   \
	}                                                                   \
	static void name(void)

#define CHECK(c)                                        \
	do {                                            \
		if (!(c))                               \
			t_fail(__FILE__, __LINE__, #c); \
	} while (0)
#define REQUIRE(c)                                      \
	do {                                            \
		if (!(c)) {                             \
			t_fail(__FILE__, __LINE__, #c); \
			return;                         \
		}                                       \
	} while (0)
#define SKIP(why)            \
	do {                 \
		t_skip(why); \
		return;      \
	} while (0)

#endif
