// Writes the seed corpora of the fuzz targets from valid tiny bundles, states and
// texts: `fuzz_make_seeds DIR` fills DIR/<target>/ (tests/fuzz/corpus in the tree).
#include "fuzz_models.hpp"
#include "safetensors.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

using namespace mmb::fuzz;
namespace fs = std::filesystem;

namespace {

void write_seed(const fs::path& dir, const std::string& name, const void* data, size_t size) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), std::streamsize(size));
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
}

void write_seed(const fs::path& dir, const std::string& name, const std::vector<std::byte>& bytes) {
  write_seed(dir, name, bytes.data(), bytes.size());
}

std::vector<std::byte> with_prefix(uint8_t prefix, const std::vector<std::byte>& bytes) {
  std::vector<std::byte> out{std::byte(prefix)};
  out.insert(out.end(), bytes.begin(), bytes.end());
  return out;
}

std::vector<uint8_t> state_after(mmb_model* model, const std::string& text) {
  mmb_session* s = nullptr;
  if (mmb_session_create(model, nullptr, &s) != MMB_OK) std::abort();
  SessionPtr session(s);
  for (char c : text) mmb_session_step(s, uint8_t(c), nullptr, 0);
  size_t size = 0;
  mmb_session_state_size(s, &size);
  std::vector<uint8_t> blob(size);
  if (mmb_session_state_save(s, blob.data(), blob.size(), &size) != MMB_OK) std::abort();
  return blob;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds DIR\n");
    return 2;
  }
  const fs::path root = argv[1];
  const std::vector<std::byte> raw = tiny_bundle(false), zstd = tiny_bundle(true), bpe = bpe_bundle();

  write_seed(root / "fuzz_bundle_memory", "tiny_raw.bin", raw);
  write_seed(root / "fuzz_bundle_memory", "tiny_zstd.bin", zstd);
  write_seed(root / "fuzz_bundle_memory", "bpe.bin", bpe);

  // First byte: 0 = whole reads, >= 128 = reads capped at (byte - 127) * 64 bytes.
  write_seed(root / "fuzz_bundle_io", "tiny_zstd_whole.bin", with_prefix(0, zstd));
  write_seed(root / "fuzz_bundle_io", "tiny_raw_chunked.bin", with_prefix(130, raw));

  RuntimePtr runtime = single_thread_runtime();
  ModelPtr model = load_valid(runtime.get(), raw);
  for (const auto& [name, text] : {std::pair<std::string, std::string>{"fresh.state", ""},
                                   {"hello.state", "Hello, world"}}) {
    const std::vector<uint8_t> blob = state_after(model.get(), text);
    write_seed(root / "fuzz_state_load", name, blob.data(), blob.size());
  }

  const std::string texts[] = {"Hello world", "abcabc aa bc  the  <|endoftext|> thee",
                               "caf\xc3\xa9 \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80 123 'll",
                               std::string("\xff\xfe\xc3 a\0b\x80", 8)};
  for (size_t i = 0; i < std::size(texts); ++i)
    write_seed(root / "fuzz_tokenizer", "text" + std::to_string(i), texts[i].data(), texts[i].size());

  // A safetensors file with every dtype pack reads, and metadata.
  const fs::path tmp = fs::temp_directory_path() / "mmb_fuzz_seed.safetensors";
  const std::vector<std::byte> values(48, std::byte(0x3c));
  mmb::write_safetensors(tmp.string(),
                         {{"embedding.weight", mmb::SafetensorsDType::F32, {2, 3}, std::span(values).first(24)},
                          {"norm.weight", mmb::SafetensorsDType::F16, {4}, std::span(values).first(8)},
                          {"head.weight", mmb::SafetensorsDType::BF16, {2, 2}, std::span(values).first(8)},
                          {"scale", mmb::SafetensorsDType::F64, {1}, std::span(values).first(8)}},
                         {{"format", "pt"}});
  {
    std::ifstream in(tmp, std::ios::binary);
    const std::string image((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    write_seed(root / "fuzz_safetensors", "four_dtypes.safetensors", image.data(), image.size());
  }
  fs::remove(tmp);

  // Op sequences (see fuzz_api_sequence.cpp): create two, step, prefill, save, fork,
  // load, flip a byte, load again, batch, reset, destroy.
  const std::vector<uint8_t> ops = {0x00, 0x10, 0x02, 'a', 1, 0x12, 'b', 1, 0x04, 5, 'h', 'e', 'l', 'l', 'o', 1, 1,
                                    0x05, 1, 0x88, 0x16, 0x07, 8, 0, 0, 0, 3, 0x06, 0x0a, 1, 'x', 1, 'y', 0x09,
                                    0x01, 0x02, 'z', 1};
  write_seed(root / "fuzz_api_sequence", "ops", ops.data(), ops.size());
  const std::vector<uint8_t> reload = {0x00, 0x04, 30, 'T', 'h', 'e', ' ', 'q', 'u', 'i', 'c', 'k', 0, 0,
                                       0x05, 1, 0x10, 0x16, 0x12, 'q', 1, 0x28, 0x38, 0x22, 250, 1, 0x31};
  write_seed(root / "fuzz_api_sequence", "reload", reload.data(), reload.size());
  std::printf("seeds written under %s\n", root.c_str());
  return 0;
}
