/* args_test: LLaMA-Factory configurations through the library (args.c):
 * YAML and JSON with overrides, values refused with their message, nulls,
 * and resolution. TAP output. */
#include <string.h>

#include "lmf/args.h"
#include "lmf/stream.h"
#include "lmf/util.h"
#include "tap.h"

static const char yaml[] =
	"### model\n"
	"model_name_or_path: tiny\n"
	"stage: sft\n"
	"do_train: true\n"
	"dataset:\n"
	"  - alpaca_en_demo\n"
	"  - identity\n"
	"lora_rank: 4\n"
	"learning_rate: 1.0e-4\n"
	"template: ~\n"
	"default_system: \"~\"\n";

static int
same(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static void
test_yaml_override(void)
{
	struct lmf_args a;
	char err[256];
	int r;

	lmf_args_init(&a);
	ok(same(lmf_args_get(&a, "lora_rank"), "8") &&
	    !lmf_args_get(&a, "lora_alpha"), "defaults before reading");
	r = lmf_args_read_yaml(&a, "t.yaml", yaml, strlen(yaml), err,
	    sizeof err);
	ok(r == 0, "a YAML configuration reads (%d)", r);
	ok(same(lmf_args_get(&a, "dataset"), "alpaca_en_demo,identity"),
	    "a YAML list becomes a comma list");
	ok(same(lmf_args_get(&a, "do_train"), "true") &&
	    same(lmf_args_get(&a, "learning_rate"), "1.0e-4"),
	    "a boolean and a number keep their value");
	ok(!lmf_args_get(&a, "template") &&
	    a.given[lmf_args_find("template")], "~ is null, and given");
	ok(same(lmf_args_get(&a, "default_system"), "~"),
	    "a quoted ~ is a string, not null");
	r = lmf_args_set(&a, "lora_rank", "16", 0, LMF_ARGS_CMDLINE, err,
	    sizeof err);
	ok(r == 0 && same(lmf_args_get(&a, "lora_rank"), "16"),
	    "an override replaces the file's value");
	r = lmf_args_resolve(&a, err, sizeof err);
	ok(r == 0, "it resolves");
	ok(same(lmf_args_get(&a, "lora_alpha"), "32"),
	    "lora_alpha is derived from the overridden lora_rank");
	ok(same(lmf_args_get(&a, "packing"), "false") &&
	    same(lmf_args_get(&a, "eval_steps"), "500"),
	    "packing and eval_steps are derived");
	lmf_args_free(&a);
}

static void
test_refused(void)
{
	struct lmf_args a;
	char err[256];
	int r;

	lmf_args_init(&a);
	r = lmf_args_set(&a, "lora_rank", "eight", 0, LMF_ARGS_CMDLINE, err,
	    sizeof err);
	ok(r == LMF_E_PARAM && !strcmp(err, "lora_rank: 'eight' is not an "
	    "integer in the arguments"), "a bad integer is refused: %s", err);
	r = lmf_args_set(&a, "stage", "grpo", 0, "x.yaml", err, sizeof err);
	ok(r == LMF_E_PARAM && strstr(err, "stage: 'grpo' is not one of: pt"),
	    "a choice out of its list is refused: %s", err);
	ok(same(lmf_args_get(&a, "stage"), "sft"),
	    "a refused value leaves the key as it was");
	r = lmf_args_set(&a, "stage", "null", 0, "x.yaml", err, sizeof err);
	ok(r == LMF_E_PARAM && strstr(err, "null is not a value it takes"),
	    "null for a key with a default is refused: %s", err);
	r = lmf_args_set(&a, "learning_rte", "1", 0, LMF_ARGS_CMDLINE, err,
	    sizeof err);
	ok(r == LMF_E_PARAM && strstr(err, "did you mean 'learning_rate'"),
	    "an unknown key names the nearest one: %s", err);
	a.allow_extra = 1;
	ok(lmf_args_set(&a, "learning_rte", "1", 0, LMF_ARGS_CMDLINE, err,
	    sizeof err) == 0, "allow_extra skips an unknown key");
	lmf_args_free(&a);

	lmf_args_init(&a);
	r = lmf_args_read_yaml(&a, "t.yaml", "stage: pt\nstage: sft\n", 20,
	    err, sizeof err);
	ok(r == LMF_E_PARAM && !strcmp(err, "stage: given twice in t.yaml"),
	    "a key twice in a file is refused: %s", err);
	r = lmf_args_read_yaml(&a, "b.yaml", "a: [\n", 5, err, sizeof err);
	ok(r == LMF_E_FORMAT && !strncmp(err, "b.yaml: line ", 13),
	    "bad YAML is a format error with its line: %s", err);
	lmf_args_free(&a);

	lmf_args_init(&a);
	r = lmf_args_set(&a, "stage", "pt", 0, LMF_ARGS_CMDLINE, err,
	    sizeof err);
	r |= lmf_args_set(&a, "neat_packing", "yes", 0, LMF_ARGS_CMDLINE, err,
	    sizeof err);
	ok(r == 0 && same(lmf_args_get(&a, "neat_packing"), "true"),
	    "yes is true");
	r = lmf_args_resolve(&a, err, sizeof err);
	ok(r == LMF_E_PARAM && !strcmp(err, "neat_packing: only stage sft "
	    "takes it (stage is pt)"), "resolve refuses neat_packing in pt: "
	    "%s", err);
	lmf_args_free(&a);
}

static void
test_json(void)
{
	static const char js[] = "{\"stage\": \"pt\", \"lora_rank\": 3, "
	    "\"template\": null, \"dataset\": [\"a\", 2]}";
	struct lmf_args a;
	char err[256];
	json_t *j;
	int r;

	lmf_args_init(&a);
	r = lmf_args_read_json(&a, "t.json", js, strlen(js), err, sizeof err);
	ok(r == 0 && lmf_args_resolve(&a, err, sizeof err) == 0,
	    "a JSON configuration reads and resolves");
	ok(same(lmf_args_get(&a, "dataset"), "a,2") &&
	    !lmf_args_get(&a, "template") &&
	    same(lmf_args_get(&a, "packing"), "true") &&
	    same(lmf_args_get(&a, "lora_alpha"), "6"),
	    "its list, null and derived values");
	j = lmf_args_to_json(&a);
	ok(json_integer_value(json_object_get(j, "lora_rank")) == 3 &&
	    json_is_null(json_object_get(j, "template")) &&
	    json_is_true(json_object_get(j, "packing")),
	    "the JSON of the resolved values is typed");
	json_decref(j);
	lmf_args_free(&a);
}

int
main(int argc, char **argv)
{
	lmf_init(argc, argv);
	test_yaml_override();
	test_refused();
	test_json();
	return tap_done();
}
