/* Compiled as C89, C99 and C11 (and, renamed, as C++11 to C++20) with every warning an
   error: a host may include the public header from any of these. It names the header's
   types and functions the way a host does, so that a declaration only a newer standard
   accepts fails here. */
#include <moemamba/moemamba.h>

static int uses_header(void) {
  mmb_runtime_options options;
  mmb_load_options load;
  mmb_model_info info;
  const mmb_api* api = mmb_get_api(MMB_ABI_VERSION);
  mmb_status status = MMB_OK;
  if (mmb_runtime_options_init(&options, sizeof options) != MMB_OK) status = MMB_ERR_INTERNAL;
  if (mmb_load_options_init(&load, sizeof load) != MMB_OK) status = MMB_ERR_INTERNAL;
  info.struct_size = (uint32_t)sizeof info;
  options.log_level = MMB_LOG_WARN;
  load.flags = MMB_LOAD_SKIP_CHECKSUMS | MMB_LOAD_COPY_MEMORY;
  if (api == NULL || api->version() != MMB_VERSION_NUMBER) status = MMB_ERR_UNSUPPORTED;
  return (int)status + (int)info.struct_size + (int)load.flags + options.log_level;
}

int main(void) {
  return uses_header() == 0;
}
