// The chat-template interpreter against the outside reference: every template of
// tests/chat/templates rendered for seeded random conversations, with and without the
// generation prompt, must give exactly the text of @huggingface/jinja (the interpreter
// transformers.js uses, run under node), and must raise exactly where it raises.
// Also the render speed, printed.
#include <catch2/catch.hpp>

#include "base/error.hpp"
#include "chat/chat_template.hpp"
#include "support/chat_reference.hpp"
#include "support/splitmix_rng.hpp"
#include "support/tokenizer_reference.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>

using namespace mmb;

namespace {

std::string templates_dir() { return std::string(MMB_SOURCE_DIR) + "/tests/chat/templates"; }

std::vector<std::string> template_names() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(templates_dir()))
    if (e.path().extension() == ".jinja") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string random_content(testing::SplitMixRng& rng) {
  static const std::vector<std::string> pieces = {
      "Hello", "world", "How are you?", "It's \"quoted\" and 'single'", "line one\nline two", "\n", "  ",
      "\t", "café", "日本語のテキスト", "emoji 🙂🚀", "{ \"json\": [1, 2] }", "{{ x }}", "{% if y %}z{% endif %}",
      "{# not a comment #}", "back\\slash", "</think>", "<think>plan</think>", "/no_think", "x", "<tool_response>",
      "</tool_response>", "-}}", "%}\n", "Ünïcödé", "3.14", "\r\n", "<|im_end|>", "[INST]", "a\x01" "b"};
  const uint32_t shape = rng.below(10);
  if (shape == 0) return "";
  std::string out;
  if (shape == 1) {  // long text
    for (int i = 0; i < 300; ++i) out += rng.pick(pieces) + " ";
    return out;
  }
  const uint32_t n = 1 + rng.below(6);
  for (uint32_t i = 0; i < n; ++i) {
    out += rng.pick(pieces);
    if (rng.coin()) out += ' ';
  }
  return out;
}

std::vector<ChatMessage> random_conversation(testing::SplitMixRng& rng) {
  std::vector<ChatMessage> messages;
  if (rng.below(3) == 0) messages.push_back({"system", random_content(rng)});
  const uint32_t turns = 1 + rng.below(9);
  const bool alternate = rng.below(10) < 6;
  for (uint32_t i = 0; i < turns; ++i) {
    std::string role = alternate ? (i % 2 == 0 ? "user" : "assistant")
                                 : rng.pick<std::string>({"user", "assistant", "tool", "user", "assistant"});
    if (!alternate && rng.below(20) == 0) role = "system";
    messages.push_back({role, random_content(rng)});
  }
  return messages;
}

struct Case {
  size_t template_index;
  std::vector<ChatMessage> messages;
  bool add_generation_prompt;
};

struct Outcome {
  bool ok;
  std::string text;  // the prompt, or the error message
};

// Ordered: the reference sees each message's keys in our order (role, content).
nlohmann::ordered_json to_json(const Case& c, const std::string& bos, const std::string& eos) {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  for (const ChatMessage& m : c.messages) messages.push_back({{"role", m.role}, {"content", m.content}});
  return {{"template", c.template_index}, {"messages", messages}, {"add_generation_prompt", c.add_generation_prompt},
          {"bos_token", bos}, {"eos_token", eos}, {"variables", {{"date_string", "26 Jul 2024"}}}};
}

std::string quoted(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

TEST_CASE("chat templates render byte-identically to @huggingface/jinja on random conversations", "[chat]") {
  const std::vector<std::string> names = template_names();
  REQUIRE(names.size() >= 10);
  std::vector<std::string> sources;
  std::vector<ChatTemplate> templates;
  for (const std::string& name : names) {
    sources.push_back(test::read_bytes(templates_dir() + "/" + name + ".jinja"));
    INFO("template " << name);
    templates.emplace_back(sources.back());
  }

  const std::string bos = "<s>", eos = "</s>";
  testing::SplitMixRng rng(20240726);
  std::vector<Case> cases;
  for (size_t t = 0; t < names.size(); ++t)
    for (int i = 0; i < 60; ++i) {
      std::vector<ChatMessage> conversation = random_conversation(rng);
      cases.push_back({t, conversation, false});
      cases.push_back({t, conversation, true});
    }

  nlohmann::ordered_json input = {{"templates", sources}, {"cases", nlohmann::ordered_json::array()}};
  for (const Case& c : cases) input["cases"].push_back(to_json(c, bos, eos));
  const nlohmann::json expected = test::render_with_reference(input);
  REQUIRE(expected.size() == cases.size());

  size_t mismatches = 0, raised = 0;
  std::vector<size_t> per_template_ok(names.size(), 0);
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    ChatRenderInput in;
    in.messages = c.messages;
    in.add_generation_prompt = c.add_generation_prompt;
    in.bos_token = bos;
    in.eos_token = eos;
    in.variables = {{"date_string", "26 Jul 2024"}};
    Outcome ours;
    try {
      ours = {true, templates[c.template_index].render(in)};
    } catch (const Error& e) {
      ours = {false, e.what()};
      CHECK(e.status() == MMB_ERR_TEMPLATE);
    }
    const bool ref_ok = expected[i]["ok"].get<bool>();
    const std::string ref_text = ref_ok ? expected[i]["text"].get<std::string>() : expected[i]["error"].get<std::string>();
    if (!ref_ok) ++raised;
    if (ours.ok && ref_ok && ours.text == ref_text) {
      ++per_template_ok[c.template_index];
      continue;
    }
    if (!ours.ok && !ref_ok) continue;  // both raise
    if (++mismatches > 8) continue;
    size_t at = 0;
    while (at < ours.text.size() && at < ref_text.size() && ours.text[at] == ref_text[at]) ++at;
    const size_t from = at > 40 ? at - 40 : 0;
    FAIL_CHECK("template " << names[c.template_index] << ", case " << i << (ours.ok ? "" : " (ours raised)")
                              << (ref_ok ? "" : " (reference raised)") << ", first difference at byte " << at
                              << ":\n  ours:      " << quoted(ours.text.substr(from, 120))
                              << "\n  reference: " << quoted(ref_text.substr(from, 120)));
  }
  std::printf("chat templates: %zu renders compared with @huggingface/jinja over %zu templates (%zu raise in both), %zu differ\n",
              cases.size(), names.size(), raised, mismatches);
  for (size_t t = 0; t < names.size(); ++t) {
    INFO("template " << names[t] << " must render (not raise) for some conversations");
    CHECK(per_template_ok[t] > 0);
  }
  CHECK(mismatches == 0);
}

TEST_CASE("chat template render speed, 10-turn conversation", "[chat]") {
  std::vector<ChatMessage> messages = {{"system", "You are a helpful assistant in a game."}};
  for (int i = 0; i < 10; ++i)
    messages.push_back({i % 2 ? "assistant" : "user", "Turn " + std::to_string(i) + ": a line of text of ordinary length, "
                                                      "with \"quotes\" and unicode café."});
  ChatRenderInput in;
  in.messages = messages;
  in.add_generation_prompt = true;
  in.bos_token = "<s>";
  in.variables = {{"date_string", "26 Jul 2024"}};
  for (const char* name : {"chatml", "llama3", "tool_role"}) {
    const ChatTemplate t(test::read_bytes(templates_dir() + "/" + name + ".jinja"));
    size_t renders = 0, bytes = 0;
    const auto start = std::chrono::steady_clock::now();
    double seconds = 0;
    while (seconds < 0.3) {
      for (int i = 0; i < 100; ++i) bytes += t.render(in).size();
      renders += 100;
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    std::printf("chat template %-10s: %.0f renders/s of a 10-turn conversation (%zu bytes each)\n", name,
                double(renders) / seconds, bytes / renders);
    CHECK(renders > 0);
  }
}

namespace {

// Random expressions over the interpreter's operators, filters, tests and methods, most
// of them ill-typed on purpose: where the reference raises we must raise too, and where
// it renders we must render the same text.
class ExpressionGenerator {
 public:
  explicit ExpressionGenerator(uint64_t seed) : rng_(seed) {}

  std::string template_text() {
    std::string out = "{% set ns = namespace(n=1) %}";
    const uint32_t parts = 1 + rng_.below(4);
    for (uint32_t i = 0; i < parts; ++i) {
      const uint32_t k = rng_.below(20);
      if (k < 12) out += "{{ " + expression(0) + " }}|";
      else if (k < 15) out += "{% for x in " + expression(0) + " %}{{ loop.index }}:{{ x }} {% else %}E{% endfor %}|";
      else if (k < 18) out += "{% if " + expression(0) + " %}T{% else %}F{% endif %}|";
      else out += "{% set ns.n = " + expression(0) + " %}{{ ns.n }}|";
    }
    return out;
  }

 private:
  testing::SplitMixRng rng_;

  std::string expression(int depth) {
    static const std::vector<std::string> atoms = {
        "1", "2", "0", "-3", "1.5", "2.0", "0.0", "'a'", "'B c'", "''", "' x '", "none", "true", "false", "undefined_v",
        "messages", "messages[0]", "messages[1].content", "messages|length", "[1, 2]", "['x', 'y']", "[]", "{'k': 1}",
        "{}", "x", "ns.n", "'éü'", "'a,b'", "range(3)", "messages[-1]", "messages[0]['role']", "(1, 2)",
        "'ÀéßΣσЖж'"};
    static const std::vector<std::string> binary = {"+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", ">",
                                                    "<=", ">=", "in", "not in", "and", "or"};
    static const std::vector<std::string> filters = {
        "trim", "upper", "lower", "title", "capitalize", "length", "first", "last", "reverse", "sort", "join",
        "join(',')", "string", "int", "float", "abs", "list", "unique", "tojson", "tojson(indent=2)", "items", "keys",
        "values", "default('d')", "default('d', true)", "indent", "indent(2, true)", "replace('a', 'b')",
        "selectattr('role', 'equalto', 'user')", "map(attribute='role')", "safe", "dictsort", "bool"};
    static const std::vector<std::string> tests = {"defined", "undefined", "none", "string", "number", "mapping",
                                                   "iterable", "sequence", "boolean", "true", "false", "even",
                                                   "odd", "integer", "lower", "upper", "callable"};
    static const std::vector<std::string> methods = {
        ".strip()", ".upper()", ".split()", ".split(',')", ".startswith('a')", ".endswith(('x', 'a'))",
        ".replace('a', 'z')", ".get('role')", ".get('x', 2)", ".items()", ".keys()", ".values()", ".title()",
        ".lstrip()", ".rstrip()", "[0]", "[1:]", "[::-1]", "[-1]", ".role", ".length", "['content']"};
    const uint32_t r = rng_.below(100);
    if (depth > 3 || r < 30) return rng_.pick(atoms);
    if (r < 50) return expression(depth + 1) + " " + rng_.pick(binary) + " " + expression(depth + 1);
    if (r < 65) return "(" + expression(depth + 1) + ")|" + rng_.pick(filters);
    if (r < 72) return expression(depth + 1) + " is " + (rng_.below(3) == 0 ? "not " : "") + rng_.pick(tests);
    if (r < 85) return "(" + expression(depth + 1) + ")" + rng_.pick(methods);
    // In parentheses: after an operator, the reference reads "not (x)" as a call of a
    // function named not, which we refuse when compiling.
    if (r < 90) return "(not " + expression(depth + 1) + ")";
    if (r < 95) return expression(depth + 1) + " if " + expression(depth + 1) + " else " + expression(depth + 1);
    return "-" + expression(depth + 1);
  }
};

}  // namespace

TEST_CASE("random expressions render, or raise, as with @huggingface/jinja", "[chat]") {
  const std::vector<ChatMessage> messages = {{"system", "  Be brief.\n"}, {"user", "Hi {{ there }} \"you\"\n\tcafé"},
                                             {"assistant", "<think>hmm</think>\n Hello!"}, {"tool", ""}, {"user", "a-b-c  d"}};
  ExpressionGenerator generator(20241206);
  std::vector<std::string> sources;
  for (int i = 0; i < 3000; ++i) sources.push_back(generator.template_text());
  Case conversation{0, messages, true};
  nlohmann::ordered_json input = {{"templates", sources}, {"cases", nlohmann::ordered_json::array()}};
  for (size_t i = 0; i < sources.size(); ++i) {
    conversation.template_index = i;
    input["cases"].push_back(to_json(conversation, "<s>", "</s>"));
  }
  const nlohmann::json expected = test::render_with_reference(input);
  REQUIRE(expected.size() == sources.size());
  size_t rendered = 0, mismatches = 0;
  for (size_t i = 0; i < sources.size(); ++i) {
    ChatRenderInput in;
    in.messages = messages;
    in.add_generation_prompt = true;
    in.bos_token = "<s>";
    in.eos_token = "</s>";
    in.variables = {{"date_string", "26 Jul 2024"}};
    Outcome ours;
    try {
      ours = {true, ChatTemplate(sources[i]).render(in)};
    } catch (const Error& e) {
      ours = {false, e.what()};
    }
    const bool ref_ok = expected[i]["ok"].get<bool>();
    if (ours.ok && ref_ok && ours.text == expected[i]["text"].get<std::string>()) {
      ++rendered;
      continue;
    }
    if (!ours.ok && !ref_ok) continue;
    if (++mismatches > 8) continue;
    FAIL_CHECK("template " << sources[i] << "\n  ours: " << (ours.ok ? "" : "raised ") << quoted(ours.text)
                           << "\n  reference: " << (ref_ok ? quoted(expected[i]["text"].get<std::string>())
                                                          : "raised " + expected[i]["error"].get<std::string>()));
  }
  std::printf("chat templates: %zu random expression templates, %zu render (the rest raise) as the reference, %zu differ\n",
              sources.size(), rendered, mismatches);
  CHECK(rendered > 300);
  CHECK(mismatches == 0);
}
