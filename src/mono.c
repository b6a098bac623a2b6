/* mono.c - see mono.h. */
#include "mono.h"

#include <time.h>

#include "banned.h"

double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
