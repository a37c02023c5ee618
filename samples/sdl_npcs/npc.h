/* A non-player character that talks: its own session on the shared model, the job
 * streaming its current line, and the text of that line as it arrives. */
#ifndef SDL_NPCS_NPC_H
#define SDL_NPCS_NPC_H

#include <moemamba/moemamba.h>

#include <stddef.h>
#include <stdint.h>

#define NPC_TEXT_CAP 2048
#define NPC_ERROR_CAP 256

typedef struct Npc {
  const char* name;
  const char* prompt; /* every line continues it, with another sampler seed */
  uint32_t color;     /* 0xRRGGBB */
  mmb_session* session;
  mmb_job* job;       /* the line being said, or NULL during the pause between lines */
  int line_done;      /* set by the job's last event */
  mmb_status error;   /* MMB_OK, or the status of an ERROR event */
  char error_text[NPC_ERROR_CAP];
  uint64_t quiet_until_ms; /* when the next line starts (no job) */
  uint64_t seed;           /* of the next line's sampler */
  long long tokens;        /* generated, all lines */
  int lines_started, lines_finished;
  char text[NPC_TEXT_CAP]; /* the current line's generated text (UTF-8, no NUL) */
  size_t text_len;
} Npc;

/* Gives the character its session on `model`; its first line starts at start_ms.
 * Returns the library's status (the message is in mmb_last_error()). */
mmb_status npc_init(Npc* npc, mmb_model* model, const char* name, const char* prompt, uint32_t color,
                    uint64_t seed, uint64_t start_ms);

/* Called once a frame, after mmb_runtime_frame() has delivered the events: frees the
 * job of a finished line and starts the next line once the pause is over (a fresh
 * state, the prompt, up to max_tokens tokens). Never blocks: the work is done by later
 * mmb_runtime_frame() calls. Returns MMB_OK, a submission error, or the status of an
 * ERROR event (then npc->error_text says why). */
mmb_status npc_update(Npc* npc, uint64_t now_ms, uint32_t pause_ms, int32_t max_tokens);

/* Cancels and frees the running job, then the session. */
void npc_free(Npc* npc);

#endif
