// Extensible structs (moemamba.h, conventions): each options struct's versions and
// defaults, and the two ways they cross the ABI. A host's *_init writes the defaults
// into no more bytes than the host's own sizeof (a host built against an older header
// has a smaller struct); the library reads a host's struct back the same way round.
// Both go through Extensible<T>, so an init and the call reading its result always
// agree on which sizes exist.
#pragma once

#include "api/api_guard.hpp"

#include <cstddef>
#include <cstring>
#include <iterator>
#include <span>

namespace mmb::api {

// Specialised for each options struct that has a *_init function:
//   name          the struct's name, for messages;
//   sizes         its sizeof in each header version that had it, oldest first (the
//                 last is the current sizeof);
//   set_defaults  sets the fields whose default is not zero (on a zeroed struct).
template <typename T>
struct Extensible;

template <>
struct Extensible<mmb_runtime_options> {
  static constexpr const char* name = "mmb_runtime_options";
  // 0.1 ended at alloc_user_data; 0.2 appended the job and session memory fields;
  // 0.3 the host page store.
  static constexpr size_t sizes[] = {offsetof(mmb_runtime_options, job_mode), offsetof(mmb_runtime_options, page_store),
                                     sizeof(mmb_runtime_options)};
  static void set_defaults(mmb_runtime_options& o);
};

template <>
struct Extensible<mmb_load_options> {
  static constexpr const char* name = "mmb_load_options";
  static constexpr size_t sizes[] = {sizeof(mmb_load_options)};
  static void set_defaults(mmb_load_options& o);
};

template <>
struct Extensible<mmb_session_options> {
  static constexpr const char* name = "mmb_session_options";
  // 0.1 flags only; 0.5 the context (max_context, kv_type).
  static constexpr size_t sizes[] = {offsetof(mmb_session_options, max_context), sizeof(mmb_session_options)};
  static void set_defaults(mmb_session_options& o);
};

template <>
struct Extensible<mmb_prefill_options> {
  static constexpr const char* name = "mmb_prefill_options";
  static constexpr size_t sizes[] = {sizeof(mmb_prefill_options)};
  static void set_defaults(mmb_prefill_options& o);
};

template <>
struct Extensible<mmb_sampler_params> {
  static constexpr const char* name = "mmb_sampler_params";
  static constexpr size_t sizes[] = {sizeof(mmb_sampler_params)};
  static void set_defaults(mmb_sampler_params& p);
};

template <>
struct Extensible<mmb_generate_options> {
  static constexpr const char* name = "mmb_generate_options";
  // 0.7 appended the grammar.
  static constexpr size_t sizes[] = {offsetof(mmb_generate_options, grammar), sizeof(mmb_generate_options)};
  static void set_defaults(mmb_generate_options& o);
};

template <>
struct Extensible<mmb_job_options> {
  static constexpr const char* name = "mmb_job_options";
  // 0.7 appended the grammar.
  static constexpr size_t sizes[] = {offsetof(mmb_job_options, grammar), sizeof(mmb_job_options)};
  static void set_defaults(mmb_job_options& o);
};

template <>
struct Extensible<mmb_chat_options> {
  static constexpr const char* name = "mmb_chat_options";
  static constexpr size_t sizes[] = {sizeof(mmb_chat_options)};
  static void set_defaults(mmb_chat_options&) {}
};

template <>
struct Extensible<mmb_grammar_options> {
  static constexpr const char* name = "mmb_grammar_options";
  static constexpr size_t sizes[] = {sizeof(mmb_grammar_options)};
  static void set_defaults(mmb_grammar_options& o);
};

// Throws MMB_ERR_INVALID_ARGUMENT unless `given` is one of `known`, the sizes of the
// struct `what`'s versions.
void check_known_size(size_t given, std::span<const size_t> known, const char* what);

// Validates the struct_size of a struct the library writes into (mmb_model_info and
// its kin, which have no *_init): at least `first_version_size` (the struct's size in
// ABI 1) and at most the current sizeof.
void check_struct_size(size_t given, size_t first_version_size, size_t current_size, const char* what);

// The full-size defaults; padding is zero, so no stray bytes reach a host.
template <typename T>
T defaults() {
  static_assert(Extensible<T>::sizes[std::size(Extensible<T>::sizes) - 1] == sizeof(T),
                "the last known size of an extensible struct is its sizeof");
  T o;
  std::memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  Extensible<T>::set_defaults(o);
  return o;
}

// The body of every *_init: the defaults written into the first `struct_size` bytes
// of *x and nothing past them; on any error nothing is written.
template <typename T>
mmb_status init_struct(T* x, size_t struct_size) noexcept {
  return guard([&] {
    if (!x) fail(MMB_ERR_INVALID_ARGUMENT, Extensible<T>::name, " pointer is NULL");
    check_known_size(struct_size, Extensible<T>::sizes, Extensible<T>::name);
    T full = defaults<T>();
    full.struct_size = static_cast<uint32_t>(struct_size);
    std::memcpy(x, &full, struct_size);
  });
}

// The host's options as a full-size struct (defaults for NULL): a smaller struct from
// an older header gives its fields, and those it lacks keep their defaults. Throws on
// a struct_size this library does not know.
template <typename T>
T read_struct(const T* given) {
  T o = defaults<T>();
  if (given) {
    check_known_size(given->struct_size, Extensible<T>::sizes, Extensible<T>::name);
    std::memcpy(&o, given, given->struct_size);
    o.struct_size = sizeof o;
  }
  return o;
}

}  // namespace mmb::api
