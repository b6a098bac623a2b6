/*
 * t_s3.c - the S3 client's pieces that need no server: request URLs (path-style and
 * virtual-hosted, keys encoded once), bucket names, and ListObjectsV2 answers read with
 * libexpat (pages, url-encoded keys, hostile answers). The client against a real S3
 * (radosgw) is tests/cli/t4200-s3-store.sh.
 */
#include <stdlib.h>
#include <string.h>

#include "aws/s3.h"
#include "t.h"

TEST(t_s3_url_path_style_and_virtual_hosted)
{
	char *u = NULL;

	CHECK(s3_object_url("http://127.0.0.1:8000", 1, "results", "case 1/a+b/ü.txt", NULL, &u,
			    NULL) == 0);
	CHECK(u && strcmp(u, "http://127.0.0.1:8000/results/case%201/a%2Bb/%C3%BC.txt") == 0);
	free(u);
	CHECK(s3_object_url("https://s3.eu-west-1.amazonaws.com", 0, "results", "k/%41", "uploads",
			    &u, NULL) == 0);
	/* '%' is encoded once: the key "k/%41" is not the key "k/A". */
	CHECK(u && strcmp(u, "https://results.s3.eu-west-1.amazonaws.com/k/%2541?uploads") == 0);
	free(u);
	CHECK(s3_object_url("https://s3.eu-west-1.amazonaws.com", 0, "results", NULL, "list-type=2",
			    &u, NULL) == 0);
	CHECK(u && strcmp(u, "https://results.s3.eu-west-1.amazonaws.com/?list-type=2") == 0);
	free(u);
	CHECK(s3_object_url("http://127.0.0.1:8000", 1, "results", NULL, "delete", &u, NULL) == 0);
	CHECK(u && strcmp(u, "http://127.0.0.1:8000/results?delete") == 0);
	free(u);
}

TEST(t_s3_bucket_names)
{
	CHECK(s3_bucket_ok("results"));
	CHECK(s3_bucket_ok("my.results-2"));
	CHECK(!s3_bucket_ok("ab"));
	CHECK(!s3_bucket_ok("Results"));
	CHECK(!s3_bucket_ok("-results"));
	CHECK(!s3_bucket_ok("results/x"));
	CHECK(!s3_bucket_ok("a234567890123456789012345678901234567890123456789012345678901234"));
}

static const char page1[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	"<Name>results</Name><Prefix>c%2F</Prefix><KeyCount>2</KeyCount>"
	"<IsTruncated>true</IsTruncated><NextContinuationToken>tok/+=</NextContinuationToken>"
	"<Contents><Key>c/with+space%2Bplus</Key><Size>3</Size><Owner><ID>x</ID></Owner></Contents>"
	"<Contents><Key>c/%C3%BC%26</Key><Size>4</Size></Contents>"
	"<EncodingType>url</EncodingType>"
	"</ListBucketResult>";
/* No EncodingType: the keys are as they are, '+' and '%' included. */
static const char page2[] = "<ListBucketResult><IsTruncated>false</IsTruncated>"
			    "<Contents><Key>c/last+%41</Key></Contents></ListBucketResult>";

TEST(t_s3_list_pages_and_decoded_keys)
{
	char **keys = NULL, *token = NULL;
	size_t n = 0, cap = 0;
	int truncated = 0;
	struct dt_err err = { 0 };

	CHECK(s3_parse_list(page1, strlen(page1), &keys, &n, &cap, &truncated, &token, &err) == 0);
	CHECK(truncated == 1 && token && strcmp(token, "tok/+=") == 0);
	CHECK(n == 2 && strcmp(keys[0], "c/with space+plus") == 0 &&
	      strcmp(keys[1], "c/\xc3\xbc&") == 0);
	CHECK(s3_parse_list(page2, strlen(page2), &keys, &n, &cap, &truncated, &token, &err) == 0);
	CHECK(truncated == 0 && token == NULL);
	CHECK(n == 3 && strcmp(keys[2], "c/last+%41") == 0);
	s3_keys_free(keys, n);
}

TEST(t_s3_list_refuses_hostile_answers)
{
	static const char *bad[] = {
		"<ListBucketResult><Contents><Key>a</Key>", /* truncated XML */
		"<Error><Code>AccessDenied</Code></Error>", /* not a list */
		"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",  /* no token
											  */
		"<ListBucketResult><Contents><Key></Key></Contents></ListBucketResult>", /* empty
											    key */
		"<!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">"
		"<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
		"<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">]>"
		"<ListBucketResult><Contents><Key>&d;&d;&d;&d;&d;&d;&d;&d;</Key></Contents>"
		"</ListBucketResult>", /* entities past the key cap */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char **keys = NULL, *token = NULL;
		size_t n = 0, cap = 0;
		int truncated = 0;
		struct dt_err err = { 0 };

		CHECK(s3_parse_list(bad[i], strlen(bad[i]), &keys, &n, &cap, &truncated, &token,
				    &err) == -1);
		CHECK(err.code == DT_EFORMAT);
		s3_keys_free(keys, n);
		free(token);
	}
}
