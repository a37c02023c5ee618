/* Characters of a game choose their actions as JSON that the host parses and acts on.
 *
 * One grammar, compiled once from a JSON Schema of an action
 *   {"action": "attack" | "flee" | "talk" | "trade" | "wait",
 *    "target": a string of at most 16 characters, "say": at most 60}
 * serves every character. Each turn, every character still standing gets a job
 * (mmb_job_submit_text) whose prompt describes the scene and whose options carry a
 * state of that grammar (mmb_job_options.grammar: the job takes its own copy, so one
 * start state serves all jobs). The runtime runs in MMB_JOBS_FRAME mode: a 60 Hz loop
 * gives the model a time budget each frame (mmb_runtime_frame), which steps all jobs
 * together and delivers their text through the event callback. Once every job of the
 * turn has finished, the host parses each output with a strict JSON parser
 * (json_read.c), checks it against the schema's rules, and acts on it in character
 * order: attacks cost health, trades move gold, talk is printed.
 *
 * Every output must parse and validate: the program counts failures and exits with
 * status 1 if there was any.
 *
 * usage: npc_actions BUNDLE [--characters N] [--turns T] [--budget-us U] [--threads T]
 *                           [--tokens K] [--seed S] [--no-sleep]
 */
#define _POSIX_C_SOURCE 200809L
#include "json_read.h"

#include <moemamba/moemamba.h>

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FRAME_NS (1000000000LL / 60)
#define TEXT_CAP 4096
#define MAX_FRAMES_PER_TURN (60 * 120) /* two minutes of frames: a job that never ends is a bug */
#define TARGET_MAX 16
#define SAY_MAX 60

static const char kSchema[] =
    "{\n"
    "  \"type\": \"object\",\n"
    "  \"properties\": {\n"
    "    \"action\": {\"enum\": [\"attack\", \"flee\", \"talk\", \"trade\", \"wait\"]},\n"
    "    \"target\": {\"type\": \"string\", \"maxLength\": 16},\n"
    "    \"say\": {\"type\": \"string\", \"maxLength\": 60}\n"
    "  },\n"
    "  \"required\": [\"action\", \"target\", \"say\"],\n"
    "  \"additionalProperties\": false\n"
    "}\n";

static const char* const kActions[] = {"attack", "flee", "talk", "trade", "wait"};
static const char* const kVerbs[] = {"attacks", "flees from", "talks to", "trades with", "waits"};
#define N_ACTIONS 5

static const char* const kNames[] = {"Guard", "Wolf", "Merchant", "Bandit", "Farmer", "Witch", "Bard", "Hunter"};
#define N_NAMES (sizeof kNames / sizeof kNames[0])

typedef struct {
  const char* bundle;
  int characters, turns, budget_us, threads, tokens, seed, sleep;
} Options;

/* A character: its place in the world, its session, and the job of this turn. */
typedef struct {
  const char* name;
  int health, gold;
  mmb_session* session;
  mmb_job* job;
  int done;          /* the job's FINISHED or ERROR event came */
  mmb_status status; /* its status */
  char text[TEXT_CAP + 1];
  size_t len;
  int overflow;
} Character;

typedef struct {
  long long actions, parse_failures, invalid, job_errors, tokens;
} Tally;

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
  o->characters = 4;
  o->turns = 4;
  o->budget_us = 8000;
  o->threads = 2;
  o->tokens = 256;
  o->seed = 1;
  o->sleep = 1;
  for (i = 1; i < argc; i++) {
    const char* a = argv[i];
    int* target = NULL;
    if (strcmp(a, "--characters") == 0) target = &o->characters;
    else if (strcmp(a, "--turns") == 0) target = &o->turns;
    else if (strcmp(a, "--budget-us") == 0) target = &o->budget_us;
    else if (strcmp(a, "--threads") == 0) target = &o->threads;
    else if (strcmp(a, "--tokens") == 0) target = &o->tokens;
    else if (strcmp(a, "--seed") == 0) target = &o->seed;
    if (strcmp(a, "--no-sleep") == 0) {
      o->sleep = 0;
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
  return o->bundle != NULL && o->characters > 0 && o->characters <= (int)N_NAMES && o->turns > 0 && o->budget_us > 0 &&
         o->tokens > 0;
}

/* Events arrive on this thread, from inside mmb_runtime_frame(). */
static void on_event(void* user_data, mmb_job* job, int32_t kind, int32_t token, const char* text, size_t len,
                     mmb_status status) {
  Character* c = user_data;
  (void)job;
  (void)token;
  if (kind == MMB_JOB_EVENT_TOKEN) {
    if (c->len + len > TEXT_CAP) {
      c->overflow = 1;
      return;
    }
    memcpy(c->text + c->len, text, len);
    c->len += len;
    c->text[c->len] = '\0';
    return;
  }
  c->status = status;
  c->done = 1;
}

/* The scene as this character sees it, ending where its action begins. */
static void write_prompt(char* out, size_t cap, const Character* all, int n, int self, int turn) {
  size_t used = (size_t)snprintf(out, cap, "Turn %d in the village square. ", turn + 1);
  int i;
  for (i = 0; i < n && used < cap; i++)
    if (all[i].health > 0)
      used += (size_t)snprintf(out + used, cap - used, "%s has %d health and %d gold. ", all[i].name, all[i].health,
                               all[i].gold);
  if (used < cap)
    snprintf(out + used, cap - used,
             "Each turn one of them acts, for example {\"action\": \"talk\", \"target\": \"%s\", \"say\": "
             "\"Good morning!\"}. The %s acts: ",
             all[(self + 1) % n].name, all[self].name);
}

static mmb_status submit(Character* c, const Character* all, int n, int self, int turn, const Options* o,
                         const mmb_grammar_state* start) {
  char prompt[1024];
  mmb_sampler_params sp;
  mmb_sampler* sampler = NULL;
  mmb_job_options jo;
  mmb_status s;
  write_prompt(prompt, sizeof prompt, all, n, self, turn);
  if ((s = mmb_session_reset(c->session)) != MMB_OK) return s;
  if ((s = mmb_sampler_params_init(&sp, sizeof sp)) != MMB_OK) return s;
  sp.seed = (uint64_t)o->seed * 100003u + (uint64_t)turn * 101u + (uint64_t)self;
  if ((s = mmb_sampler_create(&sp, &sampler)) != MMB_OK) return s;
  if ((s = mmb_job_options_init(&jo, sizeof jo)) != MMB_OK) {
    mmb_sampler_destroy(sampler);
    return s;
  }
  jo.max_tokens = o->tokens;
  jo.on_event = on_event;
  jo.event_user_data = c;
  jo.grammar = start; /* the job copies the state: one start state serves every job */
  c->len = 0;
  c->text[0] = '\0';
  c->overflow = 0;
  c->done = 0;
  c->status = MMB_OK;
  s = mmb_job_submit_text(c->session, sampler, prompt, strlen(prompt), &jo, &c->job);
  mmb_sampler_destroy(sampler); /* the job took a copy */
  return s;
}

/* The living character whose name the target mentions ("the wolf" -> Wolf), or -1. */
static int find_target(const Character* all, int n, int self, const char* target) {
  int i;
  for (i = 0; i < n; i++) {
    const char* name = all[i].name;
    const size_t k = strlen(name);
    const char* p;
    if (i == self || all[i].health <= 0) continue;
    for (p = target; *p; p++) {
      size_t j = 0;
      while (j < k && p[j] && tolower((unsigned char)p[j]) == tolower((unsigned char)name[j])) j++;
      if (j == k) return i;
    }
  }
  return -1;
}

/* Parses and checks one character's output, then acts on it. */
static void act(Character* all, int n, int self, Tally* t) {
  Character* c = &all[self];
  char action[32], target[TARGET_MAX * 4 + 1], say[SAY_MAX * 4 + 1], err[128];
  JsonField fields[3];
  int a, who;
  memset(fields, 0, sizeof fields);
  fields[0].key = "action";
  fields[0].value = action;
  fields[0].cap = sizeof action;
  fields[1].key = "target";
  fields[1].value = target;
  fields[1].cap = sizeof target;
  fields[2].key = "say";
  fields[2].value = say;
  fields[2].cap = sizeof say;
  if (c->status != MMB_OK) {
    printf("  %s: the job failed: %s\n", c->name, mmb_status_string(c->status));
    t->job_errors++;
    return;
  }
  if (c->overflow || !json_read_object(c->text, c->len, fields, 3, 0, err, sizeof err)) {
    printf("  %s: output is not valid JSON (%s): %s\n", c->name, c->overflow ? "too long" : err, c->text);
    t->parse_failures++;
    return;
  }
  for (a = 0; a < N_ACTIONS && strcmp(action, kActions[a]) != 0; a++) {
  }
  if (!fields[0].found || !fields[1].found || !fields[2].found || a == N_ACTIONS || fields[1].chars > TARGET_MAX ||
      fields[2].chars > SAY_MAX) {
    printf("  %s: output breaks the schema: %s\n", c->name, c->text);
    t->invalid++;
    return;
  }
  t->actions++;
  who = find_target(all, n, self, target);
  printf("  %s %s%s%s: \"%s\"", c->name, kVerbs[a], a == 4 ? "" : " ", a == 4 ? "" : who >= 0 ? all[who].name : target,
         say);
  if (a == 0 && who >= 0) { /* attack: 3 damage */
    all[who].health -= 3;
    printf("  (%s: health %d%s)", all[who].name, all[who].health > 0 ? all[who].health : 0,
           all[who].health > 0 ? "" : ", falls");
  } else if (a == 1) { /* flee: catch one's breath */
    c->health += 1;
    printf("  (%s: health %d)", c->name, c->health);
  } else if (a == 3 && who >= 0 && c->gold > 0) { /* trade: one gold changes hands */
    c->gold--;
    all[who].gold++;
    printf("  (%s: gold %d, %s: gold %d)", c->name, c->gold, all[who].name, all[who].gold);
  } else if ((a == 0 || a == 2 || a == 3) && who < 0) {
    printf("  (nobody here by that name)");
  }
  printf("\n");
}

int main(int argc, char** argv) {
  Options o;
  mmb_runtime_options ro;
  mmb_runtime* runtime = NULL;
  mmb_model* model = NULL;
  mmb_grammar* grammar = NULL;
  mmb_grammar_state* start = NULL;
  Character cs[N_NAMES];
  Tally t;
  int i, turn, frames = 0, late = 0;
  int64_t budget_ns, loop_start;
  mmb_status s;

  if (!parse_options(argc, argv, &o)) {
    fprintf(stderr,
            "usage: %s BUNDLE [--characters N (1..%d)] [--turns T] [--budget-us U] [--threads T] [--tokens K]"
            " [--seed S] [--no-sleep]\n",
            argv[0], (int)N_NAMES);
    return 2;
  }
  budget_ns = (int64_t)o.budget_us * 1000;
  memset(&t, 0, sizeof t);
  memset(cs, 0, sizeof cs);

  /* Jobs advance only inside the host's frame calls. */
  if ((s = mmb_runtime_options_init(&ro, sizeof ro)) != MMB_OK) return fail("runtime options", s);
  ro.n_threads = o.threads;
  ro.job_mode = MMB_JOBS_FRAME;
  if ((s = mmb_runtime_create(&ro, &runtime)) != MMB_OK) return fail("runtime", s);
  if ((s = mmb_model_load_file(runtime, o.bundle, NULL, &model)) != MMB_OK) return fail("load", s);

  /* One grammar for everyone, and the state every job starts from. */
  s = mmb_grammar_create(model, MMB_GRAMMAR_JSON_SCHEMA, kSchema, strlen(kSchema), NULL, &grammar);
  if (s != MMB_OK) return fail("compiling the action schema", s);
  if ((s = mmb_grammar_state_create(grammar, &start)) != MMB_OK) return fail("grammar state", s);

  for (i = 0; i < o.characters; i++) {
    cs[i].name = kNames[i];
    cs[i].health = 10;
    cs[i].gold = 5;
    if ((s = mmb_session_create(model, NULL, &cs[i].session)) != MMB_OK) return fail("session", s);
  }
  printf("npc_actions: %d characters, %d turns, budget %.2f ms of each %.2f ms frame, %d threads\n", o.characters,
         o.turns, budget_ns / 1e6, FRAME_NS / 1e6, o.threads);

  loop_start = now_ns();
  for (turn = 0; turn < o.turns; turn++) {
    int pending = 0, turn_frames = 0;
    int64_t next_edge = now_ns();
    printf("turn %d\n", turn + 1);
    for (i = 0; i < o.characters; i++) {
      if (cs[i].health <= 0) continue;
      if ((s = submit(&cs[i], cs, o.characters, i, turn, &o, start)) != MMB_OK) return fail("submitting a job", s);
      pending++;
    }
    if (pending == 0) break;
    /* The frames: the game's own work would come before the model's share. */
    while (pending > 0) {
      mmb_frame_stats stats;
      stats.struct_size = sizeof stats;
      if ((s = mmb_runtime_frame(runtime, (uint64_t)o.budget_us, &stats)) != MMB_OK) return fail("frame", s);
      t.tokens += (long long)stats.tokens_generated;
      pending = 0;
      for (i = 0; i < o.characters; i++) pending += cs[i].job && !cs[i].done;
      frames++;
      if (++turn_frames > MAX_FRAMES_PER_TURN) return fail("a turn that never ends", MMB_ERR_CANCELLED);
      next_edge += FRAME_NS;
      if (now_ns() > next_edge) {
        late++;
        while (next_edge < now_ns()) next_edge += FRAME_NS;
      }
      if (o.sleep) sleep_until(next_edge);
    }
    /* Every output of the turn is in: act in character order. */
    for (i = 0; i < o.characters; i++) {
      if (!cs[i].job) continue;
      mmb_job_destroy(cs[i].job);
      cs[i].job = NULL;
      act(cs, o.characters, i, &t);
    }
  }

  printf("world:");
  for (i = 0; i < o.characters; i++) printf(" %s health %d gold %d;", cs[i].name, cs[i].health, cs[i].gold);
  printf("\n%d frames in %.2f s (%d late), %lld tokens\n", frames, (double)(now_ns() - loop_start) / 1e9, late,
         t.tokens);
  /* One line for scripts to check. */
  printf("summary turns=%d actions=%lld parse_failures=%lld invalid=%lld job_errors=%lld\n", turn, t.actions,
         t.parse_failures, t.invalid, t.job_errors);

  for (i = 0; i < o.characters; i++) {
    mmb_job_destroy(cs[i].job);
    mmb_session_destroy(cs[i].session);
  }
  mmb_grammar_state_destroy(start);
  mmb_grammar_destroy(grammar);
  mmb_model_destroy(model);
  mmb_runtime_destroy(runtime);
  return t.parse_failures || t.invalid || t.job_errors ? 1 : 0;
}
