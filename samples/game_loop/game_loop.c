/* A 60 Hz game loop that lets non-player characters talk.
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
 * prefill call that could take longer than a frame.
 *
 * usage: game_loop BUNDLE [--characters N] [--frames F] [--budget-us U] [--threads T]
 *                         [--tokens K] [--show S]
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
  int spoken; /* tokens generated */
  char line[LINE_CAP];
  size_t line_len;
} Character;

typedef struct {
  const char* bundle;
  int characters, frames, budget_us, threads, tokens, show;
} Options;

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
  for (i = 1; i < argc; i++) {
    const char* a = argv[i];
    int* target = NULL;
    if (strcmp(a, "--characters") == 0) target = &o->characters;
    else if (strcmp(a, "--frames") == 0) target = &o->frames;
    else if (strcmp(a, "--budget-us") == 0) target = &o->budget_us;
    else if (strcmp(a, "--threads") == 0) target = &o->threads;
    else if (strcmp(a, "--tokens") == 0) target = &o->tokens;
    else if (strcmp(a, "--show") == 0) target = &o->show;
    if (target) {
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

/* Appends the text that `token` completes to the character's line (newlines become
 * spaces so that each line prints as one). */
static mmb_status say(Character* c, int32_t token, int flush) {
  char buf[256];
  size_t len = 0, i;
  mmb_status s = flush ? mmb_detokenizer_flush(c->detok, buf, sizeof buf, &len)
                       : mmb_detokenizer_push(c->detok, token, buf, sizeof buf, &len);
  if (s == MMB_ERR_BUFFER_TOO_SMALL) return MMB_OK; /* a huge special token: skip its text */
  if (s != MMB_OK) return s;
  for (i = 0; i < len && c->line_len + 1 < LINE_CAP; i++) c->line[c->line_len++] = buf[i] == '\n' ? ' ' : buf[i];
  c->line[c->line_len] = '\0';
  return MMB_OK;
}

/* Gathers the characters still talking into `batch`; returns how many. */
static size_t gather(Character* cs, int n, mmb_session** batch, int32_t* tokens, int* who) {
  size_t k = 0;
  int i;
  for (i = 0; i < n; i++) {
    if (!cs[i].talking) continue;
    batch[k] = cs[i].session;
    tokens[k] = cs[i].next_token;
    who[k] = i;
    k++;
  }
  return k;
}

/* One batched step of every talking character, then each one's next token: the next
 * prompt token while it is still reading, else a sampled one (EOS or the token limit
 * ends its line). */
static mmb_status step_all(Character* cs, int n, mmb_session** batch, int32_t* tokens, int* who, float* logits,
                           int32_t vocab, int32_t eos, int max_tokens) {
  size_t k = gather(cs, n, batch, tokens, who), j;
  mmb_status s;
  if (k == 0) return MMB_OK;
  s = mmb_step_batch(batch, tokens, k, logits, (size_t)vocab);
  if (s != MMB_OK) return s;
  for (j = 0; j < k; j++) {
    Character* c = &cs[who[j]];
    int32_t token;
    if (c->prompt_read < c->n_prompt) {
      c->next_token = c->prompt_tokens[c->prompt_read++];
      continue;
    }
    s = mmb_sampler_sample(c->sampler, logits + j * (size_t)vocab, (size_t)vocab, &token);
    if (s != MMB_OK) return s;
    if (token != eos && max_tokens > 0) {
      c->spoken++;
      if ((s = say(c, token, 0)) != MMB_OK) return s;
      c->next_token = token;
    }
    if (token == eos || c->spoken >= max_tokens) {
      c->talking = 0;
      if ((s = say(c, 0, 1)) != MMB_OK) return s;
    }
  }
  return MMB_OK;
}

static int compare_i64(const void* a, const void* b) {
  int64_t x = *(const int64_t*)a, y = *(const int64_t*)b;
  return (x > y) - (x < y);
}

/* The p-th percentile (0..100) of n values, in milliseconds; sorts the array. */
static double percentile_ms(int64_t* v, int n, double p) {
  int i;
  qsort(v, (size_t)n, sizeof *v, compare_i64);
  i = (int)(p / 100.0 * (n - 1) + 0.5);
  return (double)v[i] / 1e6;
}

int main(int argc, char** argv) {
  Options o;
  mmb_runtime_options ro;
  mmb_runtime* runtime = NULL;
  mmb_model* model = NULL;
  mmb_model_info info;
  mmb_sampler_params sp;
  Character* cs;
  mmb_session** batch;
  int32_t* tokens;
  int* who;
  float* logits;
  int64_t *work_ns, *period_ns;
  int64_t step_cost_ns, budget_ns, loop_start, loop_end, next_edge, previous_start = 0;
  long long total_tokens = 0;
  int i, frame, overruns = 0, late_frames = 0, talked = 0, steps = 0;
  mmb_status s;

  if (!parse_options(argc, argv, &o)) {
    fprintf(stderr,
            "usage: %s BUNDLE [--characters N] [--frames F] [--budget-us U] [--threads T] [--tokens K] [--show S]\n",
            argv[0]);
    return 2;
  }
  budget_ns = (int64_t)o.budget_us * 1000;

  /* Loading: one runtime with the threads the game can spare, one model for everyone. */
  mmb_runtime_options_init(&ro);
  ro.n_threads = o.threads;
  if ((s = mmb_runtime_create(&ro, &runtime)) != MMB_OK) return fail("runtime", s);
  if ((s = mmb_model_load_file(runtime, o.bundle, NULL, &model)) != MMB_OK) return fail("load", s);
  info.struct_size = sizeof info;
  if ((s = mmb_model_get_info(model, &info)) != MMB_OK) return fail("info", s);

  /* Everything a frame needs is allocated here, before the loop. */
  cs = calloc((size_t)o.characters, sizeof *cs);
  batch = calloc((size_t)o.characters, sizeof *batch);
  tokens = calloc((size_t)o.characters, sizeof *tokens);
  who = calloc((size_t)o.characters, sizeof *who);
  logits = calloc((size_t)o.characters * (size_t)info.vocab_size, sizeof *logits);
  work_ns = calloc((size_t)o.frames, sizeof *work_ns);
  period_ns = calloc((size_t)o.frames, sizeof *period_ns);
  if (!cs || !batch || !tokens || !who || !logits || !work_ns || !period_ns) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  mmb_sampler_params_init(&sp);
  for (i = 0; i < o.characters; i++) {
    Character* c = &cs[i];
    size_t n = 0;
    c->prompt = kPrompts[(size_t)i % N_PROMPTS];
    sp.seed = (uint64_t)i + 1; /* each character its own dice */
    if ((s = mmb_session_create(model, NULL, &c->session)) != MMB_OK) return fail("session", s);
    if ((s = mmb_sampler_create(&sp, &c->sampler)) != MMB_OK) return fail("sampler", s);
    if ((s = mmb_detokenizer_create(model, &c->detok)) != MMB_OK) return fail("detokenizer", s);
    mmb_tokenize(model, c->prompt, strlen(c->prompt), NULL, 0, &n, MMB_TOKENIZE_ADD_BOS);
    c->prompt_tokens = malloc((n ? n : 1) * sizeof *c->prompt_tokens);
    if (!c->prompt_tokens) return fail("prompt", MMB_ERR_OUT_OF_MEMORY);
    s = mmb_tokenize(model, c->prompt, strlen(c->prompt), c->prompt_tokens, n, &c->n_prompt, MMB_TOKENIZE_ADD_BOS);
    if (s != MMB_OK) return fail("tokenize", s);
    if (c->n_prompt == 0) c->prompt_tokens[c->n_prompt++] = info.bos_id >= 0 ? info.bos_id : 0;
    for (n = 0; n < c->n_prompt; n++) mmb_sampler_accept(c->sampler, c->prompt_tokens[n]);
    c->next_token = c->prompt_tokens[0];
    c->prompt_read = 1;
    c->talking = 1;
  }

  /* Measure a batched step before the first frame, on copies of the sessions so that
   * the characters' own state is untouched. The median of a few steps: on a busy
   * machine one of them may include time the thread spent switched out. */
  {
    mmb_session** copies = calloc((size_t)o.characters, sizeof *copies);
    int64_t samples[CALIBRATION_STEPS];
    int k;
    if (!copies) return fail("calibration", MMB_ERR_OUT_OF_MEMORY);
    for (i = 0; i < o.characters; i++) {
      if ((s = mmb_session_fork(cs[i].session, &copies[i])) != MMB_OK) return fail("fork", s);
      tokens[i] = cs[i].next_token;
    }
    for (k = 0; k < CALIBRATION_STEPS; k++) {
      const int64_t t0 = now_ns();
      s = mmb_step_batch(copies, tokens, (size_t)o.characters, logits, (size_t)info.vocab_size);
      samples[k] = now_ns() - t0;
      if (s != MMB_OK) return fail("calibration step", s);
    }
    for (i = 0; i < o.characters; i++) mmb_session_destroy(copies[i]);
    free(copies);
    step_cost_ns = (int64_t)(percentile_ms(samples, CALIBRATION_STEPS, 50) * 1e6);
  }
  printf("game_loop: %d characters, %d frames at 60 Hz, budget %.2f ms of %.2f ms, %d threads\n", o.characters,
         o.frames, budget_ns / 1e6, FRAME_NS / 1e6, o.threads);
  printf("one batched step of %d sessions: %.3f ms (median of %d)\n", o.characters, step_cost_ns / 1e6,
         CALIBRATION_STEPS);
  if (step_cost_ns > budget_ns)
    printf("warning: one batched step is longer than the budget: characters will talk only when a re-probe\n"
           "         overruns a frame; raise --budget-us or lower --characters\n");

  /* The loop. Each frame: work within the budget, then sleep to the next edge. */
  loop_start = now_ns();
  next_edge = loop_start;
  for (frame = 0; frame < o.frames; frame++) {
    const int64_t frame_start = now_ns();
    int64_t elapsed = 0;
    if (frame > 0) period_ns[frame - 1] = frame_start - previous_start;
    previous_start = frame_start;

    /* ... the game's own update and rendering would come here ... */

    /* Step while another step still fits. The cost estimate follows the measured
     * steps; a step that took more than twice the estimate (the thread was switched
     * out, say) counts as twice the estimate, so that one hiccup cannot silence the
     * characters for many frames. */
    if (step_cost_ns > budget_ns) step_cost_ns -= step_cost_ns / 8; /* re-probe slowly */
    while (elapsed + step_cost_ns <= budget_ns) {
      const int64_t t0 = now_ns();
      int before = 0, after = 0, active = 0;
      for (i = 0; i < o.characters; i++) {
        before += cs[i].spoken;
        active += cs[i].talking;
      }
      if (active == 0) break;
      s = step_all(cs, o.characters, batch, tokens, who, logits, info.vocab_size, info.eos_id, o.tokens);
      if (s != MMB_OK) return fail("step", s);
      for (i = 0; i < o.characters; i++) after += cs[i].spoken;
      total_tokens += after - before;
      steps++;
      {
        int64_t took = now_ns() - t0;
        if (took > 2 * step_cost_ns) took = 2 * step_cost_ns;
        step_cost_ns = (step_cost_ns * 7 + took) / 8;
      }
      elapsed = now_ns() - frame_start;
    }
    work_ns[frame] = now_ns() - frame_start;
    if (work_ns[frame] > budget_ns) overruns++;

    /* Sleep to the next frame edge; a frame that ran past it starts the next at once
     * and the schedule skips ahead instead of trying to catch up. */
    next_edge += FRAME_NS;
    if (now_ns() > next_edge) {
      late_frames++;
      while (next_edge < now_ns()) next_edge += FRAME_NS;
    }
    sleep_until(next_edge);
  }
  loop_end = now_ns();
  period_ns[o.frames - 1] = loop_end - previous_start;

  for (i = 0; i < o.characters; i++) talked += cs[i].spoken > 0;
  for (i = 0; i < o.characters && i < o.show; i++) printf("  [%2d] %s%s\n", i, cs[i].prompt, cs[i].line);
  printf("frame work   p50 %.3f ms  p99 %.3f ms  (budget %.2f ms, %d overruns)\n", percentile_ms(work_ns, o.frames, 50),
         percentile_ms(work_ns, o.frames, 99), budget_ns / 1e6, overruns);
  printf("frame period p50 %.3f ms  p99 %.3f ms  (%d frames late)\n", percentile_ms(period_ns, o.frames, 50),
         percentile_ms(period_ns, o.frames, 99), late_frames);
  printf("%lld tokens generated in %.2f s: %.1f tokens/s (%d batched steps)\n", total_tokens,
         (loop_end - loop_start) / 1e9, total_tokens / ((loop_end - loop_start) / 1e9), steps);
  /* One line for scripts to check. */
  printf("summary frames=%d characters=%d talked=%d tokens=%lld overruns=%d\n", frame, o.characters, talked,
         total_tokens, overruns);

  for (i = 0; i < o.characters; i++) {
    mmb_detokenizer_destroy(cs[i].detok);
    mmb_sampler_destroy(cs[i].sampler);
    mmb_session_destroy(cs[i].session);
    free(cs[i].prompt_tokens);
  }
  free(cs);
  free(batch);
  free(tokens);
  free(who);
  free(logits);
  free(work_ns);
  free(period_ns);
  mmb_model_destroy(model);
  mmb_runtime_destroy(runtime);
  return 0;
}
