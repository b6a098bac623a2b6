/*
 * ebs_gold.c - where unchanged blocks come from: the gold block store (a gold image, checked
 * against the gold snapshot, or a cache of the gold's blocks shared by every job on a host)
 * and the spill file that keeps every fetched block once. See ebs_int.h and docs/aws.md.
 */
#include "aws/ebs_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "outfile.h"

#include "banned.h"

/* ---- the gold block store: unchanged blocks from a gold image or a cache of the gold ---- */

/* Serialises the cache's byte count and its eviction among this process's threads; other
 * processes sharing the directory only ever see whole files (temporary name, rename). */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * A cache file, format 2 (docs/aws.md), little-endian: a header of CACHE_HEAD bytes, then the
 * block, so that a read of part of the block reads and checks only the 64 KiB pieces it covers.
 *   0  CACHE_MAGIC (8 bytes)          8  version, u32 (2)        12  piece size, u32 (65536)
 *  16  the block's index, u64        24  the gold snapshot's id, NUL-padded (64 bytes)
 *  88  the SHA-256 of each piece (CACHE_PIECES x 32)      then zeros up to CACHE_HEAD
 * The index and id bind a file to its name; every header byte is checked before a piece is
 * used. Format 1 (the block, then its SHA-256) is read whole, checked and rewritten as 2.
 */
#define CACHE_MAGIC     "DTGOLD\n"
#define CACHE_VERSION   2u
#define CACHE_PIECE     (64u * 1024)
#define CACHE_PIECES    (EBS_BLOCK_SIZE / CACHE_PIECE)
#define CACHE_DIGESTS   88u
#define CACHE_HEAD      4096u
#define CACHE_FILE_SIZE (CACHE_HEAD + EBS_BLOCK_SIZE)
#define CACHE_V1_SIZE   (EBS_BLOCK_SIZE + SHA256_DIGEST_LENGTH) /* the block, its SHA-256 */

struct cache_file {
	char path[96]; /* "snap-ID/NAME", under the cache's root */
	struct timespec used;
	uint64_t size;
};

static int
cache_file_cmp(const void *pa, const void *pb)
{
	const struct cache_file *a = pa, *b = pb;

	if (a->used.tv_sec != b->used.tv_sec)
		return a->used.tv_sec < b->used.tv_sec ? -1 : 1;
	return (a->used.tv_nsec > b->used.tv_nsec) - (a->used.tv_nsec < b->used.tv_nsec);
}

/*
 * The cache's files (every gold snapshot's directory under root) into *out (new: free());
 * their bytes into *total. Temporary files of other writers count but are never listed.
 */
static int
cache_scan(const char *root, struct cache_file **out, size_t *n, uint64_t *total,
	   struct dt_err *err)
{
	DIR *d = opendir(root), *sd;
	struct dirent *de, *fe;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	*total = 0;
	if (d == NULL)
		return dt_fail_errno(err, DT_EIO, "cannot read the gold cache '%s'", root);
	while ((de = readdir(d)) != NULL) {
		char sub[512];

		if (strncmp(de->d_name, "snap-", 5) != 0)
			continue;
		if (strlen(de->d_name) > 63 ||
		    (size_t)snprintf(sub, sizeof(sub), "%s/%s", root, de->d_name) >= sizeof(sub) ||
		    (sd = opendir(sub)) == NULL)
			continue;
		while ((fe = readdir(sd)) != NULL) {
			struct stat st;
			struct cache_file *c;

			if (strcmp(fe->d_name, ".") == 0 || strcmp(fe->d_name, "..") == 0)
				continue;
			if (fstatat(dirfd(sd), fe->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(st.st_mode))
				continue;
			*total += (uint64_t)st.st_size;
			if (fe->d_name[0] == '.' || strlen(fe->d_name) > 31)
				continue; /* another writer's temporary file */
			if (BUF_GROW(*out, *n + 1, cap, err) < 0) {
				closedir(sd);
				closedir(d);
				free(*out);
				*out = NULL;
				return -1;
			}
			c = &(*out)[(*n)++];
			if ((size_t)snprintf(c->path, sizeof(c->path), "%s/%s", de->d_name,
					     fe->d_name) >= sizeof(c->path))
				(*n)--;
			c->used = st.st_mtim;
			c->size = (uint64_t)st.st_size;
		}
		closedir(sd);
	}
	closedir(d);
	return 0;
}

/* The cache's root: e->cache_dir without its last component (the gold snapshot's id). */
static void
cache_root(const struct ebs *e, char root[512])
{
	char *slash;

	snprintf(root, 512, "%s", e->cache_dir);
	slash = strrchr(root, '/');
	if (slash)
		*slash = '\0';
}

/*
 * Under cache_lock: count the cache's bytes once, before this process first adds to it. Not
 * at open: a warm run, which only reads, would pay for a stat of every file of a large cache.
 */
static void
cache_count(struct ebs *e)
{
	struct cache_file *v = NULL;
	size_t n = 0;
	char root[512];

	if (e->cache_counted)
		return;
	cache_root(e, root);
	if (cache_scan(root, &v, &n, &e->cache_used, NULL) == 0)
		e->cache_counted = 1; /* else counted again at the next fill */
	free(v);
}

/* Over its bound: remove the least recently used files down to 90% of it. */
static void
cache_trim(struct ebs *e)
{
	struct cache_file *v = NULL;
	size_t n = 0;
	uint64_t total = 0, goal = e->cache_max / 10 * 9;
	char root[512];

	cache_root(e, root);
	if (cache_scan(root, &v, &n, &total, NULL) < 0)
		return; /* the bound is kept at the next fill */
	if (n)
		qsort(v, n, sizeof(*v), cache_file_cmp);
	for (size_t i = 0; i < n && total > goal; i++) {
		char path[700];

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, v[i].path) < sizeof(path) &&
		    unlink(path) == 0)
			total -= v[i].size < total ? v[i].size : total;
	}
	e->cache_used = total;
	free(v);
}

/* The cache's directory: made 0700, or, when it exists, a directory of ours nobody else can
 * read or write (the blocks are the gold's data). */
static int
cache_dir_ok(const char *path, struct dt_err *err)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return dt_fail_errno(err, DT_EIO, "cannot make the gold cache '%s'", path);
	if (lstat(path, &st) < 0)
		return dt_fail_errno(err, DT_EIO, "cannot use the gold cache '%s'", path);
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0)
		return dt_fail(err, DT_EUSAGE,
			       "the gold cache '%s' must be a directory of this user's that no "
			       "one else can read or write (chmod 700)",
			       path);
	return 0;
}

static void
put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void
put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* The header of block idx's file, without its digests (zeros there): the bytes to compare. */
static void
cache_head(const struct ebs *e, uint64_t idx, unsigned char head[CACHE_HEAD])
{
	memset(head, 0, CACHE_HEAD);
	memcpy(head, CACHE_MAGIC, 8);
	put_le32(head + 8, CACHE_VERSION);
	put_le32(head + 12, CACHE_PIECE);
	put_le64(head + 16, idx);
	memcpy(head + 24, e->gold->id, strnlen(e->gold->id, 63));
}

/* Keep block data (verified) as path: a temporary file of ours, renamed over path. */
static void
cache_put(struct ebs *e, const char *path, uint64_t idx, const unsigned char *data)
{
	unsigned char *head = malloc(CACHE_HEAD);
	struct outfile_tmp t;
	int ok;

	if (head == NULL)
		return; /* a cache not filled costs fetches, never a wrong read */
	cache_head(e, idx, head);
	for (unsigned p = 0; p < CACHE_PIECES; p++)
		SHA256(data + (size_t)p * CACHE_PIECE, CACHE_PIECE,
		       head + CACHE_DIGESTS + p * SHA256_DIGEST_LENGTH);
	pthread_mutex_lock(&cache_lock);
	cache_count(e);
	pthread_mutex_unlock(&cache_lock);
	/* Beside path, tracked: a signal (SIGINT of a diff) removes it. */
	if (outfile_tmp_open(&t, AT_FDCWD, path) < 0) {
		free(head);
		return; /* a full disk costs fetches, never a wrong read */
	}
	ok = outfile_write_all(t.fd, head, CACHE_HEAD) == 0 &&
	     outfile_write_all(t.fd, data, EBS_BLOCK_SIZE) == 0;
	free(head);
	if (outfile_tmp_commit(&t, path, ok, 0) < 0)
		return;
	pthread_mutex_lock(&cache_lock);
	e->cache_used += CACHE_FILE_SIZE;
	if (e->cache_used > e->cache_max)
		cache_trim(e);
	pthread_mutex_unlock(&cache_lock);
}

static int
pread_all(int fd, void *dst, size_t n, off_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, (char *)dst + got, n - got, off + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/*
 * A format 1 file (fd, its size checked): the whole block into blk, checked against its
 * SHA-256, and rewritten as format 2. 1, or 0 when damaged.
 */
static int
cache_get_v1(struct ebs *e, int fd, const char *path, uint64_t idx, unsigned char *blk)
{
	unsigned char sum[SHA256_DIGEST_LENGTH], want[SHA256_DIGEST_LENGTH];

	if (pread_all(fd, blk, EBS_BLOCK_SIZE, 0) < 0 ||
	    pread_all(fd, want, sizeof(want), EBS_BLOCK_SIZE) < 0)
		return 0;
	SHA256(blk, EBS_BLOCK_SIZE, sum);
	if (CRYPTO_memcmp(sum, want, sizeof(sum)) != 0)
		return 0;
	cache_put(e, path, idx, blk);
	return 1;
}

/*
 * Bytes [in, in + n) of block idx from its cache file path into dst, each 64 KiB piece they
 * touch read and checked against the header's digest before a byte of it is used: 1, or 0
 * when the file is absent or damaged (then removed; dst may hold part of it: unusable).
 */
static int
cache_get(struct ebs *e, const char *path, uint64_t idx, size_t in, unsigned char *dst,
	  size_t n)
{
	unsigned char sum[SHA256_DIGEST_LENGTH], *head = NULL, *want = NULL, *scratch = NULL;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), ok = 0, v1 = 0;
	uint64_t pieces = 0;
	struct stat st;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		goto done;
	if (st.st_size == CACHE_V1_SIZE) {
		scratch = malloc(EBS_BLOCK_SIZE);
		ok = v1 = scratch && cache_get_v1(e, fd, path, idx, scratch);
		if (ok)
			memcpy(dst, scratch + in, n);
		goto done;
	}
	head = malloc(CACHE_HEAD);
	want = malloc(CACHE_HEAD);
	if (head == NULL || want == NULL || st.st_size != CACHE_FILE_SIZE ||
	    pread_all(fd, head, CACHE_HEAD, 0) < 0)
		goto done;
	/* Every byte of the header but the digests is known: compare it whole. */
	cache_head(e, idx, want);
	memcpy(want + CACHE_DIGESTS, head + CACHE_DIGESTS, CACHE_PIECES * SHA256_DIGEST_LENGTH);
	if (memcmp(head, want, CACHE_HEAD) != 0)
		goto done;
	for (size_t p = in / CACHE_PIECE; p * CACHE_PIECE < in + n; p++) {
		size_t from = p * CACHE_PIECE, lo = from > in ? from : in;
		size_t hi = from + CACHE_PIECE < in + n ? from + CACHE_PIECE : in + n;
		unsigned char *piece = dst + (from - in);

		/* A piece the read covers whole is read in place, else beside it. */
		if (lo != from || hi != from + CACHE_PIECE) {
			if (scratch == NULL && (scratch = malloc(CACHE_PIECE)) == NULL)
				goto done;
			piece = scratch;
		}
		if (pread_all(fd, piece, CACHE_PIECE, (off_t)(CACHE_HEAD + from)) < 0)
			goto done;
		SHA256(piece, CACHE_PIECE, sum);
		if (CRYPTO_memcmp(sum, head + CACHE_DIGESTS + p * SHA256_DIGEST_LENGTH,
				  sizeof(sum)) != 0)
			goto done;
		if (piece == scratch)
			memcpy(dst + (lo - in), scratch + (lo - from), hi - lo);
		pieces++;
	}
	ok = 1;
	/* Recently used: trimmed last. An hour's precision is enough for that, and spares a
	 * metadata write on every read. */
	if (time(NULL) - st.st_mtim.tv_sec > 3600)
		(void)futimens(fd, NULL);
done:
	close(fd);
	free(head);
	free(want);
	free(scratch);
	pthread_mutex_lock(&e->lock);
	e->st.gold_pieces += pieces;
	e->st.gold_cache_converted += (uint64_t)v1;
	if (!ok)
		e->st.gold_cache_refused++;
	pthread_mutex_unlock(&e->lock);
	if (!ok)
		(void)unlink(path);
	return ok;
}

/*
 * Bytes [in, in + n) of block idx of a gold image into dst. An image that ends inside the
 * block (a raw image of the filesystem alone) reads as zeros past its end, as the volume
 * does; one that ends before the block is an error.
 */
static int
gold_pread(int fd, unsigned char *dst, uint64_t idx, size_t in, size_t n, struct dt_err *err)
{
	off_t at = (off_t)(idx * EBS_BLOCK_SIZE + in);
	unsigned char probe;
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, dst + got, n - got, at + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return dt_fail_errno(err, DT_EIO,
					     "cannot read block %" PRIu64 " of the gold image",
					     idx);
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (got == 0 && n > 0 &&
	    (in == 0 || pread(fd, &probe, 1, (off_t)(idx * EBS_BLOCK_SIZE)) != 1))
		return dt_fail(err, DT_EIO, "the gold image ends before block %" PRIu64, idx);
	memset(dst + got, 0, n - got);
	return 0;
}

/* Bytes [in, in + n) of unchanged block idx from the gold store into dst. */
int
ebs_gold_range(struct ebs *e, uint64_t idx, size_t in, unsigned char *dst, size_t n,
	       struct dt_err *err)
{
	unsigned char *blk;
	char path[600];
	int listed;

	pthread_mutex_lock(&e->gold->lock);
	listed = e->gold->tokens[idx] != NULL;
	pthread_mutex_unlock(&e->gold->lock);
	if (e->gold_fd >= 0) {
		/* Never written in the gold: zeros, wherever the image ends. */
		if (!listed)
			memset(dst, 0, n);
		else if (gold_pread(e->gold_fd, dst, idx, in, n, err) < 0)
			return -1;
		pthread_mutex_lock(&e->lock);
		e->st.gold_blocks++;
		pthread_mutex_unlock(&e->lock);
		return 0;
	}
	snprintf(path, sizeof(path), "%s/%016" PRIx64, e->cache_dir, idx);
	if (cache_get(e, path, idx, in, dst, n)) {
		pthread_mutex_lock(&e->lock);
		e->st.gold_blocks++;
		e->st.gold_cache_hits++;
		pthread_mutex_unlock(&e->lock);
		return 0;
	}
	/* Not cached (or refused): the whole block from the gold snapshot, its checksum
	 * verified there, then kept. Concurrent misses of one block share the gold's fetch. */
	blk = n == EBS_BLOCK_SIZE ? dst : malloc(EBS_BLOCK_SIZE);
	if (blk == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	if (ebs_read(e->gold, idx * EBS_BLOCK_SIZE, blk, EBS_BLOCK_SIZE, err) !=
	    (ssize_t)EBS_BLOCK_SIZE) {
		if (blk != dst)
			free(blk);
		return dt_fail(err, DT_EIO, "cannot read block %" PRIu64 " of the gold snapshot",
			       idx);
	}
	cache_put(e, path, idx, blk);
	if (blk != dst) {
		memcpy(dst, blk + in, n);
		free(blk);
	}
	pthread_mutex_lock(&e->lock);
	e->st.gold_blocks++;
	e->st.gold_fetched++;
	pthread_mutex_unlock(&e->lock);
	return 0;
}

/* Unchanged block idx from the gold store into dst (EBS_BLOCK_SIZE). */
int
ebs_gold_read(struct ebs *e, uint64_t idx, unsigned char *dst, struct dt_err *err)
{
	return ebs_gold_range(e, idx, 0, dst, EBS_BLOCK_SIZE, err);
}

/*
 * A gold image is trusted only once it matches the gold snapshot: EBS_GOLD_IMAGE_CHECK of
 * the gold's listed blocks, spread over the volume, fetched (checksums verified) and
 * compared byte for byte.
 */
static int
gold_image_check(struct ebs *e, const char *path, struct dt_err *err)
{
	unsigned char *a = malloc(EBS_BLOCK_SIZE), *b = malloc(EBS_BLOCK_SIZE);
	struct ebs *g = e->gold;
	uint64_t listed = 0, last = 0, step, seen = 0, checked = 0;
	struct stat st;
	int rc = -1;

	if (a == NULL || b == NULL) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		goto out;
	}
	if (fstat(e->gold_fd, &st) < 0) {
		dt_fail_errno(err, DT_EIO, "cannot read the gold image '%s'", path);
		goto out;
	}
	for (uint64_t i = 0; i < g->nblocks; i++)
		if (g->tokens[i] != NULL) {
			listed++;
			last = i;
		}
	/* A raw image may stop at the filesystem's end, short of the volume; not before a block
	 * the gold snapshot holds data in. */
	if (S_ISREG(st.st_mode) && listed && (uint64_t)st.st_size <= last * EBS_BLOCK_SIZE) {
		dt_fail(err, DT_EFORMAT,
			"the gold image '%s' ends at byte %llu, before block %" PRIu64
			" of the gold snapshot '%s': not its image",
			path, (unsigned long long)st.st_size, last, g->id);
		goto out;
	}
	step = listed > EBS_GOLD_IMAGE_CHECK ? listed / EBS_GOLD_IMAGE_CHECK : 1;
	for (uint64_t i = 0; i < g->nblocks && checked < EBS_GOLD_IMAGE_CHECK; i++) {
		if (g->tokens[i] == NULL || seen++ % step != 0)
			continue;
		if (ebs_read(g, i * EBS_BLOCK_SIZE, a, EBS_BLOCK_SIZE, err) !=
		    (ssize_t)EBS_BLOCK_SIZE)
			goto out;
		if (gold_pread(e->gold_fd, b, i, 0, EBS_BLOCK_SIZE, err) < 0)
			goto out;
		if (memcmp(a, b, EBS_BLOCK_SIZE) != 0) {
			dt_fail(err, DT_EFORMAT,
				"the gold image '%s' is not the gold snapshot '%s': block %" PRIu64
				" differs",
				path, g->id, i);
			goto out;
		}
		checked++;
	}
	rc = 0;
out:
	free(a);
	free(b);
	return rc;
}

/* Open the gold store of o (with e->changed): the gold snapshot, then the image or cache. */
int
ebs_gold_open(struct ebs *e, const char *gold, const struct ebs_opts *o, struct dt_err *err)
{
	struct ebs_opts go;
	char spec[160];

	memset(&go, 0, sizeof(go));
	go.concurrency = o->concurrency;
	go.rate = o->rate;
	snprintf(spec, sizeof(spec), "ebs://%s/%s", e->region, gold);
	if (ebs_open(spec, &go, &e->gold, err) < 0)
		return -1;
	if (e->gold->size != e->size)
		return dt_fail(err, DT_EUSAGE,
			       "the gold snapshot '%s' is %llu bytes, '%s' %llu: a gold store "
			       "needs volumes of one size",
			       gold, (unsigned long long)e->gold->size, e->id,
			       (unsigned long long)e->size);
	if (o->gold_image) {
		e->gold_fd = open(o->gold_image, O_RDONLY | O_CLOEXEC);
		if (e->gold_fd < 0)
			return dt_fail_errno(err, DT_EIO, "cannot open the gold image '%s'",
					     o->gold_image);
		return gold_image_check(e, o->gold_image, err);
	}
	if (strlen(o->gold_cache) > 400)
		return dt_fail(err, DT_EUSAGE, "--gold-cache: a path of at most 400 bytes");
	if (cache_dir_ok(o->gold_cache, err) < 0)
		return -1;
	if (asprintf(&e->cache_dir, "%s/%s", o->gold_cache, gold) < 0) {
		e->cache_dir = NULL;
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	if (cache_dir_ok(e->cache_dir, err) < 0)
		return -1;
	e->cache_max = o->gold_cache_max ? o->gold_cache_max : EBS_GOLD_CACHE_MAX;
	return 0;
}

/*
 * The spill file of fetched blocks: unlinked from the start (O_TMPFILE), in the gold cache's
 * directory (private to the user) or else in /tmp. Without one (or past EBS_SPILL_MAX bytes),
 * blocks the LRU dropped are fetched again: a walk comes back to a block (its other small
 * files, the inode table) long after a 64-block LRU let it go.
 */
void
ebs_spill_open(struct ebs *e)
{
	e->spilled = calloc(e->nblocks / 8 + 1, 1);
	if (e->spilled == NULL)
		return;
	e->spill_fd =
		open(e->cache_dir ? e->cache_dir : P_tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

int
ebs_spilled(const struct ebs *e, uint64_t idx)
{
	return e->spill_fd >= 0 && ((e->spilled[idx / 8] >> (idx % 8)) & 1);
}

/* Block idx from the spill file into dst: 1, or 0 when it is not there. */
int
ebs_spill_get(struct ebs *e, uint64_t idx, unsigned char *dst)
{
	int have;

	if (e->spill_fd < 0)
		return 0;
	pthread_mutex_lock(&e->lock);
	have = ebs_spilled(e, idx);
	pthread_mutex_unlock(&e->lock);
	return have && pread(e->spill_fd, dst, EBS_BLOCK_SIZE, (off_t)(idx * EBS_BLOCK_SIZE)) ==
			       (ssize_t)EBS_BLOCK_SIZE;
}

/* Bytes [in, in + n) of block idx from the spill file into dst: 1, or 0 when it is not there. */
int
ebs_spill_range(struct ebs *e, uint64_t idx, size_t in, unsigned char *dst, size_t n)
{
	int have;

	pthread_mutex_lock(&e->lock);
	have = ebs_spilled(e, idx);
	pthread_mutex_unlock(&e->lock);
	return have && pread_all(e->spill_fd, dst, n, (off_t)(idx * EBS_BLOCK_SIZE + in)) == 0;
}

/* A fetched block into the spill file, while there is room. A full disk costs fetches, never a
 * wrong read: the bit is set only once the block is written. */
void
ebs_spill_put(struct ebs *e, uint64_t idx, const unsigned char *data)
{
	int room;

	if (e->spill_fd < 0)
		return;
	pthread_mutex_lock(&e->lock);
	room = e->spill_used + EBS_BLOCK_SIZE <= EBS_SPILL_MAX;
	if (room)
		e->spill_used += EBS_BLOCK_SIZE;
	pthread_mutex_unlock(&e->lock);
	if (room && pwrite(e->spill_fd, data, EBS_BLOCK_SIZE, (off_t)(idx * EBS_BLOCK_SIZE)) ==
			    (ssize_t)EBS_BLOCK_SIZE) {
		pthread_mutex_lock(&e->lock);
		e->spilled[idx / 8] |= (unsigned char)(1u << (idx % 8));
		pthread_mutex_unlock(&e->lock);
	}
}
