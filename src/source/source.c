/*
 * source.c - evidence sources through libtsk's image and volume layers, or a directory.
 *
 * Raw images and block devices are also opened with our own descriptor, so that content
 * reads are plain pread() calls that several threads can issue at once; other formats
 * (E01, VMDK, VHD, split raw) go through tsk_img_read(), which locks its own cache.
 * Filesystems in the image: fs.c; a file's runs and content: file.c (source_int.h).
 */
#include "source/source_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <tsk/libtsk.h>

#include "aws/ebs.h"
#include "htree.h"
#include "xfs.h"

#include "banned.h"

enum source_kind
source_kind(const struct source *s)
{
	return s->kind;
}

const char *
source_spec(const struct source *s)
{
	return s->spec;
}

const char *
source_format(const struct source *s)
{
	return s->format;
}

const char *
source_layout(const struct source *s)
{
	return s->layout;
}

uint64_t
source_size(const struct source *s)
{
	return s->size;
}

size_t
source_nfs(const struct source *s)
{
	return s->nfs;
}

const struct source_fs *
source_fs(const struct source *s, size_t i)
{
	return i < s->nfs ? &s->fs[i] : NULL;
}

size_t
source_nskipped(const struct source *s)
{
	return s->nskip;
}

const struct source_skip *
source_skipped(const struct source *s, size_t i)
{
	return i < s->nskip ? &s->skip[i] : NULL;
}

void
source_lock(struct source *s)
{
	pthread_mutex_lock(&s->lock);
}

void
source_unlock(struct source *s)
{
	pthread_mutex_unlock(&s->lock);
}

/* libtsk keeps its last error per thread; take its words and clear it. */
void
source_tsk_error(char *out, size_t n)
{
	const char *m = tsk_error_get();

	snprintf(out, n, "%s", m && *m ? m : "unknown libtsk error");
	for (char *p = out; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	tsk_error_reset();
}

void
source_free(struct source *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nfs; i++) {
		if (s->fs[i].tsk_fs)
			tsk_fs_close(s->fs[i].tsk_fs);
		xfs_free(s->fs[i].xfs);
	}
	if (s->vs)
		tsk_vs_close(s->vs);
	if (s->img)
		tsk_img_close(s->img);
	ebs_free(s->ebs);
	if (s->fd >= 0)
		close(s->fd);
	for (size_t i = 0; i < s->nfs; i++)
		free((char *)s->fs[i].root);
	pthread_mutex_destroy(&s->lock);
	free(s->spec);
	free(s);
}

/*
 * The identity of the filesystem mounted at dir, from its device's superblock: the device
 * is the mount source in /proc/self/mountinfo whose major:minor is dir's st_dev. Nothing
 * when it cannot be found or opened (not root, a network or virtual filesystem).
 */
static void
dir_identity(const struct stat *st, struct source_fs *f)
{
	FILE *fp = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, want[32], dev[4096] = "", type[32] = "";
	size_t cap = 0;
	unsigned char b[4096];
	ssize_t n;
	int fd;

	snprintf(want, sizeof(want), "%u:%u", major(st->st_dev), minor(st->st_dev));
	/* id parent major:minor root MOUNTPOINT options [optional...] - TYPE SOURCE super */
	while (fp && getline(&line, &cap, fp) > 0) {
		char *sep = strstr(line, " - "), *save = NULL, *t;
		int k = 0;

		for (t = strtok_r(line, " ", &save); t && k < 2; t = strtok_r(NULL, " ", &save))
			k++;
		if (t == NULL || strcmp(t, want) != 0 || sep == NULL)
			continue;
		save = NULL;
		if ((t = strtok_r(sep + 3, " \n", &save)) == NULL)
			continue;
		snprintf(type, sizeof(type), "%s", t);
		if ((t = strtok_r(NULL, " \n", &save)) && t[0] == '/')
			snprintf(dev, sizeof(dev), "%s", t);
	}
	if (fp)
		fclose(fp);
	free(line);
	if (dev[0] == '\0')
		return;
	fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = pread(fd, b, sizeof(b), 0);
	close(fd);
	if (n > 0)
		source_fs_identity(type[0] ? type : NULL, b, (size_t)n, f->uuid, sizeof(f->uuid),
				   f->label, sizeof(f->label));
}

static int
open_dir(struct source *s, const char *path, struct dt_err *err)
{
	struct stat st;
	struct source_fs *f;

	if (stat(path, &st) != 0)
		return dt_fail_errno(err, DT_EIO, "cannot open '%s'", path);
	if (!S_ISDIR(st.st_mode))
		return dt_fail(err, DT_EUSAGE, "'%s' is not a directory", path);
	s->kind = SOURCE_DIR;
	snprintf(s->format, sizeof(s->format), "dir");
	snprintf(s->layout, sizeof(s->layout), "dir");
	f = &s->fs[s->nfs++];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "p0");
	snprintf(f->type, sizeof(f->type), "dir");
	f->root = strdup(path);
	if (f->root == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	dir_identity(&st, f);
	return 0;
}

/* A .dtree given where evidence is expected. */
static int
is_dtree(const char *path)
{
	unsigned char m[8];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), yes;

	if (fd < 0)
		return 0;
	yes = pread(fd, m, 8, 0) == 8 && memcmp(m, HTREE_MAGIC, 8) == 0;
	close(fd);
	return yes;
}

/* Our own descriptor, when it sees exactly the bytes libtsk sees. */
static void
open_raw_fd(struct source *s, const char *path)
{
	struct stat st;
	uint64_t size = 0;
	int fd;

	if (s->img->itype != TSK_IMG_TYPE_RAW)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0) {
		if (S_ISREG(st.st_mode))
			size = (uint64_t)st.st_size;
		else if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &size) != 0)
			size = 0;
	}
	if (size == 0 || size != (uint64_t)s->img->size) {
		close(fd); /* split raw: libtsk stitches the segments */
		return;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	s->fd = fd;
}

/* --- ebs:// (aws/ebs.h): libtsk reads the snapshot through an external image. --- */

/* libtsk's 4.11 external image: a struct that begins with its TSK_IMG_INFO. */
struct ebs_img {
	TSK_IMG_INFO img; /* first: libtsk casts */
	struct ebs *ebs;  /* borrowed from the source */
};

static ssize_t
ebs_img_read(TSK_IMG_INFO *img, TSK_OFF_T off, char *buf, size_t len)
{
	struct dt_err err = { 0 };
	ssize_t n = ebs_read(((struct ebs_img *)img)->ebs, (uint64_t)off, buf, len, &err);

	if (n < 0) {
		tsk_error_reset();
		tsk_error_set_errno(TSK_ERR_IMG_READ);
		tsk_error_set_errstr("%s", err.msg);
	}
	return n;
}

static void
ebs_img_close(TSK_IMG_INFO *img)
{
	free(img);
}

static void
ebs_img_stat(TSK_IMG_INFO *img, FILE *fp)
{
	(void)img;
	(void)fp;
}

static int
open_ebs(struct source *s, const char *spec, const struct source_opts *o, struct dt_err *err)
{
	struct ebs_opts eo = { .concurrency = o ? o->ebs_concurrency : 0,
			       .rate = o ? o->ebs_rate : 0,
			       .changed_since = o ? o->changed_since : NULL,
			       .gold_image = o ? o->gold_image : NULL,
			       .gold_cache = o ? o->gold_cache : NULL,
			       .gold_cache_max = o ? o->gold_cache_max : 0 };
	struct ebs_img *ei;

	if (ebs_open(spec, &eo, &s->ebs, err) < 0)
		return -1;
	ei = calloc(1, sizeof(*ei));
	if (ei == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	ei->ebs = s->ebs;
	s->img = tsk_img_open_external(ei, (TSK_OFF_T)ebs_size(s->ebs), 512, ebs_img_read,
				       ebs_img_close, ebs_img_stat);
	if (s->img == NULL) {
		char why[200];
		free(ei);
		source_tsk_error(why, sizeof(why));
		return dt_fail(err, DT_EFORMAT, "'%s': libtsk refused the snapshot: %s", spec, why);
	}
	return 0;
}

const struct cblk *
source_changed(const struct source *s)
{
	return s->ebs ? ebs_changed(s->ebs) : NULL;
}

const char *
source_changed_note(const struct source *s)
{
	return s->ebs ? ebs_changed_note(s->ebs) : "";
}

int
source_ebs_stats(struct source *s, struct ebs_stats *out)
{
	if (s->ebs == NULL)
		return -1;
	ebs_get_stats(s->ebs, out);
	return 0;
}

int
source_open(const char *spec, const struct source_opts *o, struct source **out, struct dt_err *err)
{
	struct source *s;
	struct stat st;
	char why[200];

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	s->fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	s->spec = strdup(spec);
	if (s->spec == NULL) {
		source_free(s);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	if (strncmp(spec, "dir:", 4) == 0) {
		if (open_dir(s, spec + 4, err) < 0) {
			source_free(s);
			return -1;
		}
		*out = s;
		return 0;
	}
	if (!ebs_is_spec(spec) && o && (o->changed_since || o->gold_image || o->gold_cache)) {
		dt_fail(err, DT_EUSAGE,
			"--changed-since, --gold-image and --gold-cache are for ebs:// snapshots; "
			"give another image's list with --changed-blocks FILE");
		source_free(s);
		return -1;
	}
	if (ebs_is_spec(spec)) {
		s->kind = SOURCE_IMAGE;
		if (open_ebs(s, spec, o, err) < 0) {
			source_free(s);
			return -1;
		}
	} else if (stat(spec, &st) != 0) {
		dt_fail_errno(err, DT_EIO, "cannot open '%s'", spec);
		source_free(s);
		return -1;
	}
	if (s->ebs == NULL && S_ISDIR(st.st_mode)) {
		dt_fail(err, DT_EUSAGE,
			"'%s' is a directory; to read a mounted filesystem use 'dir:%s'", spec,
			spec);
		source_free(s);
		return -1;
	}
	if (is_dtree(spec)) {
		dt_fail(err, DT_EUSAGE,
			"'%s' is a deltair tree (.dtree), not evidence: use it with --baseline",
			spec);
		source_free(s);
		return -1;
	}
	s->kind = SOURCE_IMAGE;
	if (s->img == NULL)
		s->img = tsk_img_open_utf8_sing(spec, TSK_IMG_TYPE_DETECT, 0);
	if (s->img == NULL) {
		source_tsk_error(why, sizeof(why));
		dt_fail(err, DT_EFORMAT, "cannot open '%s' as a disk image: %s", spec, why);
		source_free(s);
		return -1;
	}
	s->size = (uint64_t)s->img->size;
	snprintf(s->format, sizeof(s->format), "%s",
		 s->ebs ? "ebs" : tsk_img_type_toname(s->img->itype));
	if (s->ebs == NULL)
		open_raw_fd(s, spec);
	snprintf(s->layout, sizeof(s->layout), "none");
	if (o && o->offset >= 0) {
		snprintf(s->layout, sizeof(s->layout), "offset");
		source_try_fs(s, (uint64_t)o->offset, 0, "p0");
	} else if (source_open_volumes(s) < 0) {
		source_try_fs(s, 0, s->size, "p0");
	}
	if (s->nfs == 0) {
		const struct source_skip *k = &s->skip[0];
		char type[32];

		if (o && o->offset > 0 &&
		    source_offset_in_sectors(s, (uint64_t)o->offset, type, sizeof(type))) {
			dt_fail(err, DT_EUSAGE,
				"'%s': no filesystem at byte %lld, but %s starts at byte %llu "
				"(%lld*512): --offset takes bytes, so give --offset %llu",
				spec, (long long)o->offset, type,
				(unsigned long long)o->offset * 512, (long long)o->offset,
				(unsigned long long)o->offset * 512);
		} else if (s->nskip == 1 && k->hint[0]) {
			dt_fail(err, DT_EFORMAT, "'%s' %s: %s; %s", spec, k->name, k->reason,
				k->hint);
		} else if (s->nskip == 1 && strstr(k->reason, "looks like")) {
			dt_fail(err, DT_EFORMAT, "'%s' %s: %s", spec, k->name, k->reason);
		} else if (s->nskip == 0) {
			dt_fail(err, DT_EFORMAT, "'%s': partition table (%s) lists no partitions",
				spec, s->layout);
		} else if (strcmp(s->layout, "none") == 0 || strcmp(s->layout, "offset") == 0) {
			dt_fail(err, DT_EFORMAT,
				"'%s': %s; if it holds a filesystem deltair cannot read (btrfs, "
				"XFS v4), mount it read-only and read it as 'dir:MOUNTPOINT'",
				spec, k->reason);
		} else {
			dt_fail(err, DT_EFORMAT,
				"'%s': no readable filesystem in %zu %s partition(s) (%s: %s)%s%s",
				spec, s->nskip, s->layout, k->name, k->reason,
				k->hint[0] ? "; " : "", k->hint);
		}
		source_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

ssize_t
source_read(struct source *s, uint64_t off, void *buf, size_t len, struct dt_err *err)
{
	size_t done = 0;

	if (s->kind != SOURCE_IMAGE)
		return dt_fail(err, DT_EBUG, "source_read on a directory source");
	if (off >= s->size)
		return 0;
	if (len > s->size - off)
		len = (size_t)(s->size - off);
	while (done < len) {
		ssize_t n;

		if (s->ebs) {
			n = ebs_read(s->ebs, off + done, (char *)buf + done, len - done, err);
			if (n < 0)
				return -1;
		} else if (s->fd >= 0) {
			n = pread(s->fd, (char *)buf + done, len - done, (off_t)(off + done));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return dt_fail_errno(err, DT_EIO, "read error at byte %llu of '%s'",
						     (unsigned long long)(off + done), s->spec);
		} else {
			n = tsk_img_read(s->img, (TSK_OFF_T)(off + done), (char *)buf + done,
					 len - done);
			if (n < 0) {
				char why[200];
				source_tsk_error(why, sizeof(why));
				return dt_fail(err, DT_EIO, "read error at byte %llu of '%s': %s",
					       (unsigned long long)(off + done), s->spec, why);
			}
		}
		if (n == 0)
			break; /* the image is shorter than it says */
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int
source_read_exact(struct source *s, uint64_t off, void *buf, size_t len, struct dt_err *err)
{
	ssize_t got = source_read(s, off, buf, len, err);

	if (got < 0)
		return -1;
	if ((size_t)got < len)
		return dt_fail(err, DT_EIO, "the image ends at byte %llu, inside the file's data",
			       (unsigned long long)(off + (uint64_t)got));
	return 0;
}
