/*
 * source_int.h - what the files of the source share (the .c files of src/source/, behind
 * source.h). source.c: opening (images, ebs://, dir:), reading the image, the accessors;
 * fs.c: volumes and filesystems found in an image (libtsk, our XFS reader), their identity,
 * and why a partition was skipped; file.c: a file's block runs and content.
 * Not a public header: only the files of src/source/ include it.
 */
#ifndef DELTAIR_SOURCE_INT_H
#define DELTAIR_SOURCE_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <tsk/libtsk.h>

#include "source.h"

struct source {
	enum source_kind kind;
	char *spec;
	char format[32];
	char layout[16];
	uint64_t size;
	TSK_IMG_INFO *img;
	TSK_VS_INFO *vs;
	int fd;          /* our own descriptor for single-file raw images, or -1 */
	struct ebs *ebs; /* owned: an ebs:// snapshot, read by ebs_read(); or NULL */
	struct source_fs fs[SOURCE_MAX_FS];
	size_t nfs;
	struct source_skip skip[SOURCE_MAX_FS];
	size_t nskip;
	struct xfs_at {
		struct source *s;
		uint64_t off, size;
	} xat[SOURCE_MAX_FS]; /* what each XFS reader reads through */
	pthread_mutex_t lock;
};

/* ---- fs.c ---- */

/* Try one filesystem at a byte offset (our XFS reader, then libtsk); on failure record why
 * under name. -1 when none was added. */
int source_try_fs(struct source *s, uint64_t off, uint64_t size, const char *name);
/* The partition table's partitions, each tried; -1 when there is no partition table. */
int source_open_volumes(struct source *s);
/*
 * An --offset with nothing there: a filesystem libtsk reads at offset * 512 means the
 * offset was given in sectors (as fdisk and mmls print them). Its type into type, or 0.
 */
int source_offset_in_sectors(struct source *s, uint64_t off, char *type, size_t n);
/* UUID and label of a filesystem of type (NULL: any) from its first n bytes at b. */
void source_fs_identity(const char *type, const unsigned char *b, size_t n, char *uuid,
			size_t usize, char *label, size_t lsize);

#endif
