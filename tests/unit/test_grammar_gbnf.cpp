// The grammar front ends that produce a GrammarAst (GBNF text, choice lists) and the
// Earley recognizer the end-to-end tests judge constrained output with: each GBNF
// construct by the tree it gives and the strings its language holds, every error with
// its line and column, and the recognizer against grammars whose languages are known.
#include <catch2/catch.hpp>

#include "base/error.hpp"
#include "grammar/choice_grammar.hpp"
#include "grammar/gbnf_parser.hpp"
#include "support/grammar_recognizer.hpp"
#include "support/splitmix_rng.hpp"

#include <fstream>
#include <stdexcept>
#include <sstream>
#include <string>
#include <vector>

using namespace mmb;
using namespace mmb::grammar;
using mmb::testing::grammar_accepts_prefix;
using mmb::testing::grammar_random_sentence;
using mmb::testing::grammar_recognizes;

namespace {

using Kind = Expr::Kind;

std::string error_of(std::string_view text, std::string_view root = "root") {
  try {
    parse_gbnf(text, root);
  } catch (const Error& e) {
    CHECK(e.status() == MMB_ERR_GRAMMAR);
    return e.what();
  }
  return "(no error)";
}

std::string choice_error_of(std::vector<std::string_view> items) {
  try {
    choice_grammar(items);
  } catch (const Error& e) {
    CHECK(e.status() == MMB_ERR_GRAMMAR);
    return e.what();
  }
  return "(no error)";
}

// Whether each text is in the grammar's language.
void check_language(std::string_view gbnf, std::vector<std::string_view> in, std::vector<std::string_view> out) {
  const GrammarAst ast = parse_gbnf(gbnf);
  for (std::string_view text : in) {
    INFO("grammar: " << gbnf << "\ntext in the language: \"" << text << "\"");
    CHECK(grammar_recognizes(ast, text));
  }
  for (std::string_view text : out) {
    INFO("grammar: " << gbnf << "\ntext outside the language: \"" << text << "\"");
    CHECK_FALSE(grammar_recognizes(ast, text));
  }
}

std::string sample_grammar(const std::string& name) {
  std::ifstream file(std::string(MMB_SOURCE_DIR) + "/tests/grammar/gbnf/" + name);
  REQUIRE(file);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string repeated(std::string_view piece, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) out += piece;
  return out;
}

}  // namespace

TEST_CASE("GBNF: a rule of one literal", "[grammar]") {
  const GrammarAst ast = parse_gbnf("root ::= \"ab\"");
  REQUIRE(ast.rules.size() == 1);
  CHECK(ast.root == 0);
  CHECK(ast.rules[0].name == "root");
  CHECK(ast.rules[0].where == "line 1, column 1");
  CHECK(ast.rules[0].body.kind == Kind::Literal);
  CHECK(ast.rules[0].body.text == "ab");
}

TEST_CASE("GBNF: sequences, choices, groups, classes and references keep their shape", "[grammar]") {
  const GrammarAst ast = parse_gbnf("root ::= \"a\" (\"b\" | c)* d\nc ::= [x-z]\n  d ::= .\n");
  REQUIRE(ast.rules.size() == 3);
  CHECK(ast.rules[1].name == "c");
  CHECK(ast.rules[1].where == "line 2, column 1");
  CHECK(ast.rules[2].where == "line 3, column 3");
  const Expr& body = ast.rules[0].body;
  REQUIRE(body.kind == Kind::Sequence);
  REQUIRE(body.items.size() == 3);
  CHECK(body.items[0].kind == Kind::Literal);
  const Expr& star = body.items[1];
  REQUIRE(star.kind == Kind::Repeat);
  CHECK(star.min == 0);
  CHECK(star.max == kUnbounded);
  const Expr& group = star.items.at(0);
  REQUIRE(group.kind == Kind::Choice);
  REQUIRE(group.items.size() == 2);
  CHECK(group.items[0].text == "b");
  CHECK(group.items[1].kind == Kind::RuleRef);
  CHECK(group.items[1].rule == 1);
  CHECK(body.items[2].kind == Kind::RuleRef);
  CHECK(body.items[2].rule == 2);
  const Expr& cls = ast.rules[1].body;
  REQUIRE(cls.kind == Kind::CharClass);
  CHECK_FALSE(cls.negated);
  REQUIRE(cls.ranges.size() == 1);
  CHECK(cls.ranges[0].first == 'x');
  CHECK(cls.ranges[0].last == 'z');
  const Expr& any = ast.rules[2].body;
  CHECK(any.kind == Kind::CharClass);
  CHECK(any.negated);
  CHECK(any.ranges.empty());
}

TEST_CASE("GBNF: rules are numbered in definition order, references may come first", "[grammar]") {
  const GrammarAst ast = parse_gbnf("second ::= \"b\"\nroot ::= third second\nthird ::= \"c\"");
  REQUIRE(ast.rules.size() == 3);
  CHECK(ast.rules[0].name == "second");
  CHECK(ast.rules[1].name == "root");
  CHECK(ast.rules[2].name == "third");
  CHECK(ast.root == 1);
  const Expr& body = ast.rules[1].body;
  REQUIRE(body.items.size() == 2);
  CHECK(body.items[0].rule == 2);
  CHECK(body.items[1].rule == 0);
  CHECK(grammar_recognizes(ast, "cb"));
}

TEST_CASE("GBNF: the root may have another name", "[grammar]") {
  const GrammarAst ast = parse_gbnf("a ::= \"x\"\nstart ::= a a", "start");
  CHECK(ast.root == 1);
  CHECK(grammar_recognizes(ast, "xx"));
  CHECK(error_of("a ::= \"x\"", "start") == "line 1, column 1: no rule named 'start'");
}

TEST_CASE("GBNF: repetition operators and bounds", "[grammar]") {
  struct Case {
    const char* suffix;
    uint32_t min;
    uint32_t max;
  };
  for (const Case& c : {Case{"*", 0, kUnbounded}, Case{"+", 1, kUnbounded}, Case{"?", 0, 1}, Case{"{3}", 3, 3},
                        Case{"{2,}", 2, kUnbounded}, Case{"{2,5}", 2, 5}, Case{"{,4}", 0, 4},
                        Case{"{ 1 , 2 }", 1, 2}, Case{"{0}", 0, 0}, Case{"{,}", 0, kUnbounded}}) {
    INFO(c.suffix);
    const GrammarAst ast = parse_gbnf(std::string("root ::= \"ab\"") + c.suffix);
    const Expr& body = ast.rules[0].body;
    REQUIRE(body.kind == Kind::Repeat);
    CHECK(body.min == c.min);
    CHECK(body.max == c.max);
    CHECK(body.items.at(0).text == "ab");  // the whole literal repeats, as in llama.cpp
  }
  // Operators stack: each applies to what the one before produced.
  const GrammarAst stacked_ast = parse_gbnf("root ::= \"a\"{2}?");
  const Expr& stacked = stacked_ast.rules[0].body;
  REQUIRE(stacked.kind == Kind::Repeat);
  CHECK(stacked.max == 1);
  CHECK(stacked.items.at(0).kind == Kind::Repeat);
  CHECK(stacked.items.at(0).min == 2);

  check_language("root ::= \"ab\"{2,3} \"c\"?", {"abab", "ababc", "ababab", "abababc"}, {"ab", "abc", "abababab", "ababcc"});
  check_language("root ::= [0-9]+ (\".\" [0-9]*)?", {"7", "42.", "3.14"}, {"", ".5", "1..2"});
  check_language("root ::= (\"x\" | \"yz\"){,2}", {"", "x", "yz", "xyz", "yzyz"}, {"xxx", "y"});
}

TEST_CASE("GBNF: string escapes", "[grammar]") {
  const GrammarAst ast = parse_gbnf(R"(root ::= "\n\r\t\\\"\'\[\]\x41\u00e9\U0001F600")");
  CHECK(ast.rules[0].body.text == "\n\r\t\\\"'[]A\xC3\xA9\xF0\x9F\x98\x80");
  CHECK(parse_gbnf(R"(root ::= "")").rules[0].body.text.empty());
  CHECK(parse_gbnf(R"(root ::= "\x00")").rules[0].body.text == std::string(1, '\0'));
}

TEST_CASE("GBNF: character classes", "[grammar]") {
  const Expr cls = parse_gbnf(R"(root ::= [^a-cx\]\\-])").rules[0].body;
  REQUIRE(cls.kind == Kind::CharClass);
  CHECK(cls.negated);
  REQUIRE(cls.ranges.size() == 5);
  CHECK((cls.ranges[0].first == 'a' && cls.ranges[0].last == 'c'));
  CHECK((cls.ranges[1].first == 'x' && cls.ranges[1].last == 'x'));
  CHECK((cls.ranges[2].first == ']' && cls.ranges[2].last == ']'));
  CHECK((cls.ranges[3].first == '\\' && cls.ranges[3].last == '\\'));
  CHECK((cls.ranges[4].first == '-' && cls.ranges[4].last == '-'));
  // A '-' before the closing bracket or first is a character; so is a '^' not first.
  check_language("root ::= [-a^]", {"-", "a", "^"}, {"b", ""});
  check_language("root ::= [a-]", {"a", "-"}, {"b"});
  check_language(R"(root ::= [\x41-\x43\u3042])", {"A", "C", "あ"}, {"D", "い"});
  check_language("root ::= [^\"\\\\]", {"a", "é", "日"}, {"\"", "\\", "", "ab"});
  // An empty class matches nothing; an empty negated one anything.
  check_language("root ::= \"a\" | []", {"a"}, {"", "b"});
  check_language("root ::= [^]", {"b", "😀"}, {""});
  // Ranges hold scalar values only: one across the surrogates is cut in two.
  const Expr wide = parse_gbnf(R"(root ::= [\u0000-\U0010FFFF])").rules[0].body;
  REQUIRE(wide.ranges.size() == 2);
  CHECK((wide.ranges[0].first == 0 && wide.ranges[0].last == 0xD7FF));
  CHECK((wide.ranges[1].first == 0xE000 && wide.ranges[1].last == 0x10FFFF));
}

TEST_CASE("GBNF: the any-character dot", "[grammar]") {
  check_language("root ::= \"<\" . \">\"", {"<a>", "<>>", "<日>", "<😀>"}, {"<>", "<ab>"});
}

TEST_CASE("GBNF: comments, and rules going on over lines as llama.cpp allows", "[grammar]") {
  const char* text =
      "# a comment before the rules\n"
      "root ::= # the body starts on the next line\n"
      "  \"a\" |   # after '|' the rule goes on\n"
      "  \"b\" (\n"
      "    \"c\"   # inside parentheses too\n"
      "    | \"d\"\n"
      "  ) tail\n"
      "\n"
      "tail ::= \"!\"?  # last rule, no newline at the end";
  check_language(text, {"a", "bc", "bd", "bc!"}, {"a!", "b", "bcd"});
  // Outside parentheses a newline ends the rule: the next line must be a new rule.
  CHECK(error_of("root ::= \"a\"\n  \"b\"") == "line 2, column 3: expected a rule name, found '\"'");
  CHECK(error_of("root ::= \"a\"\n  | \"b\"") == "line 2, column 3: expected a rule name, found '|'");
  CHECK(error_of("root ::= a\n  b\na ::= \"a\"\nb ::= \"b\"") ==
        "line 2, column 4: expected '::=' after the rule name 'b', found the end of the line");
  // Windows line ends.
  check_language("root ::= a |\r\n  \"b\"\r\na ::= \"a\"\r\n", {"a", "b"}, {"ab"});
  CHECK(parse_gbnf("root ::= a\r\na ::= \"a\"\r\n").rules[1].where == "line 2, column 1");
}

TEST_CASE("GBNF: empty alternatives", "[grammar]") {
  check_language("root ::= \"a\" | ", {"", "a"}, {"b"});
  check_language("root ::= ( | \"x\" ) \"y\"", {"y", "xy"}, {"x"});
  CHECK(parse_gbnf("root ::=").rules[0].body.kind == Kind::Sequence);
}

TEST_CASE("GBNF: UTF-8 in literals and classes", "[grammar]") {
  const GrammarAst ast = parse_gbnf("root ::= \"こんにちは\" [、。] name\nname ::= [一-龯ぁ-ゖ]{1,3} \"さん\"");
  CHECK(ast.rules[0].body.items.at(0).text == "こんにちは");
  const Expr& cls = ast.rules[1].body.items.at(0).items.at(0);
  REQUIRE(cls.ranges.size() == 2);
  CHECK((cls.ranges[0].first == 0x4E00 && cls.ranges[0].last == 0x9FAF));
  CHECK((cls.ranges[1].first == 0x3041 && cls.ranges[1].last == 0x3096));
  CHECK(grammar_recognizes(ast, "こんにちは、田中さん"));
  CHECK(grammar_recognizes(ast, "こんにちは。ゆきさん"));
  CHECK_FALSE(grammar_recognizes(ast, "こんにちは、Tanakaさん"));
  CHECK_FALSE(grammar_recognizes(ast, "こんにちは、田中山川さん"));
}

TEST_CASE("GBNF: syntax errors give the line, the column and what was found", "[grammar]") {
  CHECK(error_of("root = \"a\"") == "line 1, column 6: expected '::=' after the rule name 'root', found '='");
  CHECK(error_of("::= \"a\"") == "line 1, column 1: expected a rule name, found ':'");
  CHECK(error_of("root ::= \"a\" )") == "line 1, column 14: expected an item, '|' or the end of the line, found ')'");
  CHECK(error_of("root ::= (\"a\" \"b\"") ==
        "line 1, column 18: expected an item, '|' or ')' closing the group at line 1, column 10, found the end of the text");
  CHECK(error_of("root ::= *") == "line 1, column 10: expected an item before '*'");
  CHECK(error_of("root ::= \"a\" | +") == "line 1, column 16: expected an item before '+'");
  CHECK(error_of("root ::= {2}") == "line 1, column 10: expected an item before '{'");
  CHECK(error_of("root ::= \"a\"{x}") == "line 1, column 14: expected a number or ',' after '{', found 'x'");
  CHECK(error_of("root ::= \"a\"{}") == "line 1, column 14: expected a number or ',' after '{', found '}'");
  CHECK(error_of("root ::= \"a\"{2;") == "line 1, column 15: expected ',' or '}' in the repetition, found ';'");
  CHECK(error_of("root ::= \"a\"{2,3") == "line 1, column 17: expected a number or '}' in the repetition, found the end of the text");
  CHECK(error_of("root ::= \"a\"\nx ::= \"b\" \x01") == "line 2, column 11: expected an item, '|' or the end of the line, found U+0001");
  CHECK(error_of("root ::= \"a\" é") == "line 1, column 14: expected an item, '|' or the end of the line, found 'é'");
  CHECK(error_of("root ::= <[1]>") == "line 1, column 10: expected an item, '|' or the end of the line, found '<'");
}

TEST_CASE("GBNF: literal, class and escape errors", "[grammar]") {
  CHECK(error_of("root ::= \"abc") == "line 1, column 10: unterminated string literal");
  CHECK(error_of("root ::= \"abc\\\"") == "line 1, column 10: unterminated string literal");
  CHECK(error_of("root ::= [a-z") == "line 1, column 10: unterminated character class");
  CHECK(error_of("root ::= [a-") == "line 1, column 10: unterminated character class");
  CHECK(error_of("root ::= \"\\q\"") == "line 1, column 11: bad escape '\\q'");
  CHECK(error_of("root ::= [\\é]") == "line 1, column 11: bad escape '\\é'");
  CHECK(error_of("root ::= \"\\") == "line 1, column 11: bad escape: '\\' at the end of the text");
  CHECK(error_of("root ::= \"\\x4\"") == "line 1, column 11: bad escape: '\\x' takes 2 hex digits");
  CHECK(error_of("root ::= \"\\u12g4\"") == "line 1, column 11: bad escape: '\\u' takes 4 hex digits");
  CHECK(error_of("root ::= [\\U0010FFF]") == "line 1, column 11: bad escape: '\\U' takes 8 hex digits");
  CHECK(error_of("root ::= \"\\uD800\"") == "line 1, column 11: bad escape: U+D800 is not a Unicode scalar value");
  CHECK(error_of("root ::= \"\\U00110000\"") == "line 1, column 11: bad escape: U+110000 is not a Unicode scalar value");
  CHECK(error_of("root ::= [z-a]") == "line 1, column 11: character range U+007A-U+0061 is reversed");
}

TEST_CASE("GBNF: repetition bound errors", "[grammar]") {
  CHECK(error_of("root ::= \"a\"{3,2}") == "line 1, column 13: repetition {3,2} has its minimum above its maximum");
  CHECK(error_of("root ::= \"a\"{100001}") == "line 1, column 14: repetition count above 100000");
  CHECK(error_of("root ::= \"a\"{1,99999999999999999999}") == "line 1, column 16: repetition count above 100000");
  CHECK(error_of("root ::= \"a\"{100000}") == "(no error)");
}

TEST_CASE("GBNF: rule errors: undefined, defined twice, no root, no rules", "[grammar]") {
  CHECK(error_of("root ::= b") == "line 1, column 10: undefined rule 'b'");
  CHECK(error_of("root ::= \"x\" | other\nother ::= \"y\" missing (later | missing)") ==
        "line 2, column 15: undefined rule 'missing'");
  CHECK(error_of("root ::= \"a\"\nroot ::= \"b\"") ==
        "line 2, column 1: rule 'root' is defined twice (first at line 1, column 1)");
  CHECK(error_of("start ::= \"a\"\n") == "line 1, column 1: no rule named 'root'");
  CHECK(error_of("") == "line 1, column 1: the grammar is empty: no rule");
  CHECK(error_of("  # only a comment\n\n\t\n") == "line 1, column 1: the grammar is empty: no rule");
}

TEST_CASE("GBNF: invalid UTF-8 is refused where it stands", "[grammar]") {
  CHECK(error_of("root ::= \"a\xff\"") == "line 1, column 12: invalid UTF-8");
  CHECK(error_of("root ::= \"a\"\n# caf\xc3 here\n") == "line 2, column 6: invalid UTF-8");
  CHECK(error_of("root ::= \"\xed\xa0\x80\"") == "line 1, column 11: invalid UTF-8");  // a surrogate
  CHECK(error_of("root ::= \"\xc0\xaf\"") == "line 1, column 11: invalid UTF-8");      // overlong '/'
}

TEST_CASE("GBNF: columns count characters, not bytes", "[grammar]") {
  CHECK(error_of("root ::= \"日本語\" [") == "line 1, column 16: unterminated character class");
  CHECK(error_of("root ::= greeting\ngreeting ::= \"こんにちは\" | \"😀\" nobody") ==
        "line 2, column 28: undefined rule 'nobody'");
  CHECK(error_of("root ::= \"\t\" x") == "line 1, column 14: undefined rule 'x'");  // a tab is one column
}

TEST_CASE("GBNF: nesting is bounded, not left to the stack", "[grammar]") {
  // 256 levels of parentheses are fine; the 257th is refused where it opens.
  CHECK(error_of("root ::= " + repeated("(", 256) + "\"a\"" + repeated(")", 256)) == "(no error)");
  CHECK(error_of("root ::= " + repeated("(", 257) + "\"a\"" + repeated(")", 257)) ==
        "line 1, column 266: parentheses nested deeper than 256 levels");
  CHECK(error_of("root ::= " + repeated("(", 100000)) == "line 1, column 266: parentheses nested deeper than 256 levels");
  // Stacked operators nest expressions too.
  CHECK(error_of("root ::= \"a\"" + repeated("?", 255)) == "(no error)");
  CHECK(error_of("root ::= \"a\"" + repeated("?", 100000)) ==
        "line 1, column 268: expressions nested deeper than 256 levels");
  CHECK(error_of("root ::= " + repeated("(\"a\" ", 300) + repeated(")", 300)).find("nested deeper than 256 levels") !=
        std::string::npos);
}

TEST_CASE("GBNF: a long grammar parses in one pass", "[grammar]") {
  // 20000 rules, each referring to the next: the locations are not recounted per rule.
  std::string text = "root ::= r0\n";
  for (int i = 0; i < 20000; ++i) text += "r" + std::to_string(i) + " ::= \"x\" r" + std::to_string(i + 1) + " | \"\"\n";
  text += "r20000 ::= \"end\"\n";
  const GrammarAst ast = parse_gbnf(text);
  REQUIRE(ast.rules.size() == 20002);
  CHECK(ast.rules.back().where == "line 20002, column 1");
  CHECK(grammar_recognizes(ast, "xxx"));
}

TEST_CASE("Choice lists: one root rule of literals", "[grammar]") {
  const std::vector<std::string_view> items = {"north", "south", "東", "go west"};
  const GrammarAst ast = choice_grammar(items);
  REQUIRE(ast.rules.size() == 1);
  CHECK(ast.root == 0);
  CHECK(ast.rules[0].name == "root");
  const Expr& body = ast.rules[0].body;
  REQUIRE(body.kind == Kind::Choice);
  REQUIRE(body.items.size() == 4);
  for (size_t i = 0; i < items.size(); ++i) {
    CHECK(body.items[i].kind == Kind::Literal);
    CHECK(body.items[i].text == items[i]);
    CHECK(grammar_recognizes(ast, items[i]));
  }
  CHECK_FALSE(grammar_recognizes(ast, "nort"));
  CHECK_FALSE(grammar_recognizes(ast, "northsouth"));
  CHECK(grammar_accepts_prefix(ast, "go w"));
  CHECK(choice_grammar(std::vector<std::string_view>{"only"}).rules[0].body.kind == Kind::Choice);
}

TEST_CASE("Choice lists: errors", "[grammar]") {
  CHECK(choice_error_of({}) == "the choice list is empty");
  CHECK(choice_error_of({"a", "", "c"}) == "choice 2 is empty");
  CHECK(choice_error_of({"a", "b", "c\xff"}) == "choice 3 is not valid UTF-8");
}

TEST_CASE("Recognizer: prefixes, whole sentences and invalid UTF-8", "[grammar]") {
  const GrammarAst ast = parse_gbnf("root ::= \"ab\" [0-9]+ \"é\"");
  CHECK(grammar_recognizes(ast, "ab12é"));
  CHECK_FALSE(grammar_recognizes(ast, "ab12"));
  CHECK(grammar_accepts_prefix(ast, ""));
  CHECK(grammar_accepts_prefix(ast, "a"));
  CHECK(grammar_accepts_prefix(ast, "ab12"));
  CHECK(grammar_accepts_prefix(ast, "ab12é"));
  CHECK_FALSE(grammar_accepts_prefix(ast, "ab12éx"));
  CHECK_FALSE(grammar_accepts_prefix(ast, "b"));
  CHECK_FALSE(grammar_accepts_prefix(ast, "ab1\xc3"));  // a cut character is not text
  CHECK_FALSE(grammar_recognizes(ast, "ab1\xff\xc3\xa9"));
}

TEST_CASE("Recognizer: nullable rules", "[grammar]") {
  // Completions inside one Earley set are where a careless recognizer goes wrong.
  check_language("root ::= a a \"x\" a\na ::= \"\" | \"y\"", {"x", "yx", "yyx", "xy", "yyxy"}, {"yyyx", "xyy", ""});
  check_language("root ::= a b c\na ::= b b\nb ::= \"\" | \"q\"\nc ::= a | \"z\"", {"", "q", "qqqqq", "z", "qqqz"},
                 {"qqqqqq", "zq", "qqqqz"});
  check_language("root ::= (e e)* \"!\"\ne ::= \"\"", {"!"}, {"", "!!"});
}

TEST_CASE("Recognizer: nested bounded repeats", "[grammar]") {
  check_language("root ::= (\"a\"{1,2} \"b\"?){2,3}", {"aa", "abab", "aabaab", "aaa", "aaaaaa", "ababa"},
                 {"a", "aaaaaaa", "abababab", "bb", ""});
  check_language("root ::= ((\"x\" | \"\"){0,2} \"-\"){2}", {"--", "x-x-", "xx-xx-", "-xx-"}, {"xxx--", "-", "---"});
}

TEST_CASE("Recognizer: left recursion, empty and unproductive rules", "[grammar]") {
  check_language("root ::= root \"a\" | \"b\"", {"b", "baaa"}, {"", "ab"});
  // `loop` never finishes: only "a" is a sentence, and "b" starts none.
  const GrammarAst ast = parse_gbnf("root ::= \"a\" | loop\nloop ::= \"b\" loop");
  CHECK(grammar_recognizes(ast, "a"));
  CHECK_FALSE(grammar_accepts_prefix(ast, "b"));
  CHECK_FALSE(grammar_accepts_prefix(parse_gbnf("root ::= []"), ""));
  CHECK_THROWS_AS(grammar_random_sentence(parse_gbnf("root ::= \"a\" root"), 1, 10), std::invalid_argument);
}

TEST_CASE("Recognizer: the sample grammars", "[grammar]") {
  const GrammarAst json = parse_gbnf(sample_grammar("json.gbnf"));
  for (const char* text : {"{}", "[]", "0", "-1.5e+3", "\"a\\n\\u00e9 é\"", " {\"a\": [1, 2, {\"b\":null}], \"c\":true} ",
                           "[[],[[]],{}]"}) {
    INFO(text);
    CHECK(grammar_recognizes(json, text));
  }
  for (const char* text : {"{", "01", "[1,]", "{\"a\"}", "\"tab\there\"", "   1", "tru", "{'a': 1}"}) {
    INFO(text);
    CHECK_FALSE(grammar_recognizes(json, text));
  }
  CHECK(grammar_accepts_prefix(json, "{\"a\": [1, "));
  CHECK_FALSE(grammar_accepts_prefix(json, "{\"a\": [1, ]"));

  const GrammarAst arithmetic = parse_gbnf(sample_grammar("arithmetic.gbnf"));
  CHECK(grammar_recognizes(arithmetic, "2*(3+4)-5"));
  CHECK(grammar_recognizes(arithmetic, "-7/(1+1)"));
  CHECK_FALSE(grammar_recognizes(arithmetic, "2*(3+4"));
  CHECK_FALSE(grammar_recognizes(arithmetic, "2+*3"));

  const GrammarAst list = parse_gbnf(sample_grammar("list.gbnf"));
  CHECK(grammar_recognizes(list, "- Milk\n- Eggs and ham\n"));
  CHECK_FALSE(grammar_recognizes(list, "- A\n- B\n- C\n- D\n- E\n"));
  CHECK_FALSE(grammar_recognizes(list, ""));

  const GrammarAst chess = parse_gbnf(sample_grammar("chess.gbnf"));
  CHECK(grammar_recognizes(chess, "1. e4 e5 2. Nf3"));
  CHECK(grammar_recognizes(chess, "1. e4 e5 2. Nf3 Nc6 3. Bb5 a6 4. O-O Nxe4 5. exd5 Qh4+ 6. e8=Q#"));
  CHECK_FALSE(grammar_recognizes(chess, "1. e9"));
  CHECK_FALSE(grammar_recognizes(chess, "e4 e5"));

  const GrammarAst unicode = parse_gbnf(sample_grammar("unicode.gbnf"));
  CHECK(grammar_recognizes(unicode, "こんにちは, さくら!"));
  CHECK(grammar_recognizes(unicode, "Привет, Анна! 👋"));
  CHECK(grammar_recognizes(unicode, "Grüß Gott, Lena! 👋🏽"));
  CHECK(grammar_recognizes(unicode, "नमस्ते, Ravi!"));
  CHECK_FALSE(grammar_recognizes(unicode, "Hello, anna!"));
}

TEST_CASE("Recognizer: random sentences are sentences", "[grammar]") {
  std::vector<std::string> grammars = {"root ::= (\"a\"{1,2} \"b\"?){2,3}",
                                       "root ::= a a \"x\" a\na ::= \"\" | \"y\"",
                                       "root ::= \"(\" root \")\" root | \"\"",
                                       "root ::= [^a-z] . [一-龯]{2,}"};
  for (const char* name : {"json.gbnf", "arithmetic.gbnf", "list.gbnf", "chess.gbnf", "unicode.gbnf"}) {
    grammars.push_back(sample_grammar(name));
  }
  for (const std::string& gbnf : grammars) {
    const GrammarAst ast = parse_gbnf(gbnf);
    for (uint64_t seed = 1; seed <= 40; ++seed) {
      const std::string sentence = grammar_random_sentence(ast, seed, 60);
      INFO("grammar:\n" << gbnf << "\nseed " << seed << ": " << sentence);
      CHECK(grammar_recognizes(ast, sentence));
      CHECK(sentence.size() < 2000);
      CHECK(grammar_random_sentence(ast, seed, 60) == sentence);
    }
  }
  // A hint of zero gives the shortest way through.
  CHECK(grammar_random_sentence(parse_gbnf("root ::= \"ab\"+ | \"c\"{3}"), 5, 0) == "ab");
}

TEST_CASE("GBNF: random text either parses or fails with MMB_ERR_GRAMMAR", "[grammar]") {
  const std::vector<std::string_view> pieces = {"root", " ::= ", "a", " ", "\n", "|", "(", ")", "\"x\"", "\"", "[a-c]",
                                                "[", "]", "*", "+", "?", "{2}", "{1,3}", "{", ",", "}", ".", "#c\n",
                                                "\\", "a ::= ", "é", "\"\\u00e9\""};
  mmb::testing::SplitMixRng rng(7);
  size_t parsed = 0;
  for (int round = 0; round < 2000; ++round) {
    std::string text = "root ::= ";
    const uint32_t count = rng.below(12);
    for (uint32_t i = 0; i < count; ++i) text += pieces[rng.below(uint32_t(pieces.size()))];
    INFO(text);
    try {
      const GrammarAst ast = parse_gbnf(text);
      ++parsed;
      if (grammar_accepts_prefix(ast, "")) CHECK(grammar_recognizes(ast, grammar_random_sentence(ast, uint64_t(round), 20)));
    } catch (const Error& e) {
      CHECK(e.status() == MMB_ERR_GRAMMAR);
      CHECK(std::string(e.what()).rfind("line ", 0) == 0);
    }
  }
  CHECK(parsed > 100);
}
