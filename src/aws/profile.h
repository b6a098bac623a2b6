/*
 * profile.h - the AWS shared config and credentials files, and the environment they are
 * named by. Files: AWS_CONFIG_FILE (else ~/.aws/config, sections "[default]" and
 * "[profile NAME]") and AWS_SHARED_CREDENTIALS_FILE (else ~/.aws/credentials, sections
 * "[NAME]"). A missing file is an empty one. Indented sub-keys (s3 = ...) are skipped.
 * Values may be secrets: profile_free() wipes them.
 */
#ifndef DELTAIR_AWS_PROFILE_H
#define DELTAIR_AWS_PROFILE_H

#include "error.h"

#define PROFILE_MAX_FILE (1u << 20)

struct profile_files;

/* Look name up in env ("NAME=value" array, NULL: the process environment). Borrowed. */
const char *profile_env(const char *const *env, const char *name);
/* The profile asked for: AWS_PROFILE, AWS_DEFAULT_PROFILE, else "default". Borrowed. */
const char *profile_name(const char *const *env);

/* Read both files. *out is new: profile_free() it. A file we cannot read: DT_EIO. */
int profile_load(const char *const *env, struct profile_files **out,
		 struct dt_err *err) DT_MUST_USE;
void profile_free(struct profile_files *f);
/* key of profile in the config file, NULL when absent. Borrowed until f is freed. */
const char *profile_config(const struct profile_files *f, const char *profile, const char *key);
/* key of profile in the credentials file, NULL when absent. Borrowed until f is freed. */
const char *profile_credentials(const struct profile_files *f, const char *profile,
				const char *key);
/* Is there such a profile in either file? */
int profile_exists(const struct profile_files *f, const char *profile);

#endif
