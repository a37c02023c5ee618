/* A 60 Hz game loop in which non-player characters talk.
 *
 * Every character has its own session on one shared model and its own line to say.
 * Each frame the loop gives the model a fixed slice of time (the budget, e.g. 8 ms of
 * the 16.7 ms frame). Within it, it advances every character that is still talking by
 * one token per mmb_step_batch() call (one call steps them all, reading the weights
 * once), samples each character's next token, and stops before a step that would not
 * fit in what is left of the budget. Then it sleeps to the next frame edge: the model
 * never makes a frame late, it only talks more slowly when the budget is small.
 *
 * A prompt is read the same way, one token per batched step, rather than with a
 * prefill call that could take longer than a frame. A character that has finished a
 * line starts another from the same prompt (unless --once), so the town never falls
 * silent and every frame has work to do.
 *
 * usage: game_loop BUNDLE [--characters N] [--frames F] [--budget-us U] [--threads T]
 *                         [--tokens K] [--show S] [--once]
 */
#define _POSIX_C_SOURCE 200809L
#include <moemamba/moemamba.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FRAME_NS (1000000000LL / 60)
#define LINE_CAP 4096
#define CALIBRATION_STEPS 7

static const char* const kPrompts[] = {
    "Blacksmith: The forge has been cold since",
    "Innkeeper: Welcome, traveller! Tonight we serve",
    "Guard: Halt! Nobody passes the gate unless",
    "Merchant: Fine silk from the east, only",
    "Farmer: The crows took half the wheat, so",
    "Bard: Gather round and hear the tale of",
    "Priest: The old chapel bell rang at midnight and",
    "Child: I saw a dragon behind the mill, and",
    "Hunter: Tracks in the snow lead north toward",
    "Fisher: The river gave up a strange box when",
    "Miner: Deep in the third shaft we found",
    "Scholar: According to the oldest scroll,",
    "Captain: Ready the ship, the tide turns when",
    "Witch: Bring me three feathers and",
    "Baker: Fresh bread at dawn, unless",
    "Stranger: You do not know me, but",
};
#define N_PROMPTS (sizeof kPrompts / sizeof kPrompts[0])

typedef struct {
  const char* bundle;
  int characters, frames, budget_us, threads, tokens, show, once;
} Options;

/* One talking character: its session, its own sampler and detokenizer, the prompt
 * tokens still to read, and the text it has said so far. */
typedef struct {
  const char* prompt;
  mmb_session* session;
  mmb_sampler* sampler;
  mmb_detokenizer* detok;
  int32_t* prompt_tokens;
  size_t n_prompt, prompt_read;
  int32_t next_token; /* what the next batched step feeds this character */
  int talking;
  int spoken;      /* tokens generated, all lines */
  int line_tokens; /* tokens of the current line */
  int lines;       /* lines finished */
  char line[LINE_CAP]; /* the first line */
  size_t line_len;
} Character;

/* Everything the frames use, allocated before the first one. */
typedef struct {
  Character* characters;
  int n, max_tokens, once;
  int32_t vocab, eos;
  mmb_session** batch; /* the sessions of one mmb_step_batch() call */
  int32_t* tokens;     /* their tokens */
  int* who;            /* batch row -> character */
  float* logits;       /* one row of vocab floats per batch row */
  int64_t step_cost_ns; /* what the next batched step is expected to take */
  int64_t* step_ns;     /* the measured steps, for the report (the first step_cap) */
  int step_cap, steps_kept;
  long long tokens_generated;
  int steps;
} Game;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void sleep_until(int64_t deadline_ns) {
  struct timespec t;
  t.tv_sec = (time_t)(deadline_ns / 1000000000LL);
  t.tv_nsec = (long)(deadline_ns % 1000000000LL);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) != 0) {
  }
}

static int fail(const char* what, mmb_status status) {
  fprintf(stderr, "%s: %s: %s\n", what, mmb_status_string(status), mmb_last_error());
  return 1;
}

static int parse_options(int argc, char** argv, Options* o) {
  int i;
  o->bundle = NULL;
  o->characters = 16;
  o->frames = 600;
  o->budget_us = 8000;
  o->threads = 2;
  o->tokens = 32;
  o->show = 4;
  o->once = 0;
  for (i = 1; i < argc; i++) {
    const char* a = argv[i];
    int* target = NULL;
    if (strcmp(a, "--characters") == 0) target = &o->characters;
    else if (strcmp(a, "--frames") == 0) target = &o->frames;
    else if (strcmp(a, "--budget-us") == 0) target = &o->budget_us;
    else if (strcmp(a, "--threads") == 0) target = &o->threads;
    else if (strcmp(a, "--tokens") == 0) target = &o->tokens;
    else if (strcmp(a, "--show") == 0) target = &o->show;
    if (strcmp(a, "--once") == 0) {
      o->once = 1;
    } else if (target) {
      char* end = NULL;
      long v;
      if (i + 1 >= argc) return 0;
      v = strtol(argv[++i], &end, 10);
      if (*end != '\0' || v < 0 || v > 1000000000L) return 0;
      *target = (int)v;
    } else if (a[0] == '-' || o->bundle) {
      return 0;
    } else {
      o->bundle = a;
    }
  }
  return o->bundle != NULL && o->characters > 0 && o->frames > 0 && o->budget_us > 0;
}

/* Starts a line: an empty state, then the prompt's tokens, one per batched step. */
static mmb_status start_line(Character* c) {
  mmb_status s;
  size_t i;
  if ((s = mmb_session_reset(c->session)) != MMB_OK) return s;
  for (i = 0; i < c->n_prompt; i++) mmb_sampler_accept(c->sampler, c->prompt_tokens[i]); /* as mmb_generate */
  c->next_token = c->prompt_tokens[0];
  c->prompt_read = 1;
  c->line_tokens = 0;
  return MMB_OK;
}

/* Gives a character its session, sampler (its own seed) and detokenizer, and queues
 * its prompt's tokens. */
static mmb_status setup_character(Character* c, mmb_model* model, const mmb_model_info* info, const char* prompt,
                                  uint64_t seed) {
  mmb_sampler_params sp;
  mmb_status s;
  size_t n = 0;
  c->prompt = prompt;
  if ((s = mmb_sampler_params_init(&sp, sizeof sp)) != MMB_OK) return s;
  sp.seed = seed;
  if ((s = mmb_session_create(model, NULL, &c->session)) != MMB_OK) return s;
  if ((s = mmb_sampler_create(&sp, &c->sampler)) != MMB_OK) return s;
  if ((s = mmb_detokenizer_create(model, &c->detok)) != MMB_OK) return s;
  mmb_tokenize(model, prompt, strlen(prompt), NULL, 0, &n, MMB_TOKENIZE_ADD_BOS); /* the count */
  c->prompt_tokens = malloc((n ? n : 1) * sizeof *c->prompt_tokens);
  if (!c->prompt_tokens) return MMB_ERR_OUT_OF_MEMORY;
  s = mmb_tokenize(model, prompt, strlen(prompt), c->prompt_tokens, n, &c->n_prompt, MMB_TOKENIZE_ADD_BOS);
  if (s != MMB_OK) return s;
  if (c->n_prompt == 0) c->prompt_tokens[c->n_prompt++] = info->bos_id >= 0 ? info->bos_id : 0;
  c->talking = 1;
  return start_line(c);
}

static void free_character(Character* c) {
  mmb_detokenizer_destroy(c->detok);
  mmb_sampler_destroy(c->sampler);
  mmb_session_destroy(c->session);
  free(c->prompt_tokens);
}

/* Appends the text that `token` completes (or, with flush, what the detokenizer still
 * holds) to the character's line; newlines become spaces so that it prints as one. */
static mmb_status say(Character* c, int32_t token, int flush) {
  char buf[256];
  size_t len = 0, i;
  mmb_status s = flush ? mmb_detokenizer_flush(c->detok, buf, sizeof buf, &len)
                       : mmb_detokenizer_push(c->detok, token, buf, sizeof buf, &len);
  if (s == MMB_ERR_BUFFER_TOO_SMALL) return MMB_OK; /* a huge special token: skip its text */
  if (s != MMB_OK || c->lines > 0) return s; /* only the first line is kept */
  for (i = 0; i < len && c->line_len + 1 < LINE_CAP; i++) c->line[c->line_len++] = buf[i] == '\n' ? ' ' : buf[i];
  c->line[c->line_len] = '\0';
  return MMB_OK;
}

/* Gathers the characters still talking into the batch arrays; returns how many. */
static size_t gather(Game* g) {
  size_t k = 0;
  int i;
  for (i = 0; i < g->n; i++) {
    if (!g->characters[i].talking) continue;
    g->batch[k] = g->characters[i].session;
    g->tokens[k] = g->characters[i].next_token;
    g->who[k] = i;
    k++;
  }
  return k;
}

/* After a step, chooses what the character says next: the next prompt token while it
 * is still reading, else a sampled one. EOS or the token limit ends its line; then it
 * starts another or, with --once, falls silent. */
static mmb_status choose_next(Game* g, Character* c, const float* logits) {
  int32_t token;
  mmb_status s;
  if (c->prompt_read < c->n_prompt) {
    c->next_token = c->prompt_tokens[c->prompt_read++];
    return MMB_OK;
  }
  if ((s = mmb_sampler_sample(c->sampler, logits, (size_t)g->vocab, &token)) != MMB_OK) return s;
  if (token != g->eos && g->max_tokens > 0) {
    c->spoken++;
    c->line_tokens++;
    g->tokens_generated++;
    if ((s = say(c, token, 0)) != MMB_OK) return s;
    c->next_token = token;
  }
  if (token != g->eos && c->line_tokens < g->max_tokens) return MMB_OK;
  if ((s = say(c, 0, 1)) != MMB_OK) return s;
  c->lines++;
  if (g->once) {
    c->talking = 0;
    return MMB_OK;
  }
  return start_line(c);
}

/* One mmb_step_batch() for every character still talking, then each one's next token.
 * Sets *any to 0 when nobody was left to step. */
static mmb_status step_everyone(Game* g, int* any) {
  const size_t k = gather(g);
  size_t j;
  mmb_status s;
  *any = k > 0;
  if (k == 0) return MMB_OK;
  if ((s = mmb_step_batch(g->batch, g->tokens, k, g->logits, (size_t)g->vocab)) != MMB_OK) return s;
  for (j = 0; j < k; j++) {
    s = choose_next(g, &g->characters[g->who[j]], g->logits + j * (size_t)g->vocab);
    if (s != MMB_OK) return s;
  }
  g->steps++;
  return MMB_OK;
}

static int compare_i64(const void* a, const void* b) {
  const int64_t x = *(const int64_t*)a, y = *(const int64_t*)b;
  return (x > y) - (x < y);
}

/* The p-th percentile (0..100) of n values in nanoseconds; sorts the array. */
static int64_t percentile(int64_t* v, int n, double p) {
  qsort(v, (size_t)n, sizeof *v, compare_i64);
  return v[(int)(p / 100.0 * (n - 1) + 0.5)];
}

/* What a batched step of everyone costs, before the first frame: the median of a few
 * steps of copies of the sessions (the characters' own state stays untouched; one of
 * the steps may include time the thread spent switched out). */
static mmb_status measure_step(Game* g) {
  int64_t took[CALIBRATION_STEPS];
  mmb_status s = MMB_OK;
  int i, k;
  for (i = 0; i < g->n && s == MMB_OK; i++) {
    s = mmb_session_fork(g->characters[i].session, &g->batch[i]);
    g->tokens[i] = g->characters[i].next_token;
  }
  for (k = 0; k < CALIBRATION_STEPS && s == MMB_OK; k++) {
    const int64_t t0 = now_ns();
    s = mmb_step_batch(g->batch, g->tokens, (size_t)g->n, g->logits, (size_t)g->vocab);
    took[k] = now_ns() - t0;
  }
  for (i = 0; i < g->n; i++) mmb_session_destroy(g->batch[i]);
  if (s == MMB_OK) g->step_cost_ns = percentile(took, CALIBRATION_STEPS, 50);
  return s;
}

/* The model's share of one frame: step while another step still fits in the budget.
 * The cost estimate follows the measured steps; a step that took more than twice the
 * estimate (the thread was switched out, say) counts as twice, so that one hiccup does
 * not silence the characters for many frames. */
static mmb_status work_within_budget(Game* g, int64_t frame_start, int64_t budget_ns) {
  int64_t elapsed = now_ns() - frame_start;
  if (g->step_cost_ns > budget_ns) g->step_cost_ns -= g->step_cost_ns / 8; /* re-probe slowly */
  while (elapsed + g->step_cost_ns <= budget_ns) {
    const int64_t t0 = now_ns();
    int any;
    int64_t took;
    mmb_status s = step_everyone(g, &any);
    if (s != MMB_OK) return s;
    if (!any) break;
    took = now_ns() - t0;
    if (g->steps_kept < g->step_cap) g->step_ns[g->steps_kept++] = took;
    if (took > 2 * g->step_cost_ns) took = 2 * g->step_cost_ns;
    g->step_cost_ns = (g->step_cost_ns * 7 + took) / 8;
    elapsed = now_ns() - frame_start;
  }
  return MMB_OK;
}

int main(int argc, char** argv) {
  Options o;
  mmb_runtime_options ro;
  mmb_runtime* runtime = NULL;
  mmb_model* model = NULL;
  mmb_model_info info;
  Game g;
  int64_t *work_ns, *period_ns, budget_ns, loop_start, loop_end, next_edge;
  int i, frame, overruns = 0, late_frames = 0, talked = 0, lines = 0;
  double seconds;
  mmb_status s;

  if (!parse_options(argc, argv, &o)) {
    fprintf(stderr,
            "usage: %s BUNDLE [--characters N] [--frames F] [--budget-us U] [--threads T] [--tokens K] [--show S]"
            " [--once]\n",
            argv[0]);
    return 2;
  }
  budget_ns = (int64_t)o.budget_us * 1000;

  /* Loading: one runtime with the threads the game lends the model, one model for all. */
  if ((s = mmb_runtime_options_init(&ro, sizeof ro)) != MMB_OK) return fail("runtime options", s);
  ro.n_threads = o.threads;
  if ((s = mmb_runtime_create(&ro, &runtime)) != MMB_OK) return fail("runtime", s);
  if ((s = mmb_model_load_file(runtime, o.bundle, NULL, &model)) != MMB_OK) return fail("load", s);
  info.struct_size = sizeof info;
  if ((s = mmb_model_get_info(model, &info)) != MMB_OK) return fail("info", s);

  /* Everything a frame needs is allocated here, before the loop. */
  memset(&g, 0, sizeof g);
  g.n = o.characters;
  g.max_tokens = o.tokens;
  g.once = o.once;
  g.vocab = info.vocab_size;
  g.eos = info.eos_id;
  g.characters = calloc((size_t)g.n, sizeof *g.characters);
  g.batch = calloc((size_t)g.n, sizeof *g.batch);
  g.tokens = calloc((size_t)g.n, sizeof *g.tokens);
  g.who = calloc((size_t)g.n, sizeof *g.who);
  g.logits = calloc((size_t)g.n * (size_t)g.vocab, sizeof *g.logits);
  work_ns = calloc((size_t)o.frames, sizeof *work_ns);
  period_ns = calloc((size_t)o.frames, sizeof *period_ns);
  g.step_cap = o.frames * 16;
  g.step_ns = calloc((size_t)g.step_cap, sizeof *g.step_ns);
  if (!g.characters || !g.batch || !g.tokens || !g.who || !g.logits || !work_ns || !period_ns || !g.step_ns)
    return fail("allocating", MMB_ERR_OUT_OF_MEMORY);
  for (i = 0; i < g.n; i++) {
    s = setup_character(&g.characters[i], model, &info, kPrompts[(size_t)i % N_PROMPTS], (uint64_t)i + 1);
    if (s != MMB_OK) return fail("character", s);
  }
  if ((s = measure_step(&g)) != MMB_OK) return fail("measuring a step", s);

  printf("game_loop: %d characters, %d frames at 60 Hz, budget %.2f ms of %.2f ms, %d threads\n", g.n, o.frames,
         budget_ns / 1e6, FRAME_NS / 1e6, o.threads);
  printf("one batched step of %d sessions: %.3f ms (median of %d)\n", g.n, g.step_cost_ns / 1e6, CALIBRATION_STEPS);
  if (g.step_cost_ns > budget_ns)
    printf("warning: a batched step is longer than the budget, so the characters talk only when a\n"
           "re-probe overruns a frame: raise --budget-us or lower --characters\n");

  /* The loop. Each frame: the game's work, the model's share, then sleep to the edge. */
  loop_start = now_ns();
  next_edge = loop_start;
  for (frame = 0; frame < o.frames; frame++) {
    const int64_t frame_start = now_ns();

    /* ... the game's own update and rendering would come here ... */

    if ((s = work_within_budget(&g, frame_start, budget_ns)) != MMB_OK) return fail("step", s);
    work_ns[frame] = now_ns() - frame_start;
    if (work_ns[frame] > budget_ns) overruns++;

    /* A frame that ran past the next edge starts the following one at once; the
     * schedule skips ahead rather than trying to catch up. */
    next_edge += FRAME_NS;
    if (now_ns() > next_edge) {
      late_frames++;
      while (next_edge < now_ns()) next_edge += FRAME_NS;
    }
    sleep_until(next_edge);
    period_ns[frame] = now_ns() - frame_start;
  }
  loop_end = now_ns();
  seconds = (double)(loop_end - loop_start) / 1e9;

  for (i = 0; i < g.n; i++) {
    talked += g.characters[i].spoken > 0;
    lines += g.characters[i].lines;
  }
  for (i = 0; i < g.n && i < o.show; i++) printf("  [%2d] %s%s\n", i, g.characters[i].prompt, g.characters[i].line);
  printf("frame work   p50 %.3f ms  p99 %.3f ms  (budget %.2f ms, %d overruns)\n",
         percentile(work_ns, o.frames, 50) / 1e6, percentile(work_ns, o.frames, 99) / 1e6, budget_ns / 1e6, overruns);
  printf("frame period p50 %.3f ms  p99 %.3f ms  (%d frames late)\n", percentile(period_ns, o.frames, 50) / 1e6,
         percentile(period_ns, o.frames, 99) / 1e6, late_frames);
  if (g.steps_kept > 0)
    printf("batched step p50 %.3f ms  p99 %.3f ms  (a p99 far above p50: the thread was switched out)\n",
           percentile(g.step_ns, g.steps_kept, 50) / 1e6, percentile(g.step_ns, g.steps_kept, 99) / 1e6);
  printf("%lld tokens generated in %.2f s: %.1f tokens/s (%d batched steps, %d lines finished)\n",
         g.tokens_generated, seconds, (double)g.tokens_generated / seconds, g.steps, lines);
  /* One line for scripts to check. */
  printf("summary frames=%d characters=%d talked=%d tokens=%lld overruns=%d\n", frame, g.n, talked,
         g.tokens_generated, overruns);

  for (i = 0; i < g.n; i++) free_character(&g.characters[i]);
  free(g.characters);
  free(g.batch);
  free(g.tokens);
  free(g.who);
  free(g.logits);
  free(g.step_ns);
  free(work_ns);
  free(period_ns);
  mmb_model_destroy(model);
  mmb_runtime_destroy(runtime);
  return 0;
}
