/* A chat host: each line read from stdin is a user turn; the reply streams to stdout,
 * then a line of what the turn computed. The model's chat template formats the
 * conversation, and only the tokens the session has not seen are computed each turn.
 * usage: chat MODEL.mmb [SYSTEM_PROMPT]
 * The bundle must carry a chat template: mmb pack MODEL.mmb -o CHAT.mmb --chat-template FILE.jinja */
#include <moemamba/moemamba.h>

#include <stdio.h>
#include <stdlib.h>

static int32_t print_text(void* user_data, int32_t token, const char* text, size_t len) {
  (void)user_data;
  (void)token;
  fwrite(text, 1, len, stdout);
  fflush(stdout);
  return 1; /* 1: go on, 0: stop */
}

static int fail(const char* what, mmb_status status) {
  fprintf(stderr, "%s: %s: %s\n", what, mmb_status_string(status), mmb_last_error());
  return 1;
}

static void print_stats(const char* what, const mmb_chat_stats* stats) {
  printf("[%s] prompt_tokens=%llu reused_tokens=%llu prefilled_tokens=%llu generated_tokens=%llu restarted=%d\n", what,
         (unsigned long long)stats->prompt_tokens, (unsigned long long)stats->reused_tokens,
         (unsigned long long)stats->prefilled_tokens, (unsigned long long)stats->generated_tokens,
         (int)stats->restarted);
  fflush(stdout);
}

/* One line of stdin without its end-of-line, in a buffer that grows as needed; NULL at
 * the end of input. */
static char* read_line(char** buf, size_t* cap) {
  size_t n = 0;
  int c;
  while ((c = getchar()) != EOF && c != '\n') {
    if (n + 2 > *cap) {
      size_t bigger = *cap ? *cap * 2 : 256;
      char* grown = realloc(*buf, bigger);
      if (!grown) return NULL;
      *buf = grown;
      *cap = bigger;
    }
    (*buf)[n++] = (char)c;
  }
  if (c == EOF && n == 0) return NULL;
  if (!*buf) { /* an empty first line */
    *buf = malloc(1);
    if (!*buf) return NULL;
    *cap = 1;
  }
  if (n > 0 && (*buf)[n - 1] == '\r') --n;
  (*buf)[n] = '\0';
  return *buf;
}

int main(int argc, char** argv) {
  mmb_runtime* runtime = NULL;
  mmb_model* model = NULL;
  mmb_chat* chat = NULL;
  mmb_sampler* sampler = NULL;
  mmb_model_info info;
  mmb_sampler_params params;
  mmb_generate_options options;
  mmb_chat_stats stats;
  mmb_status s = MMB_OK;
  char* line = NULL;
  size_t cap = 0;
  int turn = 0;
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL.mmb [SYSTEM_PROMPT]\n", argv[0]);
    return 2;
  }
  if ((s = mmb_runtime_create(NULL, &runtime)) != MMB_OK) return fail("runtime", s);
  if ((s = mmb_model_load_file(runtime, argv[1], NULL, &model)) != MMB_OK) return fail("load", s);
  info.struct_size = sizeof info;
  if ((s = mmb_model_get_info(model, &info)) != MMB_OK) return fail("model info", s);
  if (info.n_chat_templates == 0) {
    fprintf(stderr, "%s has no chat template: pack it with `mmb pack %s -o CHAT.mmb --chat-template FILE.jinja`\n",
            argv[1], argv[1]);
    return 1;
  }
  if ((s = mmb_chat_create(model, NULL, &chat)) != MMB_OK) return fail("chat", s);
  if ((s = mmb_sampler_params_init(&params, sizeof params)) != MMB_OK) return fail("sampler params", s);
  params.seed = 1;
  if ((s = mmb_sampler_create(&params, &sampler)) != MMB_OK) return fail("sampler", s);
  if ((s = mmb_generate_options_init(&options, sizeof options)) != MMB_OK) return fail("generate options", s);
  options.max_tokens = 48;
  stats.struct_size = sizeof stats;

  /* The system prompt is computed before the first line arrives, so the first reply
   * starts at once. */
  if (argc > 2) {
    if ((s = mmb_chat_add(chat, "system", argv[2])) != MMB_OK) return fail("system prompt", s);
    if ((s = mmb_chat_prefill(chat, &stats)) != MMB_OK) return fail("prefill", s);
    print_stats("system", &stats);
  }
  while (read_line(&line, &cap)) {
    char what[32];
    if (line[0] == '\0') continue;
    if ((s = mmb_chat_add(chat, "user", line)) != MMB_OK) break;
    printf("assistant: ");
    s = mmb_chat_generate(chat, sampler, &options, print_text, NULL, &stats);
    printf("\n");
    if (s != MMB_OK) break;
    sprintf(what, "turn %d", ++turn);
    print_stats(what, &stats);
  }
  free(line);
  if (s != MMB_OK) fail("chat", s);
  mmb_sampler_destroy(sampler);
  mmb_chat_destroy(chat);
  mmb_model_destroy(model);
  mmb_runtime_destroy(runtime);
  return s == MMB_OK ? 0 : 1;
}
