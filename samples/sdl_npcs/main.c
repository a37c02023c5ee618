/* A game scene in SDL2: non-player characters who each stream their own lines from one
 * shared model into speech bubbles, while the frame loop keeps 60 Hz.
 *
 * The runtime runs its jobs in MMB_JOBS_FRAME mode: nothing advances them but the main
 * thread's mmb_runtime_frame() call, once a frame, with a budget of microseconds (the
 * talking characters share one batched step per token). The events (each token's
 * text, the end of a line) come back from that call on the main thread, so drawing
 * needs no locks and the thread never waits for the model. A character whose line has
 * ended pauses, then starts another with a fresh state and another sampler seed.
 *
 * The scene is drawn into a 32-bit surface of our own (boxes, bubbles, a bitmap font),
 * copied to the window's surface: no GPU, no renderer, so that it runs the same on a
 * desktop, under Xvfb and with SDL's offscreen driver. There is no vsync to wait for,
 * so the loop sleeps with SDL_Delay() to the next 16.7 ms frame edge.
 *
 * usage: sdl_npcs [--bundle B] [--npcs N] [--seconds S] [--frames F] [--budget-us U]
 *                 [--threads T] [--tokens K] [--pause-ms P] [--screenshot FILE.bmp]
 */
#include "font.h"
#include "npc.h"

#include <SDL.h>
#include <moemamba/moemamba.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW_W 960
#define WINDOW_H 540
#define FRAME_US (1000000.0 / 60.0)
#define MAX_NPCS 8
#define HUD_H 32
#define TEXT_SCALE 2
#define MAX_ROWS 64    /* a bubble shows at most this many rows (the last ones) */
#define HUD_WINDOW 60  /* the heads-up display averages the last second */

/* Colours, 0xRRGGBB. INK is only ever used for generated text, so a screenshot can
 * prove that streamed text was drawn (the ctest counts its pixels). */
#define SKY 0x23303fu
#define GROUND 0x3b5a38u
#define HUD_BG 0x11161eu
#define HUD_TEXT 0xd8e0e8u
#define BUBBLE 0xf6f1e4u
#define PROMPT_TEXT 0x8c826eu
#define INK 0x1a2a6cu
#define NAME_TEXT 0xffffffu

static const struct {
  const char* name;
  const char* prompt;
  uint32_t color;
} kCast[MAX_NPCS] = {
    {"Blacksmith", "The old blacksmith said", 0xc8553du},
    {"Innkeeper", "The innkeeper leaned over the counter and whispered", 0xe0a030u},
    {"Guard", "The guard at the gate shouted", 0x4f7cacu},
    {"Merchant", "The merchant laughed and told them", 0x8e5ea2u},
    {"Farmer", "The young farmer asked", 0x6a994eu},
    {"Bard", "The wandering bard began to sing of", 0xd46a9fu},
    {"Priest", "The village priest warned", 0x9aa5b1u},
    {"Hunter", "The hunter told the children", 0x8d6e4cu},
};

typedef struct {
  const char* bundle;
  const char* screenshot;
  int npcs, seconds, frames, budget_us, threads, tokens, pause_ms;
} Options;

/* A growing array of per-frame figures in microseconds. */
typedef struct {
  double* v;
  int n, cap;
} Series;

static int series_push(Series* s, double x) {
  if (s->n == s->cap) {
    const int cap = s->cap ? s->cap * 2 : 1024;
    double* v = realloc(s->v, (size_t)cap * sizeof *v);
    if (!v) return 0;
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = x;
  return 1;
}

static int compare_double(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

/* The p-th percentile (0..100) of the last `n` values of the series. */
static double percentile(const Series* s, int n, double p) {
  double* copy;
  double r;
  if (n > s->n) n = s->n;
  if (n <= 0) return 0;
  copy = malloc((size_t)n * sizeof *copy);
  if (!copy) return 0;
  memcpy(copy, s->v + (s->n - n), (size_t)n * sizeof *copy);
  qsort(copy, (size_t)n, sizeof *copy, compare_double);
  r = copy[(int)(p / 100.0 * (n - 1) + 0.5)];
  free(copy);
  return r;
}

static double now_us(void) {
  return (double)SDL_GetPerformanceCounter() * 1e6 / (double)SDL_GetPerformanceFrequency();
}

static int parse_int(const char* text, int lo, int hi, int* out) {
  char* end = NULL;
  const long v = strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < lo || v > hi) return 0;
  *out = (int)v;
  return 1;
}

static int parse_options(int argc, char** argv, Options* o) {
  int i;
  o->bundle = "models/demo-moe-mamba.mmb";
  o->screenshot = NULL;
  o->npcs = 6;
  o->seconds = 0; /* 0 and 0: until the window is closed */
  o->frames = 0;
  o->budget_us = 6000;
  o->threads = 2;
  o->tokens = 40;
  o->pause_ms = 1500;
  for (i = 1; i < argc; i++) {
    const char* a = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : NULL;
    int ok;
    if (!value) return 0;
    if (strcmp(a, "--bundle") == 0) o->bundle = value, ok = 1;
    else if (strcmp(a, "--screenshot") == 0) o->screenshot = value, ok = 1;
    else if (strcmp(a, "--npcs") == 0) ok = parse_int(value, 1, MAX_NPCS, &o->npcs);
    else if (strcmp(a, "--seconds") == 0) ok = parse_int(value, 0, 86400, &o->seconds);
    else if (strcmp(a, "--frames") == 0) ok = parse_int(value, 0, 100000000, &o->frames);
    else if (strcmp(a, "--budget-us") == 0) ok = parse_int(value, 0, 1000000, &o->budget_us);
    else if (strcmp(a, "--threads") == 0) ok = parse_int(value, 0, 256, &o->threads);
    else if (strcmp(a, "--tokens") == 0) ok = parse_int(value, 1, 256, &o->tokens);
    else if (strcmp(a, "--pause-ms") == 0) ok = parse_int(value, 0, 60000, &o->pause_ms);
    else ok = 0;
    if (!ok) return 0;
    i++;
  }
  return 1;
}

/* ---- drawing ---- */

static Uint32 map(SDL_Surface* s, uint32_t rgb) {
  return SDL_MapRGB(s->format, (Uint8)(rgb >> 16), (Uint8)(rgb >> 8), (Uint8)rgb);
}

static void fill(SDL_Surface* s, int x, int y, int w, int h, uint32_t rgb) {
  SDL_Rect r;
  r.x = x;
  r.y = y;
  r.w = w;
  r.h = h;
  SDL_FillRect(s, &r, map(s, rgb));
}

typedef struct {
  size_t start, end; /* bytes of one row */
} Span;

static int count_code_points(const char* t, size_t start, size_t end) {
  int n = 0;
  while (start < end) {
    font_next_code_point(t, end, &start);
    n++;
  }
  return n;
}

/* Word-wraps `len` bytes into rows of at most `cols` characters, breaking at the last
 * space of a row (or inside a word longer than a row) and at newlines. The rows go
 * into a ring of MAX_ROWS, so the last ones are kept; returns how many there were. */
static int wrap_text(const char* t, size_t len, int cols, Span* ring) {
  const size_t none = (size_t)-1;
  size_t i = 0, start = 0, space = none;
  int col = 0, n = 0;
  while (i < len) {
    const size_t at = i;
    const unsigned long cp = font_next_code_point(t, len, &i);
    if (cp == '\n' || (cp == ' ' && col == cols)) { /* the row ends here; the character goes */
      ring[n++ % MAX_ROWS] = (Span){start, at};
      start = i;
      col = 0;
      space = none;
      continue;
    }
    if (col == cols) {
      const size_t cut = space != none ? space : at;
      ring[n++ % MAX_ROWS] = (Span){start, cut};
      start = space != none ? space + 1 : at;
      col = count_code_points(t, start, at);
      space = none;
    }
    if (cp == ' ') space = at;
    col++;
  }
  ring[n++ % MAX_ROWS] = (Span){start, len};
  return n;
}

/* A speech bubble with the prompt in grey and the generated text in ink, showing the
 * last rows that fit; a block cursor follows the text while the line is being said. */
static void draw_bubble(SDL_Surface* s, const Npc* npc, int x, int y, int w, int h) {
  char joined[NPC_TEXT_CAP + 256];
  Span ring[MAX_ROWS];
  const size_t prompt_len = strlen(npc->prompt) < 256 ? strlen(npc->prompt) : 256;
  const int cw = FONT_CELL_W * TEXT_SCALE, ch = FONT_CELL_H * TEXT_SCALE;
  const int cols = (w - 16) / cw;
  int rows = (h - 16) / ch, total, first, r, cursor_x = x + 8, cursor_y = y + 8;
  const Uint32 prompt_color = map(s, PROMPT_TEXT), ink = map(s, INK);

  fill(s, x, y, w, h, npc->color); /* a 3-pixel border in the character's colour */
  fill(s, x + 3, y + 3, w - 6, h - 6, BUBBLE);
  if (cols < 1 || rows < 1) return;
  if (rows > MAX_ROWS) rows = MAX_ROWS;
  memcpy(joined, npc->prompt, prompt_len);
  memcpy(joined + prompt_len, npc->text, npc->text_len);
  total = wrap_text(joined, prompt_len + npc->text_len, cols, ring);
  first = total > rows ? total - rows : 0;
  for (r = first; r < total; r++) {
    const Span sp = ring[r % MAX_ROWS];
    size_t i = sp.start;
    int px = x + 8;
    const int py = y + 8 + (r - first) * ch;
    while (i < sp.end) {
      const size_t at = i;
      const unsigned long cp = font_next_code_point(joined, sp.end, &i);
      font_draw_char(s, px, py, TEXT_SCALE, at < prompt_len ? prompt_color : ink, cp);
      px += cw;
    }
    cursor_x = px;
    cursor_y = py;
  }
  if (npc->job && !npc->line_done && cursor_x + FONT_GLYPH_W * TEXT_SCALE <= x + w - 4)
    fill(s, cursor_x, cursor_y, FONT_GLYPH_W * TEXT_SCALE, (FONT_GLYPH_H - 2) * TEXT_SCALE, npc->color);
}

/* One character's corner of the scene: the bubble above, the tail, the character (a
 * box with eyes) and its name on the ground. */
static void draw_npc(SDL_Surface* s, const Npc* npc, int x, int y, int w, int h) {
  const int ground = y + h - 56, box = 40, bx = x + 24, by = y + h - 8 - box;
  int k;
  fill(s, x, ground, w, h - (ground - y), GROUND);
  draw_bubble(s, npc, x + 10, y + 10, w - 20, ground - y - 24);
  for (k = 0; k < 4; k++) /* the tail, narrowing toward the speaker */
    fill(s, bx + 14 + 2 * k, ground - 14 + 4 * k, 12 - 3 * k, 4, npc->color);
  fill(s, bx, by, box, box, npc->color);
  fill(s, bx + 9, by + 11, 6, 8, 0x101010u);
  fill(s, bx + 25, by + 11, 6, 8, 0x101010u);
  font_draw_text(s, bx + box + 12, by + (box - FONT_GLYPH_H * TEXT_SCALE) / 2, TEXT_SCALE, map(s, NAME_TEXT), npc->name,
                 strlen(npc->name));
}

/* The heads-up line on top, then the characters on a grid of two rows. */
static void draw_scene(SDL_Surface* s, const Npc* npcs, int n, const char* hud) {
  const int cols = n > 1 ? (n + 1) / 2 : 1, rows = n > 1 ? 2 : 1;
  const int cell_w = WINDOW_W / cols, cell_h = (WINDOW_H - HUD_H) / rows;
  int i;
  fill(s, 0, 0, WINDOW_W, WINDOW_H, SKY);
  fill(s, 0, 0, WINDOW_W, HUD_H, HUD_BG);
  font_draw_text(s, 8, (HUD_H - FONT_GLYPH_H * TEXT_SCALE) / 2, TEXT_SCALE, map(s, HUD_TEXT), hud, strlen(hud));
  for (i = 0; i < n; i++)
    draw_npc(s, &npcs[i], (i % cols) * cell_w, HUD_H + (i / cols) * cell_h, cell_w, cell_h);
}

/* Copies the canvas to the window (converting to its pixel format if needed). */
static int present(SDL_Window* window, SDL_Surface* canvas) {
  SDL_Surface* screen = SDL_GetWindowSurface(window);
  return screen && SDL_BlitSurface(canvas, NULL, screen, NULL) == 0 && SDL_UpdateWindowSurface(window) == 0;
}

/* ---- the program ---- */

typedef struct {
  SDL_Window* window;
  SDL_Surface* canvas;
  mmb_runtime* runtime;
  mmb_model* model;
  Npc npcs[MAX_NPCS];
  int n_npcs;
  Series frame_us, work_us, model_us, tokens;
} App;

static void app_free(App* a) {
  int i;
  for (i = 0; i < a->n_npcs; i++) npc_free(&a->npcs[i]);
  mmb_model_destroy(a->model);
  mmb_runtime_destroy(a->runtime);
  SDL_FreeSurface(a->canvas);
  if (a->window) SDL_DestroyWindow(a->window);
  free(a->frame_us.v);
  free(a->work_us.v);
  free(a->model_us.v);
  free(a->tokens.v);
  SDL_Quit();
}

static int fail_mmb(App* a, const char* what, mmb_status s) {
  fprintf(stderr, "sdl_npcs: %s: %s: %s\n", what, mmb_status_string(s), mmb_last_error());
  app_free(a);
  return 1;
}

static int fail_sdl(App* a, const char* what) {
  fprintf(stderr, "sdl_npcs: %s: %s\n", what, SDL_GetError());
  app_free(a);
  return 1;
}

/* The share of the last `n` values of the series above `limit`, in percent. */
static double percent_over(const Series* s, int n, double limit) {
  int i, over = 0;
  if (n > s->n) n = s->n;
  for (i = s->n - n; i < s->n; i++) over += s->v[i] > limit;
  return n > 0 ? 100.0 * over / n : 0.0;
}

/* What the heads-up display says: the last second's figures, the model's time against
 * its budget as bench jobs prints it (p50, p99, worst, frames over 1.1x budget). */
static void format_hud(const App* a, int frame, int budget_us, char* out, size_t cap) {
  const int n = a->frame_us.n < HUD_WINDOW ? a->frame_us.n : HUD_WINDOW;
  double seconds = 0, tokens = 0;
  int i;
  for (i = a->frame_us.n - n; i < a->frame_us.n; i++) {
    seconds += a->frame_us.v[i] / 1e6;
    tokens += a->tokens.v[i];
  }
  snprintf(out, cap, "%d NPCs | frame %d: %.1f ms | model %.1f/%.1f/%.1f ms of %.1f, %.0f%% over | %.0f tok/s | %s",
           a->n_npcs, frame, percentile(&a->frame_us, n, 50) / 1e3, percentile(&a->model_us, n, 50) / 1e3,
           percentile(&a->model_us, n, 99) / 1e3, percentile(&a->model_us, n, 100) / 1e3, budget_us / 1e3,
           percent_over(&a->model_us, n, 1.1 * budget_us), seconds > 0 ? tokens / seconds : 0.0,
           SDL_GetCurrentVideoDriver());
}

/* One line of figures: p50, p99 and the worst frame (a hitch that p99 hides). */
static void print_series(const char* what, const Series* s, const char* note) {
  printf("%-11s p50 %.2f ms  p99 %.2f ms  max %.2f ms  (%s)\n", what, percentile(s, s->n, 50) / 1e3,
         percentile(s, s->n, 99) / 1e3, percentile(s, s->n, 100) / 1e3, note);
}

/* The figures at exit, each character's last line, and one line for scripts (the ink
 * colour is that of generated text in the screenshot). */
static void print_report(const App* a, const Options* o, int frames, int late, int overruns, long long tokens,
                         double seconds) {
  char line[NPC_TEXT_CAP + 1], note[80];
  int i, talked = 0;
  printf("frames %d in %.2f s (%d late)\n", frames, seconds, late);
  print_series("frame time", &a->frame_us, "the whole frame, sleep included");
  print_series("frame work", &a->work_us, "events, model, drawing, presenting");
  snprintf(note, sizeof note, "mmb_runtime_frame, budget %.2f ms, %d overruns", o->budget_us / 1e3, overruns);
  print_series("model", &a->model_us, note);
  printf("model over  1.1x budget in %.1f%% of frames\n", percent_over(&a->model_us, a->model_us.n, 1.1 * o->budget_us));
  printf("tokens      %lld in %.2f s: %.1f tokens/s\n", tokens, seconds, seconds > 0 ? (double)tokens / seconds : 0.0);
  for (i = 0; i < a->n_npcs; i++) {
    const Npc* n = &a->npcs[i];
    size_t k;
    for (k = 0; k < n->text_len; k++) line[k] = n->text[k] == '\n' ? ' ' : n->text[k]; /* one line each */
    line[k] = '\0';
    talked += n->tokens > 0;
    printf("  %-10s %5lld tokens, %d lines finished: %s%s\n", n->name, n->tokens, n->lines_finished, n->prompt, line);
  }
  printf("summary frames=%d npcs=%d talked=%d tokens=%lld overruns=%d ink=%06x\n", frames, a->n_npcs, talked, tokens,
         overruns, INK);
}

int main(int argc, char** argv) {
  Options o;
  App a;
  mmb_runtime_options ro;
  mmb_status s;
  char hud[192] = "loading";
  double loop_start, next_edge, frame_start;
  long long total_tokens = 0;
  int frame = 0, quit = 0, overruns = 0, late = 0, i;
  uint64_t start_ms;

  memset(&a, 0, sizeof a);
  if (!parse_options(argc, argv, &o)) {
    fprintf(stderr,
            "usage: %s [--bundle B] [--npcs N (1-%d)] [--seconds S] [--frames F] [--budget-us U] [--threads T]\n"
            "          [--tokens K] [--pause-ms P] [--screenshot FILE.bmp]\n",
            argv[0], MAX_NPCS);
    return 2;
  }

  /* The window surface straight from the video driver (XShm under X11), not through an
   * OpenGL texture: under Xvfb that GL is software and took 15 ms a frame to present
   * what we drew on the CPU anyway. The environment variable still overrides it. */
  SDL_SetHint(SDL_HINT_FRAMEBUFFER_ACCELERATION, "0");
  /* A video driver that cannot start is its own exit status (3), so that a script can
   * try another (run_headless.sh: x11 under Xvfb, then offscreen, then dummy). */
  if (SDL_Init(SDL_INIT_VIDEO) != 0) {
    const char* wanted = SDL_getenv("SDL_VIDEODRIVER");
    fprintf(stderr, "sdl_npcs: no video (driver %s): %s\n", wanted ? wanted : "default", SDL_GetError());
    return 3;
  }
  printf("video driver: %s\n", SDL_GetCurrentVideoDriver());

  /* The window first, with a loading frame (the first frame a window shows can take
   * long to appear), then the model: a compressed bundle takes a moment to decode. */
  a.window = SDL_CreateWindow("moemamba: NPCs", SDL_WINDOWPOS_CENTERED, SDL_WINDOWPOS_CENTERED, WINDOW_W, WINDOW_H, 0);
  if (!a.window) return fail_sdl(&a, "window");
  a.canvas = SDL_CreateRGBSurfaceWithFormat(0, WINDOW_W, WINDOW_H, 32, SDL_PIXELFORMAT_RGB888);
  if (!a.canvas) return fail_sdl(&a, "canvas");
  snprintf(hud, sizeof hud, "loading %s", o.bundle);
  draw_scene(a.canvas, NULL, 0, hud);
  if (!present(a.window, a.canvas)) return fail_sdl(&a, "presenting the frame");

  if ((s = mmb_runtime_options_init(&ro, sizeof ro)) != MMB_OK) return fail_mmb(&a, "runtime options", s);
  ro.n_threads = o.threads;
  ro.job_mode = MMB_JOBS_FRAME; /* only mmb_runtime_frame() advances the jobs */
  if ((s = mmb_runtime_create(&ro, &a.runtime)) != MMB_OK) return fail_mmb(&a, "runtime", s);
  if ((s = mmb_model_load_file(a.runtime, o.bundle, NULL, &a.model)) != MMB_OK) return fail_mmb(&a, o.bundle, s);

  /* The characters start a quarter of a second apart, so they do not all speak in step. */
  start_ms = SDL_GetTicks64();
  for (i = 0; i < o.npcs; i++) {
    s = npc_init(&a.npcs[i], a.model, kCast[i].name, kCast[i].prompt, kCast[i].color, (uint64_t)i * 1000 + 1,
                 start_ms + (uint64_t)i * 250);
    a.n_npcs++;
    if (s != MMB_OK) return fail_mmb(&a, "session", s);
  }
  printf("sdl_npcs: %d NPCs, %dx%d at 60 Hz, model budget %.2f ms of %.2f ms, %d threads, bundle %s\n", o.npcs,
         WINDOW_W, WINDOW_H, o.budget_us / 1e3, FRAME_US / 1e3, o.threads, o.bundle);

  loop_start = now_us();
  next_edge = loop_start;
  frame_start = loop_start;
  while (!quit) {
    mmb_frame_stats st;
    SDL_Event e;
    double work_end, after;
    const uint64_t now_ms = SDL_GetTicks64();

    while (SDL_PollEvent(&e)) {
      if (e.type == SDL_QUIT || (e.type == SDL_KEYDOWN && e.key.keysym.sym == SDLK_ESCAPE)) quit = 1;
    }

    /* The model's share of the frame; the events (text, ends of lines) arrive in it. */
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    if ((s = mmb_runtime_frame(a.runtime, (uint64_t)o.budget_us, &st)) != MMB_OK) return fail_mmb(&a, "frame", s);
    if (o.budget_us > 0 && st.time_us > (uint64_t)o.budget_us) overruns++; /* budget 0: events only */
    total_tokens += (long long)st.tokens_generated;
    for (i = 0; i < a.n_npcs; i++) {
      if ((s = npc_update(&a.npcs[i], now_ms, (uint32_t)o.pause_ms, o.tokens)) != MMB_OK) {
        fprintf(stderr, "sdl_npcs: %s: %s: %s\n", a.npcs[i].name, mmb_status_string(s),
                a.npcs[i].error != MMB_OK ? a.npcs[i].error_text : mmb_last_error());
        app_free(&a);
        return 1;
      }
    }

    draw_scene(a.canvas, a.npcs, a.n_npcs, hud);
    if (!present(a.window, a.canvas)) return fail_sdl(&a, "presenting the frame");
    work_end = now_us();
    frame++;
    if (!series_push(&a.work_us, work_end - frame_start) || !series_push(&a.model_us, (double)st.time_us) ||
        !series_push(&a.tokens, (double)st.tokens_generated))
      return fail_mmb(&a, "recording", MMB_ERR_OUT_OF_MEMORY);

    if ((o.frames > 0 && frame >= o.frames) || (o.seconds > 0 && work_end - loop_start >= o.seconds * 1e6)) quit = 1;

    /* Sleep to the next frame edge. A frame that ran past its edge waits for the first
     * edge after it: the schedule skips ahead instead of trying to catch up. */
    next_edge += FRAME_US;
    if (work_end > next_edge) {
      late++;
      while (next_edge < work_end) next_edge += FRAME_US;
    }
    if (!quit) {
      while ((after = now_us()) < next_edge) SDL_Delay((Uint32)((next_edge - after) / 1000.0) + 1); /* whole ms, up */
    } else {
      after = now_us();
    }
    if (!series_push(&a.frame_us, after - frame_start)) return fail_mmb(&a, "recording", MMB_ERR_OUT_OF_MEMORY);
    frame_start = after;
    format_hud(&a, frame, o.budget_us, hud, sizeof hud);
  }

  if (o.screenshot) {
    if (SDL_SaveBMP(a.canvas, o.screenshot) != 0) return fail_sdl(&a, "screenshot");
    printf("screenshot: %s (%dx%d, the last frame)\n", o.screenshot, WINDOW_W, WINDOW_H);
  }
  print_report(&a, &o, frame, late, overruns, total_tokens, (frame_start - loop_start) / 1e6);
  app_free(&a);
  return 0;
}
