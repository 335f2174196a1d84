#ifndef LMF_CKPT_H
#define LMF_CKPT_H
/* ckpt.h: a trainer's output directory as Hugging Face's Trainer and
 * LLaMA-Factory leave it: JSON files, checkpoint-N directories (found,
 * replaced atomically, pruned). */
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* j into path atomically as Python's json.dumps(j, indent=indent,
 * sort_keys=True) writes it (pyjson.h), then a newline if nl (Hugging
 * Face's save_to_json and to_json_file add one; save_metrics does not).
 * 0, or -1 with err */
int lmf_ckpt_write_json(const char *path, json_t *j, int indent, int nl,
    char *err, size_t errlen);
/* the N of the highest dir/checkpoint-N, or -1 */
long lmf_ckpt_last(const char *dir);
/* the first weight file dir holds (LLaMA-Factory's CHECKPOINT_NAMES,
 * then lmf's adapter.lmf and model.lmf), or NULL */
const char *lmf_ckpt_weights(const char *dir);
/* remove dir and what is in it; 0 or -1 (errno) */
int lmf_ckpt_rmtree(const char *dir);
/* lock dir for this process's lifetime: flock(2) on dir/.lmf-lock
 * (created, left in place, our pid written in it; close-on-exec). The
 * fd, or -1 with errno: EWOULDBLOCK when another process holds it, its
 * pid in *holder (0 if it has not written it yet) */
int lmf_ckpt_lock(const char *dir, long *holder);
/* what a dead lmf process left in dir while writing: files
 * NAME.tmp-PID-XXXXXX and directories checkpoint-N.tmp-PID removed,
 * checkpoint-N.old-PID put back as checkpoint-N when that is missing
 * (else removed); only where PID is not a live process or is ours. Call
 * it holding the lock. The number of names removed or put back */
int lmf_ckpt_clean_tmp(const char *dir);
/* keep the newest limit checkpoints (limit <= 0: all), oldest removed */
void lmf_ckpt_prune(const char *dir, long limit);
/* rename tmp to final (replacing an old one), fsync'ing the parent */
int lmf_ckpt_commit(const char *tmp, const char *final);
/* fsync a directory */
int lmf_ckpt_fsync_dir(const char *dir);

#endif
