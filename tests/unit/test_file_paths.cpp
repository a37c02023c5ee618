// File names are UTF-8 on every platform: a bundle written to and loaded from a path
// with non-ASCII characters (on Windows through the wide-character file functions).
#include <catch2/catch.hpp>

#include "support/bundle_fixtures.hpp"
#include "support/model_harness.hpp"

#include "base/error.hpp"

#include <filesystem>

using namespace mmb;

TEST_CASE("a bundle is written to and loaded from a UTF-8 path with non-ASCII characters", "[bundle]") {
  test::TempDir dir;
  const char8_t name[] = u8"mod\u00e8le-\u6a21\u578b-\u043c\u043e\u0434\u0435\u043b\u044c.mmb";
  const std::string path = dir.path(std::string(reinterpret_cast<const char*>(name)));
  SyntheticModel model = test::tiny_model(DType::F32);
  write_bundle_to_file(model.contents, {}, path);
  // The file has that name (not one mangled through a legacy code page).
  CHECK(std::filesystem::is_regular_file(std::filesystem::path(dir.dir()) / std::filesystem::path(name)));

  testing::RuntimePtr rt = testing::make_runtime();
  mmb_model* raw = nullptr;
  const mmb_status s = mmb_model_load_file(rt.get(), path.c_str(), nullptr, &raw);
  INFO(mmb_last_error());
  REQUIRE(s == MMB_OK);
  testing::ModelPtr loaded(raw);
  mmb_model_info info{};
  info.struct_size = sizeof info;
  REQUIRE(mmb_model_get_info(loaded.get(), &info) == MMB_OK);
  CHECK(uint32_t(info.vocab_size) == model.contents.config.vocab_size);

  // A missing file is an I/O error that names the path.
  const std::string missing = dir.path(std::string(reinterpret_cast<const char*>(u8"\u00e9t\u00e9.mmb")));
  CHECK(mmb_model_load_file(rt.get(), missing.c_str(), nullptr, &raw) == MMB_ERR_IO);
  CHECK(std::string(mmb_last_error()).find(missing) != std::string::npos);
}
