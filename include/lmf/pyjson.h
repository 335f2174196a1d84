#ifndef LMF_PYJSON_H
#define LMF_PYJSON_H
/* pyjson.h: JSON text as Python's json module writes it, byte for byte:
 * json.dumps(v, indent=N, sort_keys=..., ensure_ascii=...), floats in
 * repr() form (the shortest digits that read back: 0.1, 1e-05, 2.0,
 * 1e+16), NaN and Infinity as Python writes them. Hugging Face's
 * trainer_state.json, *_results.json, config.json, PEFT's
 * adapter_config.json and LLaMA-Factory's trainer_log.jsonl are written
 * this way. */
#include <stddef.h>
#include <jansson.h>

#define LMF_PYJSON_SORT_KEYS 1  /* sort_keys=True (else insertion order) */
#define LMF_PYJSON_ASCII 2      /* ensure_ascii=True: \uXXXX beyond ASCII */

/* json.dumps(v, indent=indent (< 0: None), ...) per flags; allocated */
char *lmf_pyjson_dumps(const json_t *v, int indent, int flags);
/* repr(d) into buf (32 bytes); its length */
size_t lmf_pyjson_repr(char *buf, double d);
/* str(x) of x = json.loads of v's text: a string as it is, other values
 * as repr() writes them ('a', True, None, [1, 'b'], {'k': 1.5}); allocated */
char *lmf_py_str(const json_t *v);

#endif
