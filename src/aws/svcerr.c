/* svcerr.c - see svcerr.h. */
#include "aws/svcerr.h"

#include <stdio.h>
#include <string.h>

#include <expat.h>
#include <jansson.h>

#include "banned.h"

/* Copy at most cap-1 bytes, control characters (a newline in a message) as spaces. */
static void
set_field(char *dst, size_t cap, const char *src, size_t n)
{
	size_t o = strlen(dst);

	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	dst[o] = '\0';
}

/* "aws.protocoltests#ThrottlingException" or "ThrottlingException:http://..." to the name. */
static void
set_code(struct svcerr *e, const char *s)
{
	const char *hash = strrchr(s, '#');
	size_t n;

	if (hash)
		s = hash + 1;
	n = strcspn(s, ":");
	e->code[0] = '\0';
	set_field(e->code, sizeof(e->code), s, n);
}

static void
parse_json(const void *body, size_t len, struct svcerr *e)
{
	json_t *j = json_loadb(body, len, JSON_DISABLE_EOF_CHECK, NULL);
	const char *keys_code[] = { "__type", "code", "Code" };
	const char *keys_msg[] = { "message", "Message", "errorMessage" };

	if (!json_is_object(j)) {
		json_decref(j);
		return;
	}
	for (size_t i = 0; i < 3 && !e->code[0]; i++) {
		const char *v = json_string_value(json_object_get(j, keys_code[i]));
		if (v)
			set_code(e, v);
	}
	for (size_t i = 0; i < 3 && !e->message[0]; i++) {
		const char *v = json_string_value(json_object_get(j, keys_msg[i]));
		if (v)
			set_field(e->message, sizeof(e->message), v, strlen(v));
	}
	json_decref(j);
}

struct xml_state {
	struct svcerr *e;
	int in; /* 1 in <Code>, 2 in <Message> */
	int have_code, have_msg;
	char code[128];
};

static void XMLCALL
xml_start(void *ud, const XML_Char *name, const XML_Char **attr)
{
	struct xml_state *s = ud;
	const char *local = strrchr(name, ' '); /* namespace separator */

	(void)attr;
	local = local ? local + 1 : name;
	if (strcmp(local, "Code") == 0 && !s->have_code)
		s->in = 1;
	else if (strcmp(local, "Message") == 0 && !s->have_msg)
		s->in = 2;
	else
		s->in = 0;
}

static void XMLCALL
xml_end(void *ud, const XML_Char *name)
{
	struct xml_state *s = ud;

	(void)name;
	if (s->in == 1)
		s->have_code = 1;
	else if (s->in == 2)
		s->have_msg = 1;
	s->in = 0;
}

static void XMLCALL
xml_text(void *ud, const XML_Char *text, int len)
{
	struct xml_state *s = ud;

	if (s->in == 1)
		set_field(s->code, sizeof(s->code), text, (size_t)len);
	else if (s->in == 2)
		set_field(s->e->message, sizeof(s->e->message), text, (size_t)len);
}

static void
parse_xml(const void *body, size_t len, struct svcerr *e)
{
	XML_Parser p = XML_ParserCreateNS(NULL, ' ');
	struct xml_state s = { e, 0, 0, 0, "" };

	if (p == NULL)
		return;
	XML_SetUserData(p, &s);
	XML_SetElementHandler(p, xml_start, xml_end);
	XML_SetCharacterDataHandler(p, xml_text);
	/* A truncated body still yields what was read before the damage. */
	(void)XML_Parse(p, body, (int)len, 1);
	XML_ParserFree(p);
	if (s.code[0] && !e->code[0])
		set_code(e, s.code);
}

void
svcerr_parse(const char *error_type, const void *body, size_t len, struct svcerr *e)
{
	const unsigned char *b = body;
	size_t i = 0;

	e->code[0] = e->message[0] = '\0';
	if (error_type && *error_type)
		set_code(e, error_type);
	if (body == NULL)
		return;
	if (len > SVCERR_MAX_BODY)
		len = SVCERR_MAX_BODY;
	while (i < len && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t'))
		i++;
	if (i < len && b[i] == '{')
		parse_json(b + i, len - i, e);
	else if (i < len && b[i] == '<')
		parse_xml(b + i, len - i, e);
}

void
svcerr_query_compat(struct svcerr *e, const char *header)
{
	size_t n;

	/* A throttle code stays: it is what the retry decision reads. */
	if (header == NULL || svcerr_is_throttle(e->code))
		return;
	n = strcspn(header, ";");
	if (n == 0)
		return;
	e->code[0] = '\0';
	set_field(e->code, sizeof(e->code), header, n);
}

int
svcerr_is_throttle(const char *code)
{
	static const char *const codes[] = {
		"Throttling",
		"ThrottlingException",
		"ThrottledException",
		"RequestThrottledException",
		"TooManyRequestsException",
		"ProvisionedThroughputExceededException",
		"TransactionInProgressException",
		"RequestLimitExceeded",
		"BandwidthLimitExceeded",
		"LimitExceededException",
		"RequestThrottled",
		"SlowDown",
		"PriorRequestNotComplete",
		"EC2ThrottledException",
	};

	for (size_t i = 0; code && i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i]) == 0)
			return 1;
	return 0;
}

int
svcerr_is_expired_creds(const char *code)
{
	/* RequestExpired: EC2's (the SDKs read it so too); a skewed clock's as well, which one
	 * more run with the same clock answers the same. */
	return code &&
	       (strcmp(code, "ExpiredToken") == 0 || strcmp(code, "ExpiredTokenException") == 0 ||
		strcmp(code, "RequestExpired") == 0);
}
