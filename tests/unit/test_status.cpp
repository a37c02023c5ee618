// Status names, the thread-local last error, versions and struct_size checks.
#include <catch2/catch.hpp>

#include "api/api_guard.hpp"
#include "api/api_structs.hpp"

#include <moemamba/moemamba.h>

#include <cstring>
#include <string>
#include <thread>

TEST_CASE("every status has a distinct name", "[api]") {
  std::string seen;
  for (mmb_status s = MMB_OK; s <= MMB_ERR_BUDGET; ++s) {
    std::string name = mmb_status_string(s);
    CHECK(name.rfind("MMB_", 0) == 0);
    CHECK(seen.find("|" + name + "|") == std::string::npos);
    seen += "|" + name + "|";
  }
  CHECK(std::string(mmb_status_string(9999)) == "MMB_ERR_UNKNOWN");
  CHECK(std::string(mmb_status_string(-1)) == "MMB_ERR_UNKNOWN");
}

TEST_CASE("guard turns exceptions into statuses and a thread-local message", "[api][threads]") {
  mmb_status s = mmb::api::guard([] { mmb::fail(MMB_ERR_FORMAT, "tensor ", "x", " at offset ", 64); });
  CHECK(s == MMB_ERR_FORMAT);
  CHECK(std::string(mmb_last_error()) == "tensor x at offset 64");
  std::string other_thread = "unset";
  std::thread([&] { other_thread = mmb_last_error(); }).join();
  CHECK(other_thread.empty());
  CHECK(mmb::api::guard([] { throw std::bad_alloc(); }) == MMB_ERR_OUT_OF_MEMORY);
  CHECK(mmb::api::guard([] {}) == MMB_OK);
  CHECK(std::string(mmb_last_error()).empty());
}

TEST_CASE("version macro matches the library", "[api]") {
  CHECK(mmb_version() == MMB_VERSION_NUMBER);
  std::string v = mmb_version_string();
  CHECK(v == std::to_string(MMB_VERSION_MAJOR) + "." + std::to_string(MMB_VERSION_MINOR) + "." +
                 std::to_string(MMB_VERSION_PATCH));
}

TEST_CASE("struct_size outside the known range is rejected", "[api]") {
  CHECK(mmb::api::guard([] { mmb::api::check_struct_size(8, 16, 32, "opts"); }) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(std::strstr(mmb_last_error(), "opts.struct_size") != nullptr);
  CHECK(mmb::api::guard([] { mmb::api::check_struct_size(40, 16, 32, "opts"); }) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb::api::guard([] { mmb::api::check_struct_size(16, 16, 32, "opts"); }) == MMB_OK);
}

TEST_CASE("a struct_size that no version of the struct had is rejected", "[api]") {
  static const size_t known[] = {64, 96};
  for (size_t size : {size_t(0), size_t(63), size_t(65), size_t(72), size_t(95), size_t(97), SIZE_MAX}) {
    INFO("struct_size " << size);
    CHECK(mmb::api::guard([size] { mmb::api::check_known_size(size, known, "opts"); }) == MMB_ERR_INVALID_ARGUMENT);
    CHECK(std::strstr(mmb_last_error(), "opts.struct_size") != nullptr);
    CHECK(std::strstr(mmb_last_error(), "64, 96") != nullptr);
  }
  for (size_t size : known) CHECK(mmb::api::guard([size] { mmb::api::check_known_size(size, known, "opts"); }) == MMB_OK);
}
