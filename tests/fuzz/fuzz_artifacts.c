/*
 * fuzz_artifacts.c - libFuzzer target for the ForensicArtifacts loader: the input is one YAML
 * file (artifacts_load_mem); a set that loads is then prepared for a few hostile users and
 * matched against fixed paths and against the input itself taken as a path.
 * Seeds: tests/fuzz/corpus/artifacts/.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "artifacts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct artifacts_user users[] = {
		{ "root", "/root" },  { "a*[", "/home/a*[" }, { "toor", "/" },
		{ "x/y", "//srv//" }, { "", "relative" },
	};
	static const char *const paths[] = {
		"/etc/passwd",
		"/root/.bashrc",
		"/home/a*[/x/y",
		"/a/b/c/d/e/f/g/h/i/j/k",
		"/.bashrc",
		"/var/www/x.php",
		"/",
		"//srv/.ssh/authorized_keys",
		"/tmp/x-root-1",
		"/var/spool/cron/crontabs/a*[",
	};
	struct artifacts *a = NULL;
	struct artifacts_stats st;
	struct dt_err err = { 0 };
	const char *names[64];
	size_t n;

	if (artifacts_load_mem("fuzz.yaml", data, size, &a, &st, &err) < 0)
		return 0;
	n = artifacts_count(a);
	for (size_t i = 0; i < n; i++) {
		enum artifacts_type type;

		(void)strlen(artifacts_name(a, i));
		(void)strlen(artifacts_doc(a, i));
		for (size_t j = 0; j < artifacts_glob_count(a, i); j++)
			(void)strlen(artifacts_glob(a, i, j, &type));
		for (size_t j = 0; j < artifacts_member_count(a, i); j++)
			(void)artifacts_find(a, artifacts_member(a, i, j));
		for (size_t j = 0; j < artifacts_os_count(a, i); j++)
			(void)strlen(artifacts_os(a, i, j));
	}
	for (int round = 0; round < 2; round++) {
		if (artifacts_prepare(a, users, round ? sizeof(users) / sizeof(users[0]) : 1,
				      &err) < 0)
			break;
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
			n = artifacts_match(a, paths[i], strlen(paths[i]), (int)(i & 1), names, 64);
			for (size_t j = 1; j < n; j++)
				if (strcmp(names[j - 1], names[j]) >= 0)
					__builtin_trap(); /* names must be sorted and unique */
		}
		(void)artifacts_match(a, (const char *)data, size, 0, names, 64);
	}
	artifacts_free(a);
	return 0;
}
