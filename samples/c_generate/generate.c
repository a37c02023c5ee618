/* The smallest host: load a bundle, stream generated text to stdout.
 * usage: generate MODEL.mmb [PROMPT] */
#include <moemamba/moemamba.h>

#include <stdio.h>
#include <string.h>

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

int main(int argc, char** argv) {
  const char* prompt = argc > 2 ? argv[2] : "Once upon a time";
  mmb_runtime* runtime = NULL;
  mmb_model* model = NULL;
  mmb_session* session = NULL;
  mmb_sampler* sampler = NULL;
  mmb_sampler_params params;
  mmb_generate_options options;
  mmb_status s;
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL.mmb [PROMPT]\n", argv[0]);
    return 2;
  }
  if (mmb_version() != MMB_VERSION_NUMBER) fprintf(stderr, "warning: header and library versions differ\n");
  if ((s = mmb_runtime_create(NULL, &runtime)) != MMB_OK) return fail("runtime", s);
  if ((s = mmb_model_load_file(runtime, argv[1], NULL, &model)) != MMB_OK) return fail("load", s);
  if ((s = mmb_session_create(model, NULL, &session)) != MMB_OK) return fail("session", s);
  if ((s = mmb_sampler_params_init(&params, sizeof params)) != MMB_OK) return fail("sampler params", s);
  params.seed = 1;
  if ((s = mmb_sampler_create(&params, &sampler)) != MMB_OK) return fail("sampler", s);
  if ((s = mmb_generate_options_init(&options, sizeof options)) != MMB_OK) return fail("generate options", s);
  options.max_tokens = 32;
  s = mmb_generate(session, sampler, prompt, strlen(prompt), &options, print_text, NULL);
  printf("\n");
  mmb_sampler_destroy(sampler);
  mmb_session_destroy(session);
  mmb_model_destroy(model);
  mmb_runtime_destroy(runtime);
  return s == MMB_OK ? 0 : fail("generate", s);
}
