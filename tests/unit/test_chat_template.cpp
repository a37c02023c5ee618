// The chat-template interpreter construct by construct: short templates rendered for a
// fixed conversation and compared with @huggingface/jinja (the reference, under node),
// plus what the reference does not decide for us: the errors a template gets when it is
// compiled (with line and column), the constructs refused, and the limits that stop a
// template that loops, recurses or grows without end.
#include <catch2/catch.hpp>

#include "base/error.hpp"
#include "chat/chat_template.hpp"
#include "support/chat_reference.hpp"
#include "support/tokenizer_reference.hpp"

#include <nlohmann/json.hpp>

#include <pthread.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace mmb;

namespace {

const std::vector<ChatMessage>& conversation() {
  static const std::vector<ChatMessage> messages = {
      {"system", "  Be brief.\n"},
      {"user", "Hi {{ there }} \"you\"\n\tcafé 🙂"},
      {"assistant", "<think>hmm</think>\n Hello!"},
      {"tool", ""},
      {"user", "a-b-c  d"},
  };
  return messages;
}

ChatRenderInput input(const std::vector<ChatMessage>& messages = conversation(), bool generation = true) {
  ChatRenderInput in;
  in.messages = messages;
  in.add_generation_prompt = generation;
  in.bos_token = "<s>";
  in.eos_token = "</s>";
  in.variables = {{"date_string", "26 Jul 2024"}};
  return in;
}

std::string render(std::string_view source, const ChatRenderInput& in = input(), ChatRenderLimits limits = {}) {
  return ChatTemplate(source, limits).render(in);
}

// The message of the error `fn` throws with `status`; fails the test otherwise.
template <typename Fn>
std::string error_of(Fn fn, mmb_status status) {
  try {
    fn();
  } catch (const Error& e) {
    CHECK(e.status() == status);
    return e.what();
  }
  FAIL("no error");
  return "";
}

std::string compile_error(std::string_view source) {
  return error_of([&] { ChatTemplate t(source); }, MMB_ERR_FORMAT);
}

std::string render_error(std::string_view source, ChatRenderLimits limits = {}) {
  return error_of([&] { render(source, input(), limits); }, MMB_ERR_TEMPLATE);
}

// Templates of one construct each; every one is rendered by both interpreters.
const std::vector<std::string> kSnippets = {
    // text, comments, whitespace control, trim_blocks / lstrip_blocks
    "plain text\n", "a {# comment #} b", "a {#- trimmed -#}   b", "x  {{- 1 -}}  y", "x  {%- if true -%}  y  {%- endif -%}  z",
    "line\n  {% if true %}\n  kept\n  {% endif %}\nend\n", "{% if true %}\nA{% endif %}\n\n", "  {{ 'expr keeps' }}\nnext",
    "a -}\nb %}\nc #}\nd", "\t{# c #}\nx", "{{ 'x' }}\n\n", "{%- generation %} g {% endgeneration -%}|",
    "{% generation %}\n  keep\n{% endgeneration %}", "a\r\n  {% if true %}b{% endif %}",
    // literals and printing
    "{{ 1 }} {{ 1.5 }} {{ 2.0 }} {{ -0.0 }} {{ 0.1 + 0.2 }}", "{{ 10 / 4 }} {{ 10 // 4 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7.5 % 2 }}",
    "{{ 2 ** 3 ** 2 }} {{ 2 ** -1 }} {{ 10 ** 21 }} {{ 10 ** 15 }} {{ 1 / 3 }} {{ 123456789 * 1000000 }}", "{{ 1 / 0 }} {{ -1 / 0 }}",
    "{{ true }} {{ false }} {{ none }} {{ True }} {{ None }}|", "{{ 'a\\nb\\t\\'c\\' \\\"d\\\" \\\\ \\x41\\u00e9' }}",
    "{{ \"double\" 'adjacent' }}", "{{ [1, 'a', none, true, 1.5, [2]] }}", "{{ {'k': 'v', 'n': none, 'l': [1.0]} }}",
    "{{ [] }} {{ {} }} {{ [1,2][5] }}|", "{{ -3 }} {{ +3 }} {{ - -3 }} {{ -(1.5) }}",
    // operators
    "{{ 'a' ~ 1 ~ 1.0 ~ true ~ none ~ [1, 2] }}", "{{ 'a' + 1 }} {{ 1 + 'a' }} {{ 'x' + 2.0 }}", "{{ [1] + [2, 3] }}",
    "{{ 1 == 1.0 }} {{ '1' == 1 }} {{ '' == 0 }} {{ none == undefined_x }} {{ true == 1 }} {{ 'a' != 'b' }} {{ [1] == [1] }}",
    "{{ 1 < 2 }} {{ 2.5 >= 2 }} {{ 3 <= 3 }} {{ 4 > 5 }}", "{{ 'a' in 'cat' }} {{ 'z' not in 'cat' }} {{ 2 in [1, 2] }} {{ 'role' in messages[0] }}",
    "{{ 'x' in undefined_y }} {{ 'x' not in undefined_y }}", "{{ not 0 }} {{ not not 1 }} {{ 0 or '' or 'x' }} {{ 1 and 0 }} {{ [] or {} }}",
    "{{ 'yes' if 1 else 'no' }} {{ 'a' if 0 else 'b' if 0 else 'c' }} {{ 'hidden' if false }}|",
    "{{ 1 < 'a' }}", "{{ none + 1 }}", "{{ undefined_z + 1 }}", "{{ undefined_z ~ 'ok' }}", "{{ 'a' * 3 }}", "{{ 0 ** -1 }}",
    // variables, attributes, subscripts, slices
    "{{ messages[0]['role'] }} {{ messages[0].content }} {{ messages[-1].role }} {{ messages.0.role }}",
    "{{ messages[9] }}|{{ messages[0].missing }}|{{ undefined_a.b.c }}|{{ none.x }}|",
    "{{ messages[1:3]|length }} {{ messages[::-1][0].role }} {{ messages[:-3]|length }} {{ messages[::2]|length }}",
    "{{ 'héllo🙂'[1:4] }} {{ 'abcdef'[::-2] }} {{ 'abc'[-5:] }} {{ 'abc'[1] }} {{ 'abc'[-1] }} {{ 'abc'[9] }}|",
    "{{ 'abc'.length }} {{ [1, 2].length }} {{ 'é🙂'|length }}", "{{ messages['x'] }}", "{{ 'abc'[1.5] }}",
    // set, namespace, scoping
    "{% set x = 1 %}{% set y, z = [2, 3] %}{{ x }}{{ y }}{{ z }}", "{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}",
    "{% set x = 1 %}{% for m in messages %}{% set x = 2 %}{% endfor %}{{ x }}",
    "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }} {{ ns }}",
    "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns.c }}|", "{% set s %}block {{ 1 + 1 }}{% endset %}[{{ s }}]",
    "{% set x.y = 1 %}", "{% set a, b = [1] %}", "{% set messages = messages[:1] %}{{ messages|length }}",
    // for loops
    "{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }};{% endfor %}",
    "{% for m in messages %}{{ loop.previtem.role if loop.previtem }}>{{ loop.nextitem.role }}|{% endfor %}",
    "{% for m in [] %}x{% else %}empty{% endfor %}", "{% for m in messages if m.role == 'user' %}{{ loop.index }}/{{ loop.length }} {% endfor %}",
    "{% for k, v in {'a': 1, 'b': [2]}.items() %}{{ k }}={{ v }} {% endfor %}", "{% for k in {'a': 1, 'b': 2} %}{{ k }}{% endfor %}",
    "{% for c in 'abc' %}{{ c }}{% endfor %}", "{% for a, b in [[1, 2], [3]] %}{{ a }}{% endfor %}",
    "{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}",
    "{% for i in range(2) %}{% for j in range(2) %}{{ loop.index }}{% endfor %}{{ loop.index }}|{% endfor %}",
    "{{ range(3)|list }} {{ range(2, 8, 2)|list }} {{ range(5, 0, -2)|list }} {{ range(0)|list }}", "{{ range(1, 2, 0) }}",
    // if
    "{% if 0 %}a{% elif '' %}b{% elif [0] %}c{% else %}d{% endif %}", "{% if messages %}non-empty{% endif %}",
    // tests
    "{{ x is defined }} {{ x is undefined }} {{ none is none }} {{ 'a' is string }} {{ 1 is number }} {{ 1.5 is number }} {{ true is boolean }}",
    "{{ {} is mapping }} {{ [] is iterable }} {{ 'a' is iterable }} {{ [] is sequence }} {{ {} is sequence }} {{ messages[0] is mapping }}",
    "{{ 2 is even }} {{ 3 is odd }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ 3 is integer }}",
    "{{ 1 is not none }} {{ range is callable }}", "{{ 1.5 is even }}", "{{ (1, 2) }}", "{{ x is defined is true }}",
    // filters
    "{{ '  a b  '|trim }}|{{ 'ab'|upper }}|{{ 'AB'|lower }}|{{ 'hello world-x'|title }}|{{ 'hello World'|capitalize }}",
    "{{ 'abc'|length }} {{ messages|length }} {{ {'a': 1}|length }}",
    "{{ messages|first|tojson }} {{ (messages|last).role }} {{ [3, 1, 2]|sort }} {{ ['b', 'A', 'c']|sort }} {{ [1, 2]|reverse }}",
    "{{ [1, 2, 1, '1']|unique }} {{ ['a', 'b']|join }} {{ ['a', 'b']|join(', ') }} {{ [1, none, 2.0]|join('-') }} {{ 'abc'|join('.') }}",
    "{{ messages|map(attribute='role')|join(',') }} {{ messages|selectattr('role', 'equalto', 'user')|list|length }}",
    "{{ messages|rejectattr('role', 'equalto', 'user')|map(attribute='role')|list }} {{ messages|selectattr('content')|list|length }}",
    "{{ [{'a': {'b': 1}}, {'a': {}}]|map(attribute='a.b', default='d')|list }}", "{{ [1, 2]|selectattr('x') }}",
    "{{ messages|selectattr('role', 'ne', 'x') }}", "{{ [{'n': 'b'}, {'n': 'a'}]|sort(attribute='n')|map(attribute='n')|join }}",
    "{{ [3, 1]|sort(reverse=true) }} {{ ['b', 'A']|sort(case_sensitive=true) }}", "{{ [1, 'a']|sort }}",
    "{{ messages[0]|tojson }} {{ messages[0]|tojson(indent=2) }} {{ [1, [2, {}], []]|tojson(indent=1) }}",
    "{{ {'b': 1, 'a': 'é'}|tojson(sort_keys=true, ensure_ascii=true) }} {{ [1, 2]|tojson(separators=(',', ':')) }}",
    "{{ 'q\"\\\\\\n\\x01'|tojson }} {{ none|tojson }} {{ undefined_q|tojson }} {{ 1.0|tojson }} {{ true|tojson }}",
    "{{ undefined_q|default('d') }} {{ none|default('d') }} {{ ''|default('d', true) }} {{ 0|default('d', boolean=true) }}",
    "{{ '12abc'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ ' 2.5e1x'|float }} {{ 3.9|int }} {{ -3.9|int }} {{ true|int }} {{ 3|float }}",
    "{{ 5|string ~ 'x' }} {{ 1.0|string }} {{ [1, 'a']|string }} {{ true|string }} {{ -5|abs }} {{ -1.5|abs }}",
    "{{ {'b': 2, 'a': 1}|items|list }} {{ {'b': 2}|keys }} {{ {'b': 2}|values }} {{ {'b': 2, 'a': 1}|dictsort }}",
    "{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent('> ', blank=true) }}",
    "{{ 'aXbXc'|replace('X', '-') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'ab'|replace('', '.') }}", "{{ 'x'|safe }} {{ [1]|list }}",
    "{{ none|length }}", "{{ undefined_q|trim }}", "{{ 1|trim }}", "{{ 'a'|first }}", "{{ {'a': 1}|get('a') }}",
    // methods
    "{{ '  x  '.strip() }}|{{ '  x  '.lstrip() }}|{{ '  x  '.rstrip() }}|{{ '\\u3000x\\u00a0'.strip() }}|",
    "{{ 'Hello'.startswith('He') }} {{ 'Hello'.endswith(('x', 'lo')) }} {{ 'Hello'.upper() }} {{ 'Hello'.lower() }} {{ 'a b'.title() }}",
    "{{ ' a  b \\n c '.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ ' a b c '.split(none, 1) }}",
    "{{ 'a-b-a'.replace('a', 'x') }} {{ 'a-b-a'.replace('a', 'x', 1) }} {{ 'aaa'.replace('a', 'b', count=2) }}",
    "{{ messages[0].get('role') }} {{ messages[0].get('x') }} {{ messages[0].get('x', 'd') }} {{ messages[0].items()|list|length }}",
    "{{ messages[0].keys()|join(',') }} {{ messages[0].values()|length }} {{ {'b': 1, 'a': 2}.dictsort() }}",
    "{{ 'abc'.nosuch }}|", "{{ 'a'.split('') }}", "{{ messages[0].get(1) }}", "{{ 'x'.startswith(1) }}",
    // macros and global functions
    "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(punct='.', name='C') }}",
    "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}",
    "{% macro m() %}{{ varargs|length }}{{ kwargs|length }}{% endmacro %}{{ m(1, 2, a=3) }}", "{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}",
    "{% macro m(a) %}{% endmacro %}{{ m(b=1) }}", "{% set x = 5 %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 6 %}{{ m() }}",
    "{{ raise_exception('stop here') }}", "{% if messages|length > 3 %}{{ raise_exception('too many: ' ~ messages|length) }}{% endif %}",
    "{{ namespace(a=1) }} {{ namespace() }}", "{% set ns = namespace() %}{% set ns.self = 1 %}{{ ns|tojson }}",
    // the variables of the caller
    "{{ bos_token }}{{ eos_token }}{{ add_generation_prompt }}{{ date_string }}",
};

}  // namespace

TEST_CASE("chat template constructs render as @huggingface/jinja renders them", "[chat]") {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  for (const ChatMessage& m : conversation()) messages.push_back({{"role", m.role}, {"content", m.content}});
  nlohmann::ordered_json cases = nlohmann::ordered_json::array();
  for (size_t i = 0; i < kSnippets.size(); ++i)
    cases.push_back({{"template", i}, {"messages", messages}, {"add_generation_prompt", true}, {"bos_token", "<s>"},
                     {"eos_token", "</s>"}, {"variables", {{"date_string", "26 Jul 2024"}}}});
  const nlohmann::json expected = test::render_with_reference({{"templates", kSnippets}, {"cases", cases}});
  REQUIRE(expected.size() == kSnippets.size());
  size_t rendered = 0, raised = 0;
  for (size_t i = 0; i < kSnippets.size(); ++i) {
    INFO("template: " << kSnippets[i]);
    std::string ours, error;
    bool ok = true;
    try {
      ours = render(kSnippets[i]);
    } catch (const Error& e) {
      ok = false;
      error = e.what();
    }
    const bool ref_ok = expected[i]["ok"].get<bool>();
    INFO("reference: " << (ref_ok ? expected[i]["text"].get<std::string>() : "raised " + expected[i]["error"].get<std::string>()));
    INFO("ours: " << (ok ? ours : "raised " + error));
    CHECK(ok == ref_ok);
    if (ok && ref_ok) CHECK(ours == expected[i]["text"].get<std::string>());
    (ok ? rendered : raised) += 1;
  }
  std::printf("chat template snippets: %zu rendered and %zu raising, all as the reference\n", rendered, raised);
}

TEST_CASE("chat templates: whitespace control, loops and namespaces give the expected text", "[chat]") {
  CHECK(render("{% for m in messages %}\n  {{ m.role }}\n{% endfor %}\n") == "  system\n  user\n  assistant\n  tool\n  user\n");
  CHECK(render("A  {%- if true -%}  B  {%- endif %}  C") == "AB  C");
  CHECK(render("{% set ns = namespace(last='') %}{% for m in messages %}{% if loop.last %}{% set ns.last = m.content %}{% endif %}"
               "{% endfor %}{{ ns.last }}") == "a-b-c  d");
  CHECK(render("{{ messages|selectattr('role', 'equalto', 'tool')|list|length }}") == "1");
  CHECK(render("{{ messages[0].content.strip() ~ '|' ~ messages[0]['content']|trim }}") == "Be brief.|Be brief.");
  CHECK(render("{{ 'x'|tojson }} {{ {'a': [1, 2.5, none]}|tojson }}") == "\"x\" {\"a\": [1, 2.5, null]}");
  CHECK(render("{{ 0.1 + 0.2 }} {{ 3 / 2 }} {{ 4 / 2 }} {{ 10 ** 21 }}") == "0.30000000000000004 1.5 2.0 1e+21");
  // Jinja's count and `default` without parentheses, which the reference lacks.
  CHECK(render("{{ 'abc'|count }} {{ messages|count }} {{ x|default }}|{{ x|d('y') }}") == "3 5 |y");
}

TEST_CASE("chat template compile errors name the line and column", "[chat]") {
  CHECK(compile_error("hello\n{{ x }}\n  {% include 'x' %}") ==
        "chat template: line 3, column 6: 'include' is not a statement this interpreter has (it knows set, if, for, macro, "
        "break, continue)");
  CHECK(compile_error("{{ x | nosuch }}") == "chat template: line 1, column 8: 'nosuch' is not a filter this interpreter has");
  CHECK(compile_error("{% if x is nosuch %}{% endif %}") == "chat template: line 1, column 12: 'nosuch' is not a test this interpreter has");
  CHECK(compile_error("{{ x.format(1) }}").find("'format' is not a method") != std::string::npos);
  CHECK(compile_error("{{ cycler(1) }}").find("line 1, column 10: 'cycler' is not a function") != std::string::npos);
  CHECK(compile_error("{% if true %}\nno end").find("not closed") != std::string::npos);
  CHECK(compile_error("{{ 'unterminated }}").find("line 1, column") != std::string::npos);
  CHECK(compile_error("{{ 1 +* 2 }}").find("line 1, column 7") != std::string::npos);
  CHECK(compile_error("é {{ ) }}") == "chat template: line 1, column 6: unexpected ')' in an expression");
  CHECK(compile_error("{% call m() %}{% endcall %}").find("'call' is not a statement") != std::string::npos);
  CHECK(compile_error("{% filter upper %}x{% endfilter %}").find("'filter' is not a statement") != std::string::npos);
  CHECK(compile_error("{{ f(*xs) }}").find("unpacking") != std::string::npos);
  CHECK(compile_error("{{ x }").find("line 1") != std::string::npos);
  CHECK(compile_error("{{ '\\q' }}").find("escaped character") != std::string::npos);
  // Nesting that would endanger the stack is refused, not followed.
  CHECK(compile_error("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}").find("too deeply") != std::string::npos);
  CHECK(compile_error("{{ " + std::string(5000, '[') + " }}").find("too deeply") != std::string::npos);
  std::string chain = "{{ 1";
  for (int i = 0; i < 5000; ++i) chain += " + 1";
  CHECK(compile_error(chain + " }}").find("too deeply") != std::string::npos);
  std::string ifs;
  for (int i = 0; i < 3000; ++i) ifs += "{% if true %}";
  CHECK(compile_error(ifs).find("too deeply") != std::string::npos);
  CHECK(compile_error("{{ " + std::string(5000, '-') + "1 }}").find("too deeply") != std::string::npos);
  CHECK(compile_error("{{ " + [] { std::string s; for (int i = 0; i < 3000; ++i) s += "not "; return s; }() + "1 }}").find("too deeply") !=
        std::string::npos);
}

TEST_CASE("chat template raise_exception and render errors carry the template's message and line", "[chat]") {
  CHECK(render_error("line one\n{{ raise_exception('Conversation roles must alternate') }}") ==
        "chat template: line 2: Conversation roles must alternate");
  CHECK(render_error("{{ 1 < 'a' }}").find("Unknown operator \"<\" between IntegerValue and StringValue") != std::string::npos);
  CHECK(render_error("{% for c in 'abc' %}{% endfor %}").find("Expected iterable") != std::string::npos);
  // A conversation the llama-2 format refuses.
  const std::string llama2 = test::read_bytes(std::string(MMB_SOURCE_DIR) + "/tests/chat/templates/llama2.jinja");
  const std::vector<ChatMessage> twice = {{"user", "a"}, {"user", "b"}};
  CHECK(error_of([&] { render(llama2, input(twice)); }, MMB_ERR_TEMPLATE).find("roles must alternate") != std::string::npos);
}

TEST_CASE("chat template limits stop loops, recursion and huge output quickly", "[chat]") {
  const auto start = std::chrono::steady_clock::now();
  ChatRenderLimits tight;
  tight.max_steps = 100000;
  tight.max_output_bytes = 1 << 20;
  tight.max_depth = 32;
  CHECK(render_error("{% for i in range(10**9) %}x{% endfor %}").find("steps") != std::string::npos);
  CHECK(render_error("{% for i in range(10**9) %}x{% endfor %}", tight).find("steps") != std::string::npos);
  CHECK(render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("depth") != std::string::npos);
  CHECK(render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", tight).find("depth") != std::string::npos);
  CHECK(render_error("{% macro f(n) %}{{ ((((f(n + 1))))) ~ 'x' }}{% endmacro %}{{ f(0) }}").find("the template nests") != std::string::npos);
  CHECK(render_error("{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}xxxxxxxx{% endfor %}"
                     "{% endfor %}{% endfor %}",
                     tight)
            .find("limit") != std::string::npos);
  CHECK(render_error("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}")
            .find("bytes") != std::string::npos);
  CHECK(render_error("{% set ns = namespace(s=[1]) %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}")
            .find("list past its limit") != std::string::npos);
  CHECK(render_error("{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s.replace('a', ns.s) %}{% endfor %}")
            .find("bytes") != std::string::npos);
  CHECK(render_error("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns|tojson }}").find("contains itself") != std::string::npos);
  CHECK(render_error("{% for i in range(100000000000000000000) %}{% endfor %}").find("steps") != std::string::npos);
  ChatRenderLimits small_output;
  small_output.max_output_bytes = 1000;
  CHECK(render_error("{% for i in range(1000) %}xx{% endfor %}", small_output).find("1000 bytes") != std::string::npos);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(seconds < 10);
}

TEST_CASE("a chat template renders from many threads at once", "[chat]") {
  const ChatTemplate t(test::read_bytes(std::string(MMB_SOURCE_DIR) + "/tests/chat/templates/tool_role.jinja"));
  const std::string expected = t.render(input());
  std::vector<std::thread> threads;
  std::vector<int> same(4, 0);
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      for (int i = 0; i < 200; ++i) same[size_t(k)] += t.render(input()) == expected;
    });
  for (std::thread& th : threads) th.join();
  for (int s : same) CHECK(s == 200);
}

namespace {

// Sanitizers make every frame several times larger.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr size_t kStackBytes = size_t(8) << 20;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr size_t kStackBytes = size_t(8) << 20;
#else
constexpr size_t kStackBytes = size_t(512) << 10;
#endif
#else
constexpr size_t kStackBytes = size_t(512) << 10;
#endif

struct StackRun {
  std::string source, error;
};

void* render_on_small_stack(void* arg) {
  auto* run = static_cast<StackRun*>(arg);
  try {
    render(run->source);
  } catch (const Error& e) {
    run->error = e.what();
  }
  return nullptr;
}

}  // namespace

TEST_CASE("a chat template that recurses to its limits renders within a 512 KiB stack", "[chat]") {
  const std::vector<std::string> deepest = {
      "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
      "{% macro f(n) %}{{ ((((((((((f(n + 1)|trim)|trim)|trim)|trim)|trim)|trim)|trim)|trim)|trim)|trim) ~ 'x' }}{% endmacro %}{{ f(0) }}",
      "{% macro f(n) %}{% for i in [1] %}{% if true %}{% for j in [1] %}{% set x = [f(n + 1)] %}{% endfor %}{% endif %}"
      "{% endfor %}{% endmacro %}{{ f(0) }}",
      "{% macro f(n) %}{{ {'a': [f(n + 1)[1:]|trim]}|tojson }}{% endmacro %}{{ f(0) }}",
  };
  for (const std::string& source : deepest) {
    INFO(source);
    StackRun run{source, ""};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, kStackBytes);
    pthread_t thread;
    REQUIRE(pthread_create(&thread, &attr, render_on_small_stack, &run) == 0);
    pthread_join(thread, nullptr);
    pthread_attr_destroy(&attr);
    CHECK(run.error.find("chat template: line 1: the template nests") == 0);
  }
}
