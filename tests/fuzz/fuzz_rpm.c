/*
 * fuzz_rpm.c - libFuzzer target for rpm_packages alone: the input is an rpmdb.sqlite, read by
 * src/parsers/rpm.c's own SQLite b-tree walker and RPM header decoder. fuzz_parsers reaches
 * the same code a table row in many; this target spends all its time there. Seeds:
 * corpus/rpm/ (tests/fuzz/mkseed-rpm.py makes one).
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "parsers.h"
#include "parsers/parsers_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct parser_input in = { .path = "/var/lib/rpm/rpmdb.sqlite",
				   .data = data,
				   .len = size,
				   .mode = S_IFREG | 0644 };
	struct dt_err err = { 0 };
	json_t *rows = json_array();

	if (rows == NULL)
		return 0;
	if (parse_rpm_packages(&in, rows, &err) == 0) {
		size_t i;
		json_t *row;

		/* Every value a string, as the table contract says. */
		json_array_foreach(rows, i, row)
		{
			const char *k;
			json_t *v;

			json_object_foreach(row, k, v)
			{
				if (!json_is_string(v))
					abort();
			}
		}
	}
	json_decref(rows);
	return 0;
}
