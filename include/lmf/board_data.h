#ifndef LMF_BOARD_DATA_H
#define LMF_BOARD_DATA_H
/* board_data.h: what lmf-board shows and never writes: the datasets of
 * a dataset_info.json that fit a stage, the runs under its --runs
 * directory, and a run's trainer_log.jsonl. Each returns a new JSON
 * value, or NULL with a one-line message in (err, errlen). */
#include <stddef.h>

#include <jansson.h>

/* the names in dir/dataset_info.json a stage can train on, as
 * LLaMA-Factory's WebUI lists them: ranking ones for rm and dpo, those
 * with a kto_tag column for kto, the others for pt, sft and ppo */
json_t *lmf_board_datasets(const char *dir, const char *stage, char *err,
    size_t errlen);
/* every directory under runs: name, stage (from NAME.yaml beside it),
 * status (running when it is active, done with all_results.json, stopped
 * with a checkpoint only, else failed), checkpoints, all_results.json,
 * the last trainer_log.jsonl entry */
json_t *lmf_board_runs(const char *runs, const char *active, char *err,
    size_t errlen);
/* dir/trainer_log.jsonl's entries (an empty array before the first) */
json_t *lmf_board_trainer_log(const char *dir);
/* the newest checkpoint-N under dir, allocated, or NULL */
char *lmf_board_last_checkpoint(const char *dir);
/* a run's name: one path component, no dot first */
int lmf_board_name_ok(const char *name);

#endif
