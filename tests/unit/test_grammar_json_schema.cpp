// The JSON Schema front end (src/grammar/json_schema_grammar) and its number ranges
// (decimal_range): the integer ranges against brute force, each schema of
// tests/grammar/schemas against documents that must and must not be sentences (read by
// the independent recognizer of tests/support), every refusal with its exact pointer,
// and random sentences of every schema validated by ajv under node
// (tests/grammar/validate_json.mjs).
#include <catch2/catch.hpp>

#include "base/error.hpp"
#include "grammar/decimal_range.hpp"
#include "grammar/grammar_program.hpp"
#include "grammar/json_schema_grammar.hpp"
#include "support/grammar_recognizer.hpp"
#include "support/tokenizer_reference.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace mmb;
using namespace mmb::grammar;
using mmb::testing::grammar_random_sentence;
using mmb::testing::grammar_recognizes;

namespace {

GrammarAst one_rule(Expr e) {
  GrammarAst ast;
  ast.rules.push_back(Rule{"root", std::move(e), ""});
  return ast;
}

std::string schemas_dir() { return std::string(MMB_SOURCE_DIR) + "/tests/grammar/schemas"; }

// Every schema of tests/grammar/schemas, by file name.
std::vector<std::string> schema_names() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(schemas_dir()))
    if (e.path().extension() == ".json") names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string schema_text(const std::string& name) { return test::read_bytes(schemas_dir() + "/" + name); }

GrammarAst schema_grammar(const std::string& name, int32_t whitespace = 1) {
  return json_schema_grammar(schema_text(name), JsonGrammarOptions{whitespace});
}

GrammarAst inline_grammar(const std::string& schema, int32_t whitespace = 1) {
  return json_schema_grammar(schema, JsonGrammarOptions{whitespace});
}

// The message of the MMB_ERR_GRAMMAR the schema raises ("" when it compiles).
std::string error_of(const std::string& schema) {
  try {
    json_schema_grammar(schema, JsonGrammarOptions{});
  } catch (const Error& e) {
    CHECK(e.status() == MMB_ERR_GRAMMAR);
    return e.what();
  }
  return "";
}

// A recognizer for decimal integers written the JSON way, by hand (no regex).
std::optional<long long> plain_integer(const std::string& s) {
  size_t i = s[0] == '-' ? 1 : 0;
  if (i >= s.size()) return std::nullopt;
  if (s[i] == '0' && (s.size() > i + 1 || i == 1)) return std::nullopt;  // leading zero, "-0"
  for (size_t j = i; j < s.size(); ++j)
    if (s[j] < '0' || s[j] > '9') return std::nullopt;
  return std::stoll(s);
}

}  // namespace

TEST_CASE("Integer ranges hold exactly their integers, without leading zeros or -0", "[grammar]") {
  const std::vector<long long> ends = {-1001, -1000, -999, -100, -99, -15, -10, -9, -1, 0,
                                       1,     9,     10,   11,   99,  100, 230, 999, 1000};
  std::vector<std::string> texts = {"", "-", "-0", "00", "01", "-01", "+1", "1.0", "1e2", " 1", "--1", "0-"};
  for (long long v = -1100; v <= 1100; ++v) texts.push_back(std::to_string(v));
  std::vector<std::optional<long long>> bounds(ends.begin(), ends.end());
  bounds.push_back(std::nullopt);
  for (const auto& lo : bounds) {
    for (const auto& hi : bounds) {
      if (lo && hi && *lo > *hi) continue;
      const GrammarAst ast = one_rule(integer_range_expr(lo, hi));
      for (const std::string& t : texts) {
        const std::optional<long long> v = t.empty() ? std::nullopt : plain_integer(t);
        const bool want = v && (!lo || *v >= *lo) && (!hi || *v <= *hi);
        INFO("range [" << (lo ? std::to_string(*lo) : "open") << ", " << (hi ? std::to_string(*hi) : "open")
                       << "], text '" << t << "'");
        REQUIRE(grammar_recognizes(ast, t) == want);
      }
    }
  }
  // Open sides reach far: an 30-digit integer is in [0, open).
  CHECK(grammar_recognizes(one_rule(integer_range_expr(0, std::nullopt)), "123456789012345678901234567890"));
  CHECK(grammar_recognizes(one_rule(integer_range_expr(std::nullopt, -3)), "-123456789012345678901234567890"));
  CHECK_THROWS_AS(integer_range_expr(5, 4), Error);
}

TEST_CASE("Integer ranges at the ends of int64", "[grammar]") {
  const GrammarAst all = one_rule(integer_range_expr(INT64_MIN, INT64_MAX));
  CHECK(grammar_recognizes(all, "-9223372036854775808"));
  CHECK(grammar_recognizes(all, "9223372036854775807"));
  CHECK_FALSE(grammar_recognizes(all, "-9223372036854775809"));
  CHECK_FALSE(grammar_recognizes(all, "9223372036854775808"));
  CHECK_FALSE(grammar_recognizes(all, "10000000000000000000"));
  const GrammarAst near = one_rule(integer_range_expr(9223372036854775800LL, std::nullopt));
  CHECK(grammar_recognizes(near, "9223372036854775800"));
  CHECK(grammar_recognizes(near, "99999999999999999999"));
  CHECK_FALSE(grammar_recognizes(near, "9223372036854775799"));
}

TEST_CASE("Number ranges hold only numbers inside their bounds", "[grammar]") {
  struct Case {
    NumberBounds b;
    std::vector<std::string> must;  // near the bounds, at a tenth's resolution
  };
  const std::vector<Case> cases = {
      {{0.0, false, 1.0, false}, {"0", "1", "0.0", "0.5", "0.99999", "0.123"}},
      {{0.0, true, 1.0, true}, {"0.1", "0.9", "0.95", "0.5"}},
      {{-40.5, true, 60.25, true}, {"-40.4", "-40", "-0.5", "0", "60.1", "60.19", "60"}},
      {{-2.0, false, -1.0, true}, {"-2", "-1.1", "-1.5", "-1.99"}},
      {{0.5, false, std::nullopt, false}, {"0.5", "0.55", "1", "12345.6789"}},
      {{std::nullopt, false, -0.25, false}, {"-0.3", "-1", "-1000.5"}},
      {{std::nullopt, false, 0.0, true}, {"-0.1", "-0.15", "-1"}},
  };
  std::vector<std::string> texts;
  for (int i = -4500; i <= 7000; i += 1) {
    std::ostringstream a, b;
    a << (i < 0 ? "-" : "") << std::abs(i) / 100 << "." << (std::abs(i) / 10) % 10 << std::abs(i) % 10;
    texts.push_back(a.str());
    if (i % 10 == 0) {
      b << (i < 0 ? "-" : "") << std::abs(i) / 100 << "." << (std::abs(i) / 10) % 10;
      texts.push_back(b.str());
    }
    if (i % 100 == 0) texts.push_back(std::to_string(i / 100));
  }
  for (const std::string t : {"-0", "-0.0", "0.", ".5", "1e1", "01", "00.5", "-"}) texts.push_back(t);
  for (const Case& c : cases) {
    const std::optional<Expr> e = number_range_expr(c.b);
    REQUIRE(e);
    const GrammarAst ast = one_rule(*e);
    const auto inside = [&](double x) {
      return (!c.b.lo || (c.b.lo_exclusive ? x > *c.b.lo : x >= *c.b.lo)) &&
             (!c.b.hi || (c.b.hi_exclusive ? x < *c.b.hi : x <= *c.b.hi));
    };
    for (const std::string& t : texts) {
      if (!grammar_recognizes(ast, t)) continue;
      INFO("text '" << t << "'");
      REQUIRE(t != "0.");
      REQUIRE(t.find('.') != 0);
      REQUIRE(inside(std::strtod(t.c_str(), nullptr)));
    }
    for (const std::string& t : c.must) {
      INFO("text '" << t << "'");
      CHECK(grammar_recognizes(ast, t));
    }
  }
  CHECK_FALSE(number_range_expr(NumberBounds{0.01, false, 0.05, false}).has_value());
  const GrammarAst free = one_rule(*number_range_expr(NumberBounds{}));
  for (const char* t : {"0", "-0", "1.5", "-12.25e-3", "1E+9", "3e7"}) CHECK(grammar_recognizes(free, t));
  for (const char* t : {"01", "1.", ".5", "+1", "1e", "--1", "NaN"}) CHECK_FALSE(grammar_recognizes(free, t));
}

TEST_CASE("npc_action.json: enums, bounded strings, an optional property", "[grammar]") {
  const GrammarAst g = schema_grammar("npc_action.json");
  CHECK(grammar_recognizes(g, R"({"action":"attack","target":"orc","say":"Die!"})"));
  CHECK(grammar_recognizes(g, R"({"action":"talk","target":"","say":"","mood":"calm"})"));
  CHECK(grammar_recognizes(g, "{\n\"action\": \"flee\",\t\"target\": \"a\\\"b\\\\c\\u00e9\",\n\"say\": \"ok\"\n}"));
  CHECK(grammar_recognizes(g, R"({"action":"trade","target":"x","say":"日本語も","mood":"afraid"})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"action":"dance","target":"orc","say":""})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"target":"orc","action":"attack","say":""})"));  // order
  CHECK_FALSE(grammar_recognizes(g, R"({"action":"attack","target":"orc"})"));            // say missing
  CHECK_FALSE(grammar_recognizes(g, R"({"action":"attack","target":"1234567890123456789012345","say":""})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"action":"attack","target":"x","say":"","mood":"sad"})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"action":"attack","target":"x","say":"","extra":1})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"action":"attack","target":"a)" "\n" R"(","say":""})"));  // raw newline
  CHECK_FALSE(grammar_recognizes(g, R"({"action":"attack","target":"\ud83d\ude00","say":""})"));  // surrogate escapes
  CHECK_FALSE(grammar_recognizes(g, R"({"action":"attack","target":"\x","say":""})"));
  // Whitespace: at most one character per place with the default, none with 0, never
  // around the document.
  CHECK_FALSE(grammar_recognizes(g, "{  \"action\":\"flee\",\"target\":\"\",\"say\":\"\"}"));
  CHECK_FALSE(grammar_recognizes(g, " {\"action\":\"flee\",\"target\":\"\",\"say\":\"\"}"));
  CHECK_FALSE(grammar_recognizes(g, "{\"action\" :\"flee\",\"target\":\"\",\"say\":\"\"}"));
  const GrammarAst compact = schema_grammar("npc_action.json", 0);
  CHECK(grammar_recognizes(compact, R"({"action":"flee","target":"","say":""})"));
  CHECK_FALSE(grammar_recognizes(compact, R"({"action": "flee","target":"","say":""})"));
  const GrammarAst roomy = schema_grammar("npc_action.json", 3);
  CHECK(grammar_recognizes(roomy, "{\n  \"action\":   \"flee\",\n  \"target\": \"\",\n  \"say\": \"\"\n}"));
}

TEST_CASE("tool_call.json: nested objects and integer bounds", "[grammar]") {
  const GrammarAst g = schema_grammar("tool_call.json");
  CHECK(grammar_recognizes(g, R"({"name":"move_to","arguments":{"position":{"x":-500,"y":500}}})"));
  CHECK(grammar_recognizes(g, R"({"name":"wait","arguments":{"position":{"x":0,"y":0},"seconds":3600,"quiet":true}})"));
  CHECK(grammar_recognizes(g, R"({"name":"pick_up","arguments":{"position":{"x":1,"y":2},"item":"key"}})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"name":"move_to","arguments":{"position":{"x":-501,"y":0}}})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"name":"move_to","arguments":{"position":{"x":-0,"y":0}}})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"name":"move_to","arguments":{"position":{"x":05,"y":0}}})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"name":"wait","arguments":{"position":{"x":0,"y":0},"seconds":3601}})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"name":"wait","arguments":{"position":{"x":0,"y":0},"item":""}})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"name":"wait","arguments":{"seconds":1}})"));
}

TEST_CASE("inventory.json: an array of 1 to 4 objects", "[grammar]") {
  const GrammarAst g = schema_grammar("inventory.json");
  const std::string item = R"({"name":"sword","count":1,"rare":false})";
  CHECK(grammar_recognizes(g, "{\"items\":[" + item + "]}"));
  CHECK(grammar_recognizes(g, "{\"items\":[\n" + item + ",\n" + item + ",\n" + item + ",\n" + item + "\n]}"));
  CHECK(grammar_recognizes(g, R"({"items":[{"name":"gem","count":99,"rare":true}]})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"items":[]})"));
  CHECK_FALSE(grammar_recognizes(g, "{\"items\":[" + item + "," + item + "," + item + "," + item + "," + item + "]}"));
  CHECK_FALSE(grammar_recognizes(g, R"({"items":[{"name":"gem","count":100,"rare":true}]})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"items":[{"name":"gem","count":0,"rare":true}]})"));
  CHECK_FALSE(grammar_recognizes(g, "{\"items\":[" + item + ",]}"));
}

TEST_CASE("numbers.json: integer and number ranges, negative and exclusive", "[grammar]") {
  const GrammarAst g = schema_grammar("numbers.json", 0);
  const auto doc = [](const std::string& level, const std::string& offset, const std::string& debt,
                      const std::string& ratio, const std::string& temp, const std::string& chance,
                      const std::string& rest = "") {
    return "{\"level\":" + level + ",\"offset\":" + offset + ",\"debt\":" + debt + ",\"ratio\":" + ratio +
           ",\"temperature\":" + temp + ",\"chance\":" + chance + rest + "}";
  };
  CHECK(grammar_recognizes(g, doc("1", "-15", "-999", "0", "-40.4", "0.5")));
  CHECK(grammar_recognizes(g, doc("60", "230", "-1", "1", "60.19", "0.999")));
  CHECK_FALSE(grammar_recognizes(g, doc("60", "230", "-1", "1", "60.2", "0.999")));  // [60.2, 60.3) crosses the bound
  CHECK(grammar_recognizes(
      g, R"({"level":33,"offset":0,"debt":-500,"seed":123456789012,"depth":-3,"ratio":0.25,"temperature":0,"chance":0.1})"));
  CHECK(grammar_recognizes(g, doc("1", "1", "-1", "1", "1", "0.1", ",\"score\":-1.5e-7,\"weight\":0.5")));
  CHECK_FALSE(grammar_recognizes(g, doc("0", "0", "-1", "0", "0", "0.5")));
  CHECK_FALSE(grammar_recognizes(g, doc("1", "-16", "-1", "0", "0", "0.5")));
  CHECK_FALSE(grammar_recognizes(g, doc("1", "231", "-1", "0", "0", "0.5")));
  CHECK_FALSE(grammar_recognizes(g, doc("1", "0", "-1000", "0", "0", "0.5")));
  CHECK_FALSE(grammar_recognizes(g, doc("1", "0", "0", "0", "0", "0.5")));
  CHECK_FALSE(grammar_recognizes(g, doc("1", "0", "-1", "1.5", "0", "0.5")));
  CHECK_FALSE(grammar_recognizes(g, doc("1", "0", "-1", "0", "-40.5", "0.5")));
  CHECK_FALSE(grammar_recognizes(g, doc("1", "0", "-1", "0", "60.25", "0.5")));
  CHECK_FALSE(grammar_recognizes(g, doc("1", "0", "-1", "0", "0", "0")));
  CHECK_FALSE(grammar_recognizes(g, doc("1", "0", "-1", "0", "0", "1")));
  CHECK_FALSE(grammar_recognizes(
      g, R"({"level":1,"offset":0,"debt":-1,"depth":-2,"ratio":0,"temperature":0,"chance":0.5})"));
  CHECK_FALSE(grammar_recognizes(g, doc("1", "0", "-1", "0", "0", "0.5", ",\"weight\":0.4")));
  CHECK_FALSE(grammar_recognizes(g, doc("1", "0", "-1", "0", "1e-1", "0.5")));
}

TEST_CASE("unicode.json: enums in Japanese, emoji and accents", "[grammar]") {
  const GrammarAst g = schema_grammar("unicode.json");
  CHECK(grammar_recognizes(g, R"({"greeting":"こんにちは","emoji":"🐉🔥","city":"Zürich","note":"ok"})"));
  CHECK(grammar_recognizes(g, R"({"greeting":"さようなら","emoji":"👍🏽","city":"São Paulo","note":"日本語です"})"));
  CHECK(grammar_recognizes(g, R"({"greeting":"ありがとう","emoji":"😀","city":"Kraków","note":"😀😀😀😀😀😀"})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"greeting":"こんばんは","emoji":"😀","city":"Kraków","note":"ok"})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"greeting":"ありがとう","emoji":"😀","city":"Zurich","note":"ok"})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"greeting":"ありがとう","emoji":"😀","city":"Kraków","note":"😀"})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"greeting":"ありがとう","emoji":"😀","city":"Kraków","note":"1234567"})"));
}

TEST_CASE("anyof.json, defs_recursive.json and free.json", "[grammar]") {
  const GrammarAst any = schema_grammar("anyof.json");
  CHECK(grammar_recognizes(any, "null"));
  CHECK(grammar_recognizes(any, R"("hello")"));
  CHECK(grammar_recognizes(any, R"({"kind":"point","x":-10,"y":9.75})"));
  CHECK_FALSE(grammar_recognizes(any, R"({"kind":"point","x":-10.5,"y":0})"));
  CHECK_FALSE(grammar_recognizes(any, R"("a string far too long")"));
  CHECK_FALSE(grammar_recognizes(any, "true"));

  const GrammarAst tree = schema_grammar("defs_recursive.json");
  CHECK(grammar_recognizes(tree, R"({"name":"a"})"));
  CHECK(grammar_recognizes(tree, R"({"name":"a","children":[]})"));
  CHECK(grammar_recognizes(tree, R"({"name":"a","children":[{"name":"b","children":[{"name":"c"},{"name":"d"}]}]})"));
  CHECK_FALSE(grammar_recognizes(tree, R"({"name":"a","children":[{"name":"b"},{"name":"c"},{"name":"d"}]})"));
  CHECK_FALSE(grammar_recognizes(tree, R"({"children":[]})"));

  const GrammarAst free = schema_grammar("free.json");
  for (const char* t : {"null", "true", "0", "-1.5e3", R"("x")", "[]", "{}", R"({"a":[1,{"b":null}],"c":"d"})",
                        "[\n1,\n2\n]"})
    CHECK(grammar_recognizes(free, t));
  for (const char* t : {"", "nul", "[1,]", "{\"a\"}", " 1", "[1 ,2]", "'x'"}) CHECK_FALSE(grammar_recognizes(free, t));
  for (const char* schema : {"true", "{}", R"({"title":"t","description":"d","x-note":1})"})
    CHECK(grammar_recognizes(inline_grammar(schema), R"({"a":[1,2]})"));
}

TEST_CASE("Each optional property may be left out on its own", "[grammar]") {
  const GrammarAst g = schema_grammar("optional_props.json");
  const std::vector<std::string> kv = {R"("a":7)", R"("b":false)", R"("c":null)", R"("d":[1,"ab",null])"};
  for (int mask = 0; mask < 16; ++mask) {
    std::string doc = "{";
    for (int i = 0; i < 4; ++i)
      if (mask & (1 << i)) doc += (doc.size() > 1 ? "," : "") + kv[i];
    doc += "}";
    INFO(doc);
    CHECK(grammar_recognizes(g, doc));
    CHECK_FALSE(grammar_recognizes(g, doc.substr(0, doc.size() - 1) + (mask ? ",}" : ",")));
  }
  CHECK_FALSE(grammar_recognizes(g, R"({,"a":1})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"a":1,,"b":true})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"b":true,"a":1})"));
  // prefixItems then items (null), at most 4; a prefix may stop early.
  CHECK(grammar_recognizes(g, R"({"d":[]})"));
  CHECK(grammar_recognizes(g, R"({"d":[3]})"));
  CHECK(grammar_recognizes(g, R"({"d":[3,"abc",null,null]})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"d":[3,"abc",null,null,null]})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"d":[4]})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"d":[3,1]})"));
  CHECK(grammar_recognizes(g, R"({"c":"abcd"})"));
  CHECK_FALSE(grammar_recognizes(g, R"({"c":"abcde"})"));
}

TEST_CASE("Schema keywords beyond the basics", "[grammar]") {
  // Free keys whose values follow additionalProperties.
  const GrammarAst map = inline_grammar(R"({"type":"object","additionalProperties":{"type":"integer","minimum":0}})");
  CHECK(grammar_recognizes(map, R"({})"));
  CHECK(grammar_recognizes(map, R"({"a":1,"b":2})"));
  CHECK_FALSE(grammar_recognizes(map, R"({"a":-1})"));
  // A required name outside properties is still written, with a free value.
  const GrammarAst req = inline_grammar(R"({"properties":{"a":{"type":"null"}},"required":["z"]})");
  CHECK(grammar_recognizes(req, R"({"a":null,"z":[1]})"));
  CHECK(grammar_recognizes(req, R"({"z":"q"})"));
  CHECK_FALSE(grammar_recognizes(req, R"({"a":null})"));
  // Enums of any values, compact; const; type lists; draft-7 tuples; allOf of one.
  const GrammarAst en = inline_grammar(R"({"enum":[{"a":[1,2]},null,"x",3.5,true]})");
  for (const char* t : {R"({"a":[1,2]})", "null", R"("x")", "3.5", "true"}) CHECK(grammar_recognizes(en, t));
  CHECK_FALSE(grammar_recognizes(en, R"({"a": [1,2]})"));
  CHECK(grammar_recognizes(inline_grammar(R"({"const":"on"})"), R"("on")"));
  const GrammarAst types = inline_grammar(R"({"type":["integer","boolean","null"],"maximum":3})");
  for (const char* t : {"3", "-7", "true", "null"}) CHECK(grammar_recognizes(types, t));
  CHECK_FALSE(grammar_recognizes(types, "4"));
  const GrammarAst tuple =
      inline_grammar(R"({"type":"array","items":[{"type":"boolean"},{"type":"null"}],"additionalItems":false})");
  CHECK(grammar_recognizes(tuple, "[true,null]"));
  CHECK(grammar_recognizes(tuple, "[true]"));
  CHECK_FALSE(grammar_recognizes(tuple, "[true,null,null]"));
  CHECK(grammar_recognizes(inline_grammar(R"({"allOf":[{"type":"string","maxLength":1}]})"), R"("a")"));
  const GrammarAst draft4 = inline_grammar(R"({"type":"integer","minimum":0,"exclusiveMinimum":true})");
  CHECK_FALSE(grammar_recognizes(draft4, "0"));
  CHECK(grammar_recognizes(draft4, "1"));
  // A root that refers to itself through "#".
  const GrammarAst self =
      inline_grammar(R"({"type":"array","maxItems":2,"items":{"anyOf":[{"$ref":"#"},{"type":"integer"}]}})");
  CHECK(grammar_recognizes(self, "[[1,[]],2]"));
  CHECK_FALSE(grammar_recognizes(self, "[1,2,3]"));
  // Rules know where they came from.
  const GrammarAst npc = schema_grammar("npc_action.json");
  std::set<std::string> wheres;
  for (const Rule& r : npc.rules) wheres.insert(r.where);
  CHECK(npc.rules[npc.root].where == "/");
  CHECK(wheres.count("/properties/target"));
  CHECK(wheres.count("/properties/mood"));
}

TEST_CASE("Schemas the compiler refuses, with the pointer of the fault", "[grammar]") {
  CHECK(error_of("{\"type\":\n \"object\",,}") ==
        "schema line 2, column 11: syntax error while parsing object key - unexpected ','; expected string literal");
  CHECK(error_of("").rfind("schema line 1, column 1: ", 0) == 0);
  CHECK(error_of(R"({"type":"string","pattern":"a+"})") == "schema at /pattern: unsupported keyword 'pattern'");
  CHECK(error_of(R"({"properties":{"target":{"type":"string","format":"email"}}})") ==
        "schema at /properties/target/format: unsupported keyword 'format'");
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"multipleOf", "2"},      {"patternProperties", "{}"}, {"propertyNames", "{}"},
      {"dependentRequired", "{}"}, {"if", "{}"},             {"then", "{}"},
      {"else", "{}"},           {"not", "{}"},               {"minProperties", "1"},
      {"maxProperties", "1"},   {"contains", "{}"},          {"unevaluatedProperties", "false"},
      {"uniqueItems", "true"},  {"dependentSchemas", "{}"},  {"$dynamicRef", "\"#x\""},
  };
  for (const auto& [key, value] : refused) {
    INFO(key);
    CHECK(error_of(R"({"items":{"properties":{"a~b/c":{")" + key + "\":" + value + "}}}}") ==
          "schema at /items/properties/a~0b~1c/" + key + ": unsupported keyword '" + key +
              (key == "uniqueItems" ? "' (true)" : "'"));
  }
  CHECK(error_of(R"({"type":"object","properties":{"a":{}},"required":["a","b"],"additionalProperties":false})") ==
        "schema at /required/1: required property 'b' is not in properties and additionalProperties is false");
  CHECK(error_of(R"({"type":"array","minItems":3,"maxItems":2})") == "schema at /minItems: minItems 3 is above maxItems 2");
  CHECK(error_of(R"({"type":"string","minLength":5,"maxLength":4})") ==
        "schema at /minLength: minLength 5 is above maxLength 4");
  CHECK(error_of(R"({"type":"integer","minimum":5,"maximum":4})") ==
        "schema at /minimum: minimum 5 leaves no value up to maximum 4");
  CHECK(error_of(R"({"type":"number","exclusiveMinimum":1,"maximum":1})") ==
        "schema at /exclusiveMinimum: exclusiveMinimum 1 leaves no value up to maximum 1");
  CHECK(error_of(R"({"type":"integer","exclusiveMinimum":1,"exclusiveMaximum":2})") ==
        "schema at /: no integer lies within the bounds");
  CHECK(error_of(R"({"properties":{"target":{"enum":[]}}})") == "schema at /properties/target/enum: enum is empty");
  CHECK(error_of(R"({"properties":{"target":{"type":"string","enum":["a","b",3]}}})") ==
        "schema at /properties/target/enum/2: 3 does not satisfy the schema's other keywords");
  CHECK(error_of(R"({"type":"string","maxLength":100001})") ==
        "schema at /maxLength: maxLength 100001 is above the limit of 100000");
  CHECK(error_of(R"({"type":"array","minItems":200000})") ==
        "schema at /minItems: minItems 200000 is above the limit of 100000");
  CHECK(error_of(R"({"type":"string","minLength":-1})") == "schema at /minLength: minLength must be a non-negative integer");
  CHECK(error_of(R"({"$ref":"#/properties/a"})") ==
        "schema at /$ref: $ref '#/properties/a' is not supported or names nothing (only \"#\", \"#/$defs/NAME\" and "
        "\"#/definitions/NAME\")");
  CHECK(error_of(R"({"$ref":"#/$defs/missing","$defs":{}})").rfind("schema at /$ref: $ref '#/$defs/missing' is", 0) == 0);
  CHECK(error_of(R"({"$ref":"other.json"})").rfind("schema at /$ref: ", 0) == 0);
  CHECK(error_of(R"({"allOf":[{},{}]})") == "schema at /allOf: allOf with more than one subschema is not supported");
  CHECK(error_of(R"({"type":"object","anyOf":[{}]})") == "schema at /type: 'type' beside 'anyOf' is not supported");
  CHECK(error_of(R"({"anyOf":[]})") == "schema at /anyOf: anyOf must be a non-empty array of schemas");
  CHECK(error_of(R"({"oneOf":[{"type":"strin"}]})") == "schema at /oneOf/0/type: unknown type 'strin'");
  CHECK(error_of(R"({"items":false,"minItems":1})") ==
        "schema at /minItems: minItems 1 is more items than the schema allows (0)");
  CHECK(error_of("false") == "schema at /: the schema false accepts no value");
  CHECK(error_of("[1]") == "schema at /: a schema must be an object or a boolean, not [1]");
  CHECK(error_of(R"({"properties":{"a":false},"required":["a"]})") ==
        "schema at /properties/a: required property 'a' has the schema false");
  CHECK(error_of(R"({"type":"number","minimum":1e16})") == "schema at /minimum: minimum 1e+16 is beyond ±1e13");
  CHECK(error_of(R"({"const":1,"enum":[2]})") == "schema at /const: const 1 is not in enum");
  CHECK_THROWS_AS(json_schema_grammar("{}", JsonGrammarOptions{-1}), Error);
}

TEST_CASE("Every schema's grammar lowers into a program the matcher runs", "[grammar]") {
  for (const std::string& name : schema_names()) {
    for (int32_t whitespace : {0, 1, 4}) {
      INFO(name << ", whitespace " << whitespace);
      const GrammarAst ast = schema_grammar(name, whitespace);
      CHECK(ast.rules.at(ast.root).where == "/");
      const GrammarProgram program(ast);
      CHECK(program.n_elements() < 200000);
    }
  }
}

TEST_CASE("Random sentences of every schema validate with ajv", "[grammar]") {
  const std::string ajv_dir = std::string(MMB_DEPS_DIR) + "/npm/node_modules/ajv";
  if (std::system("node --version > /dev/null 2>&1") != 0) {
    WARN("skipped: node (Node.js) is not installed or not on PATH (sdk/scripts/setup.sh)");
    return;
  }
  if (!std::filesystem::exists(ajv_dir + "/package.json")) {
    WARN("skipped: ajv is missing from " << ajv_dir << " (sdk/scripts/setup.sh)");
    return;
  }
  ::setenv("MMB_DEPS_DIR", MMB_DEPS_DIR, 1);
  test::ScratchDir scratch("json_schema_ajv");
  const std::vector<std::string> names = schema_names();
  REQUIRE(names.size() >= 8);
  for (const std::string& name : names) {
    std::vector<std::string> docs;
    std::string lines;
    for (int whitespace : {0, 1, 2}) {
      const GrammarAst g = schema_grammar(name, whitespace);
      for (uint64_t seed = 1; seed <= 40; ++seed) {
        const std::string doc = grammar_random_sentence(g, seed * 7919 + whitespace, seed % 2 ? 60 : 300);
        INFO(name << " sentence " << doc);
        REQUIRE(grammar_recognizes(g, doc));
        docs.push_back(doc);
        lines += nlohmann::json(doc).dump() + "\n";
      }
    }
    test::write_bytes(scratch.path("docs.txt"), lines);
    test::run_node_script("validate_json.mjs", {schemas_dir() + "/" + name, scratch.path("docs.txt"),
                                                scratch.path("results.txt")}, "grammar");
    std::istringstream results(test::read_bytes(scratch.path("results.txt")));
    std::string line;
    size_t i = 0;
    for (; std::getline(results, line); ++i) {
      REQUIRE(i < docs.size());
      INFO(name << ": " << docs[i] << "\najv: " << line);
      CHECK(line == "OK");
    }
    CHECK(i == docs.size());
  }
}
