// mmb_get_api: the append-only function table for hosts that dlopen the library.
#include <moemamba/moemamba.h>

extern "C" {

MMB_API const mmb_api* mmb_get_api(uint32_t abi_version) {
  static const mmb_api table = {
      sizeof(mmb_api),
      MMB_ABI_VERSION,
      mmb_status_string,
      mmb_last_error,
      mmb_version,
      mmb_version_string,
      mmb_runtime_options_init,
      mmb_runtime_create,
      mmb_runtime_destroy,
      mmb_runtime_get_backend,
      mmb_load_options_init,
      mmb_model_load_file,
      mmb_model_load_memory,
      mmb_model_load_io,
      mmb_model_get_info,
      mmb_model_get_meta,
      mmb_model_destroy,
      mmb_session_options_init,
      mmb_session_create,
      mmb_session_destroy,
      mmb_session_reset,
      mmb_session_get_position,
      mmb_session_get_model,
      mmb_session_step,
      mmb_prefill_options_init,
      mmb_session_prefill,
      mmb_session_prefill_ex,
      mmb_step_batch,
      mmb_session_state_size,
      mmb_session_state_save,
      mmb_session_state_load,
      mmb_session_fork,
      mmb_tokenize,
      mmb_token_to_bytes,
      mmb_detokenizer_create,
      mmb_detokenizer_destroy,
      mmb_detokenizer_push,
      mmb_detokenizer_flush,
      mmb_sampler_params_init,
      mmb_sampler_create,
      mmb_sampler_destroy,
      mmb_sampler_reset,
      mmb_sampler_accept,
      mmb_sampler_sample,
      mmb_generate_options_init,
      mmb_generate,
  };
  // Version 1 is the only table so far; a later library serves older versions too.
  return abi_version == 1 ? &table : nullptr;
}

}  // extern "C"
