/* NPC lines as jobs (see npc.h). The job's events arrive on the main thread, from
 * inside mmb_runtime_frame(), so the callback can write the character's text without
 * a lock. */
#include "npc.h"

#include <string.h>

mmb_status npc_init(Npc* npc, mmb_model* model, const char* name, const char* prompt, uint32_t color,
                    uint64_t seed, uint64_t start_ms) {
  memset(npc, 0, sizeof *npc);
  npc->name = name;
  npc->prompt = prompt;
  npc->color = color;
  npc->seed = seed;
  npc->quiet_until_ms = start_ms;
  return mmb_session_create(model, NULL, &npc->session);
}

/* Appends streamed text. A bubble is small: carriage returns go, tabs become spaces
 * and a blank line between paragraphs becomes a plain line break. What does not fit
 * is dropped (a line has at most max_tokens tokens, far below the cap). */
static void append_text(Npc* npc, const char* text, size_t len) {
  size_t i;
  for (i = 0; i < len && npc->text_len < NPC_TEXT_CAP; i++) {
    const char c = text[i] == '\t' ? ' ' : text[i];
    if (c == '\r' || (c == '\n' && npc->text_len > 0 && npc->text[npc->text_len - 1] == '\n')) continue;
    npc->text[npc->text_len++] = c;
  }
}

static void on_event(void* user_data, mmb_job* job, int32_t kind, int32_t token, const char* text, size_t len,
                     mmb_status status) {
  Npc* npc = user_data;
  (void)job;
  if (kind == MMB_JOB_EVENT_TOKEN) {
    if (token >= 0) npc->tokens++; /* token -1: the flush of an unfinished character */
    append_text(npc, text, len);
    return;
  }
  if (kind == MMB_JOB_EVENT_ERROR) {
    const size_t n = len < NPC_ERROR_CAP - 1 ? len : NPC_ERROR_CAP - 1;
    npc->error = status;
    memcpy(npc->error_text, text, n);
    npc->error_text[n] = '\0';
  }
  npc->line_done = 1;
}

/* A new line: the state of a fresh conversation, then the prompt and generation as one
 * job. Each line has its own sampler seed, so that a prompt said again goes on
 * differently; the job copies the sampler, which can go at once. */
static mmb_status start_line(Npc* npc, int32_t max_tokens) {
  mmb_sampler_params sp;
  mmb_sampler* sampler = NULL;
  mmb_job_options jo;
  mmb_status s;
  if ((s = mmb_session_reset(npc->session)) != MMB_OK) return s;
  if ((s = mmb_sampler_params_init(&sp, sizeof sp)) != MMB_OK) return s;
  sp.seed = npc->seed++;
  sp.repetition_penalty = 1.1f; /* a small model repeats itself without it */
  if ((s = mmb_sampler_create(&sp, &sampler)) != MMB_OK) return s;
  if ((s = mmb_job_options_init(&jo, sizeof jo)) != MMB_OK) {
    mmb_sampler_destroy(sampler);
    return s;
  }
  jo.max_tokens = max_tokens;
  jo.on_event = on_event;
  jo.event_user_data = npc;
  npc->text_len = 0;
  npc->line_done = 0;
  s = mmb_job_submit_text(npc->session, sampler, npc->prompt, strlen(npc->prompt), &jo, &npc->job);
  mmb_sampler_destroy(sampler);
  if (s == MMB_OK) npc->lines_started++;
  return s;
}

mmb_status npc_update(Npc* npc, uint64_t now_ms, uint32_t pause_ms, int32_t max_tokens) {
  if (npc->error != MMB_OK) return npc->error;
  if (npc->job && npc->line_done) {
    mmb_job_destroy(npc->job);
    npc->job = NULL;
    npc->lines_finished++;
    npc->quiet_until_ms = now_ms + pause_ms; /* the line stays in its bubble meanwhile */
  }
  if (!npc->job && now_ms >= npc->quiet_until_ms) return start_line(npc, max_tokens);
  return MMB_OK;
}

void npc_free(Npc* npc) {
  mmb_job_destroy(npc->job);
  mmb_session_destroy(npc->session);
  npc->job = NULL;
  npc->session = NULL;
}
