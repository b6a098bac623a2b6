/*
 * mono.h - the monotonic clock in seconds, for elapsed times (progress, summaries, the
 * worker's timeouts): immune to the wall clock being set while a run goes on.
 */
#ifndef DELTAIR_MONO_H
#define DELTAIR_MONO_H

/* Seconds since an arbitrary fixed point; only differences mean anything. */
double mono_now(void);

#endif
