// The CLI's argument parser: syntax, typed getters and the one-line usage errors.
#include <catch2/catch.hpp>

#include "cli_args.hpp"

#include <string>
#include <vector>

using mmb::cli::Args;
using mmb::cli::Option;
using mmb::cli::UsageError;

namespace {

const std::vector<Option> kOptions = {
    {"prompt", "TEXT", "text to continue"},
    {"max-tokens", "N", "most tokens"},
    {"temp", "T", "temperature"},
    {"seed", "S", "seed"},
    {"no-bos", nullptr, "no BOS token"},
    {"input", "FILE", "an input", true},
};

std::string usage_error(const std::vector<std::string>& argv) {
  try {
    Args args(argv, kOptions);
    args.expect_positionals(1, 1, "BUNDLE");
    args.get_int("max-tokens", 1, 0, 1000);
    args.get_double("temp", 1.0, 0.0, 10.0);
    args.get_uint64("seed", 0);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("arguments: values, flags, positionals and repeats", "[cli]") {
  const Args args({"model.mmb", "--prompt", "Once upon", "--max-tokens=64", "--no-bos", "--temp", "-0.5", "--input",
                   "a", "--input=b", "--", "--not-an-option"},
                  kOptions);
  CHECK_FALSE(args.help());
  CHECK(args.positionals() == std::vector<std::string>{"model.mmb", "--not-an-option"});
  CHECK(args.get_string("prompt", "") == "Once upon");
  CHECK(args.get_int("max-tokens", 128, 0, 1000) == 64);
  CHECK(args.get_double("temp", 1.0, -1.0, 2.0) == -0.5);
  CHECK(args.has("no-bos"));
  CHECK_FALSE(args.has("seed"));
  CHECK(args.get_uint64("seed", 42) == 42);
  CHECK(args.get_int("max-tokens", 7, 0, 10000) == 64);
  CHECK(args.get_all("input") == std::vector<std::string>{"a", "b"});
  CHECK(args.get("input") == "b");
  CHECK(args.require("prompt") == "Once upon");
  CHECK_THROWS_AS(args.require("seed"), UsageError);
  CHECK_THROWS_AS(args.has("undeclared"), std::logic_error);

  const Args negative({"-3", "--seed", "18446744073709551615"}, kOptions);
  CHECK(negative.positionals() == std::vector<std::string>{"-3"});
  CHECK(negative.get_uint64("seed", 0) == 18446744073709551615ull);
}

TEST_CASE("arguments: help wins over every other problem", "[cli]") {
  CHECK(Args({"--bogus", "--help"}, kOptions).help());
  CHECK(Args({"-h"}, kOptions).help());
  CHECK_FALSE(Args({"--", "--help"}, kOptions).help());
  const std::string text = mmb::cli::help_text("mmb generate BUNDLE [options]", "Generates text.", kOptions);
  CHECK(text.rfind("usage: mmb generate BUNDLE [options]\n", 0) == 0);
  CHECK(text.find("  --max-tokens N  most tokens\n") != std::string::npos);
  CHECK(text.find("  --no-bos        no BOS token\n") != std::string::npos);
  CHECK(text.find("  --help          show this help\n") != std::string::npos);
}

TEST_CASE("arguments: each mistake is one line naming the option", "[cli]") {
  CHECK(usage_error({"m"}) == "");
  CHECK(usage_error({}) == "missing BUNDLE");
  CHECK(usage_error({"m", "extra"}) == "unexpected argument 'extra' (expected BUNDLE)");
  CHECK(usage_error({"m", "--bogus"}) == "unknown option '--bogus'");
  CHECK(usage_error({"m", "-x"}) == "unknown option '-x' (options are spelled --name)");
  CHECK(usage_error({"m", "--prompt"}) == "--prompt needs a value (TEXT)");
  CHECK(usage_error({"m", "--no-bos=1"}) == "--no-bos takes no value");
  CHECK(usage_error({"m", "--temp", "1", "--temp", "2"}) == "--temp is given more than once");
  CHECK(usage_error({"m", "--max-tokens", "12x"}) == "--max-tokens expects an integer, got '12x'");
  CHECK(usage_error({"m", "--max-tokens", ""}) == "--max-tokens expects an integer, got ''");
  CHECK(usage_error({"m", "--max-tokens", "5000"}) == "--max-tokens is 5000; expected 0..1000");
  CHECK(usage_error({"m", "--max-tokens", "99999999999999999999"}) ==
        "--max-tokens is out of range: '99999999999999999999'");
  CHECK(usage_error({"m", "--temp", "hot"}) == "--temp expects a number, got 'hot'");
  CHECK(usage_error({"m", "--temp", "nan"}) == "--temp is not a finite number: 'nan'");
  CHECK(usage_error({"m", "--temp", "11"}) == "--temp is 11; expected a value in [0, 10]");
  CHECK(usage_error({"m", "--seed", "-1"}) == "--seed expects an unsigned integer, got '-1'");
}

TEST_CASE("arguments: integer lists", "[cli]") {
  CHECK(mmb::cli::parse_int_list("1,2, 3", "--tokens") == std::vector<int64_t>{1, 2, 3});
  CHECK(mmb::cli::parse_int_list("-7", "--tokens") == std::vector<int64_t>{-7});
  const auto error = [](const char* text) {
    try {
      mmb::cli::parse_int_list(text, "--tokens");
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(error("1,,2") == "item 2 of --tokens is empty");
  CHECK(error("") == "item 1 of --tokens is empty");
  CHECK(error("1,2,") == "item 3 of --tokens is empty");
  CHECK(error("1,b") == "item 2 of --tokens expects an integer, got 'b'");
}
