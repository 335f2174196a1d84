/* fuzz_die.h: for harnesses that include a tool's source to reach its
 * static readers (lmf-config): the tool's die, die_usage and
 * die_errno become fuzz_die, which checks the message and jumps back to
 * the harness (FUZZ_TRY) instead of exiting. Include it before the tool.
 * The tool's libyaml parser and event and its last jansson document are
 * freed when it dies (they would leak tens of KB an input); the few small
 * strings it held are not: those tools are one-shot processes, whose exit
 * frees them, so leak checking is off in these harnesses. */
#ifndef LMF_FUZZ_DIE_H
#define LMF_FUZZ_DIE_H
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>

#define die(...) fuzz_die(__VA_ARGS__)
#define die_usage(...) fuzz_die(__VA_ARGS__)
#define die_errno(...) fuzz_die(__VA_ARGS__)
#include "lmf/util.h"
#include "fuzz.h"

#include <jansson.h>
#include <yaml.h>

/* what the tool has open while it runs: freed if it dies */
static yaml_parser_t *fuzz_parser;
static yaml_event_t *fuzz_event;
static json_t *fuzz_json;

static inline int
fuzz_yaml_init(yaml_parser_t *p)
{
	fuzz_parser = p;
	return yaml_parser_initialize(p);
}

static inline int
fuzz_yaml_parse(yaml_parser_t *p, yaml_event_t *e)
{
	fuzz_event = e;
	return yaml_parser_parse(p, e);
}

static inline json_t *
fuzz_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *e)
{
	return fuzz_json = json_loadb(buf, len, flags, e);
}

#define yaml_parser_initialize(p) fuzz_yaml_init(p)
#define yaml_parser_parse(p, e) fuzz_yaml_parse(p, e)
#define json_loadb(b, n, f, e) fuzz_json_loadb(b, n, f, e)

/* LeakSanitizer off (see above); plain builds ignore this */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "detect_leaks=0";
}

static jmp_buf fuzz_jb;
static volatile int fuzz_ok;

/* run stmt; fuzz_ok is 1 if it returned, 0 if the tool died in it */
#define FUZZ_TRY(stmt) do { \
	fuzz_ok = 0; \
	if (!setjmp(fuzz_jb)) { \
		stmt; \
		fuzz_ok = 1; \
	} \
	fuzz_event = NULL; \
	fuzz_parser = NULL; \
	fuzz_json = NULL; \
} while (0)

void
fuzz_die(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	lmf_vseterr(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fuzz_check_msg("fuzz_die", buf);
	/* the tool's frames are still there: free what it has open */
	if (fuzz_event)
		yaml_event_delete(fuzz_event);
	if (fuzz_parser)
		yaml_parser_delete(fuzz_parser);
	json_decref(fuzz_json);
	fuzz_event = NULL;
	fuzz_parser = NULL;
	fuzz_json = NULL;
	longjmp(fuzz_jb, 1);
}
#endif
