// Chat templates: the model fixtures' renderings and a jinja2-rendered case
// set (tools/fixtures/make_chat_template_fixtures.py) exact, plus the error
// behaviour: syntax errors with lines, raise_exception, unknown filters,
// undefined values, and the bounds on recursion, loops and output.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizers/chat_template/chat_template.h"
#include "tokenizers/chat_template/interpreter.h"
#include "tokenizers/chat_template/parser.h"
#include "tokenizers/chat_template/py_string.h"

namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;
using ia::tok::ChatRenderOptions;
using ia::tok::ChatTemplate;

std::string fixtures() {
  return IA_FIXTURES_DIR;
}

ojson load(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << path;
  std::stringstream ss;
  ss << f.rdbuf();
  return ojson::parse(ss.str());
}

// Renders `tmpl` with exactly the given variables (as jinja2's render(**vars)).
std::string render_vars(const std::string& tmpl, const ojson& vars = ojson::object(),
                        ia::tok::jinja::RenderLimits limits = {}) {
  auto t = ia::tok::jinja::parse(tmpl);
  std::vector<std::pair<std::string, ia::tok::jinja::Value>> globals;
  for (auto it = vars.begin(); it != vars.end(); ++it) {
    globals.emplace_back(it.key(), ia::tok::jinja::Value::from_json(it.value()));
  }
  ia::tok::jinja::Interpreter in(limits);
  return in.render(*t, std::move(globals));
}

// The ia::Error message of rendering `tmpl`, or "" when it renders.
std::string error_of(const std::string& tmpl, const ojson& vars = ojson::object(),
                     ia::tok::jinja::RenderLimits limits = {}) {
  try {
    render_vars(tmpl, vars, limits);
  } catch (const ia::Error& e) {
    EXPECT_EQ(e.kind(), ia::ErrorKind::InvalidArgument) << e.what();
    return e.what();
  }
  return "";
}

void expect_error(const std::string& tmpl, const std::string& needle, const ojson& vars = ojson::object()) {
  std::string msg = error_of(tmpl, vars);
  EXPECT_NE(msg.find(needle), std::string::npos) << "template: " << tmpl << "\nmessage: " << msg;
}

class ModelFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelFixture, EveryCaseRendersExactly) {
  const std::string dir = fixtures() + "/models/" + GetParam();
  ChatTemplate ct = ChatTemplate::from_tokenizer_config(dir);
  ojson cases = load(dir + "/chat_template_cases.json");
  ASSERT_FALSE(cases["cases"].empty());
  for (const auto& c : cases["cases"]) {
    ChatRenderOptions o;
    o.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    EXPECT_EQ(ct.render(c["messages"], o), c["rendered"].get<std::string>()) << c.dump();
  }
}

INSTANTIATE_TEST_SUITE_P(ChatTemplate, ModelFixture, ::testing::Values("llama", "qwen2"));

TEST(ChatTemplate, Jinja2CasesRenderExactly) {
  ojson cases = load(fixtures() + "/chat_templates/jinja_cases.json");
  ASSERT_GT(cases["cases"].size(), 50u);
  for (const auto& c : cases["cases"]) {
    const std::string name = c["name"].get<std::string>();
    const std::string tmpl = c["template"].get<std::string>();
    if (c.contains("error")) {
      std::string msg = error_of(tmpl, c["variables"]);
      EXPECT_NE(msg.find(c["error"].get<std::string>()), std::string::npos) << name << ": " << msg;
      continue;
    }
    try {
      EXPECT_EQ(render_vars(tmpl, c["variables"]), c["rendered"].get<std::string>()) << name;
    } catch (const ia::Error& e) {
      ADD_FAILURE() << name << ": " << e.what();
    }
  }
}

TEST(ChatTemplate, SpecialTokensAndNamedTemplatesFromFolder) {
  const fs::path dir = fs::temp_directory_path() / ("ia_chat_template_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  ojson cfg = {
      {"bos_token", {{"content", "<B>"}, {"lstrip", false}}},
      {"eos_token", "<E>"},
      {"pad_token", nullptr},
      {"chat_template", ojson::array({{{"name", "default"}, {"template", "D{{ bos_token }}{{ pad_token is defined }}"}},
                                      {{"name", "tool_use"}, {"template", "T{{ tools|length }}{{ eos_token }}"}},
                                      {{"name", "rag"}, {"template", "R{{ documents[0].title }}"}}})}};
  std::ofstream(dir / "tokenizer_config.json") << cfg.dump();
  ChatTemplate ct = ChatTemplate::from_tokenizer_config(dir.string());
  EXPECT_EQ(ct.names(), (std::vector<std::string>{"default", "rag", "tool_use"}));
  ojson msgs = ojson::array({{{"role", "user"}, {"content", "hi"}}});
  EXPECT_EQ(ct.render(msgs), "D<B>False");
  ChatRenderOptions o;
  o.tools = ojson::array({{{"name", "f"}}});
  EXPECT_EQ(ct.render(msgs, o), "T1<E>");  // tools pick "tool_use", as transformers does
  o.template_name = "rag";
  o.documents = ojson::array({{{"title", "Doc"}}});
  EXPECT_EQ(ct.render(msgs, o), "RDoc");
  EXPECT_EQ(ChatTemplate::from_tokenizer_config(dir.string(), "rag").render(msgs, o), "RDoc");
  try {
    ChatTemplate::from_tokenizer_config(dir.string(), "nope");
    ADD_FAILURE() << "expected an error";
  } catch (const ia::Error& e) {
    EXPECT_EQ(e.kind(), ia::ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("available: default, rag, tool_use"), std::string::npos) << e.what();
  }
  // chat_template.jinja (newer transformers) replaces the config's default.
  std::ofstream(dir / "chat_template.jinja") << "J{{ messages[0].content }}\n";
  EXPECT_EQ(ChatTemplate::from_tokenizer_config(dir.string()).render(msgs), "Jhi");
  // special_tokens_map.json overrides tokenizer_config.json.
  std::ofstream(dir / "special_tokens_map.json") << R"({"eos_token": {"content": "<EOS2>"}})";
  o = {};
  o.tools = ojson::array();
  EXPECT_EQ(ChatTemplate::from_tokenizer_config(dir.string()).render(msgs, o), "T0<EOS2>");
  fs::remove_all(dir);
}

TEST(ChatTemplate, FolderWithoutTemplateIsNotFound) {
  try {
    ChatTemplate::from_tokenizer_config(fixtures() + "/models/bert");
    ADD_FAILURE() << "expected an error";
  } catch (const ia::Error& e) {
    EXPECT_EQ(e.kind(), ia::ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("no chat template"), std::string::npos) << e.what();
  }
}

TEST(ChatTemplate, RenderOptionsVariables) {
  ChatTemplate ct = ChatTemplate::from_string(
      "{{ add_generation_prompt }}|{{ tools is none }}|{{ documents is none }}|{{ greeting }}|{{ bos_token }}|"
      "{{ strftime_now('%Y-%m-%d') }}",
      {{"bos_token", "<s>"}});
  ChatRenderOptions o;
  o.extra = {{"greeting", "hey"}};
  o.now = 86400 * 365;  // 1971-01-01 UTC
  EXPECT_EQ(ct.render(ojson::array(), o), "False|True|True|hey|<s>|1971-01-01");
  o.extra = {{"messages", 1}};
  EXPECT_THROW(ct.render(ojson::array(), o), ia::Error);
  EXPECT_THROW(ct.render(ojson::object()), ia::Error);  // messages must be a list
  // nlohmann::json input is accepted too.
  EXPECT_EQ(ChatTemplate::from_string("{{ messages[0].role }}").render(nlohmann::json::parse(R"([{"role":"u"}])")),
            "u");
}

TEST(ChatTemplate, ToolsKeepTheirKeyOrder) {
  ChatTemplate ct = ChatTemplate::from_string("{{ tools[0]|tojson }}");
  ChatRenderOptions o;
  o.tools = ojson::parse(R"([{"type": "function", "function": {"name": "f", "description": "d"}}])");
  EXPECT_EQ(ct.render(ojson::array(), o), R"({"type": "function", "function": {"name": "f", "description": "d"}})");
}

// ---- language features not covered by the jinja2 case set ----

TEST(ChatTemplateLanguage, GenerationBlockRendersItsBody) {
  EXPECT_EQ(render_vars("a{% generation %}b{{ 1 }}{% endgeneration %}c"), "ab1c");
}

TEST(ChatTemplateLanguage, TrailingNewlineDroppedOnce) {
  EXPECT_EQ(render_vars("x\n"), "x");
  EXPECT_EQ(render_vars("x\n\n"), "x\n");
}

TEST(ChatTemplateLanguage, StrftimeNowUsesTheClock) {
  std::string year = render_vars("{{ strftime_now('%Y') }}");
  ASSERT_EQ(year.size(), 4u);
  EXPECT_GE(std::stoi(year), 2024);
}

TEST(ChatTemplateLanguage, PyStringKeepsInvalidBytesOneByOne) {
  namespace py = ia::tok::jinja::py;
  // 0xF5..0xFF never start UTF-8: each byte is its own (raw) character and
  // the text round-trips unchanged, as do overlong forms and surrogates.
  for (std::string s : {std::string("a\xF5\x80\x80z"), std::string("\xFF\xFE"), std::string("\xE0\x80\x80"),
                        std::string("\xED\xA0\x80"), std::string("\xF4\x90\x80\x80"), std::string("\xC3")}) {
    EXPECT_EQ(py::length(s), s.size()) << s;
    EXPECT_EQ(py::encode(py::decode(s)), s);
  }
  EXPECT_EQ(py::decode("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"), (py::U32{0xE9, 0x20AC, 0x1F600}));
  EXPECT_EQ(py::length("h\xC3\xA9"), 2u);
}

TEST(ChatTemplateLanguage, ContentAsListOfParts) {
  ojson vars = {
      {"messages",
       ojson::parse(R"([{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}])")}};
  EXPECT_EQ(
      render_vars("{{ messages[0].content|selectattr('type', 'equalto', 'text')|map(attribute='text')|join(' ') }}",
                  vars),
      "a b");
  EXPECT_EQ(render_vars("{{ messages[0]['content'][1]['text'] }}{{ messages[0].content is string }}", vars), "bFalse");
}

// ---- errors ----

TEST(ChatTemplateErrors, SyntaxErrorsNameTheLine) {
  expect_error("line one\n{% if x %}\nno end", "syntax error at line");
  expect_error("line one\n{% if x %}\nno end", "'endif'");
  expect_error("a\nb\n{{ 1 + }}", "line 3");
  expect_error("{% for x in %}{% endfor %}", "syntax error at line 1");
  expect_error("{% foo %}", "unknown tag 'foo'");
  expect_error("{% endif %}", "unknown tag 'endif'");
  expect_error("{{ 'unterminated }}", "unterminated string");
  expect_error("{# no end", "missing end of comment");
  expect_error("{% raw %}abc", "missing end of raw");
  expect_error("{{ x ", "expected '}}'");
  expect_error("{{ (1 }}", "expected");
  expect_error("{% break %}", "outside of a loop");
  expect_error("{{ 99999999999999999999 }}", "too large");
  expect_error("{{ a | }}", "expected a name");
  expect_error("{{ x is }}", "expected a name");
  expect_error("{% set %}", "expected a name");
  expect_error("{{ f(a=1, 2) }}", "positional argument after keyword");
  expect_error("{{ '\\x4' }}", "escape");
  expect_error("{{ @ }}", "unexpected char '@'");
  // The same errors through the ChatTemplate API.
  try {
    ChatTemplate::from_string("ok\n{% for %}");
    ADD_FAILURE();
  } catch (const ia::Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
}

TEST(ChatTemplateErrors, RaiseException) {
  std::string msg = error_of("{{ raise_exception('Roles must alternate') }}");
  EXPECT_NE(msg.find("chat template raised: Roles must alternate"), std::string::npos) << msg;
}

TEST(ChatTemplateErrors, UnknownFilterAndTest) {
  expect_error("{{ 'a'|frobnicate }}", "unknown filter 'frobnicate'");
  expect_error("{{ 'a' is frobnicated }}", "unknown test 'frobnicated'");
  expect_error("\n\n{{ 'a'|nope }}", "at line 3");
}

TEST(ChatTemplateErrors, UndefinedBehavesAsJinja2Undefined) {
  // Printing, truthiness, iteration, length and default are fine ...
  EXPECT_EQ(
      render_vars("[{{ u }}{{ u|length }}{% if u %}x{% endif %}{% for i in u %}i{% endfor %}{{ u|default('d') }}]"),
      "[0d]");
  EXPECT_EQ(render_vars("{{ u ~ 'x' }}{{ u == u }}{{ u is defined }}{{ not u }}{{ 'a' in u }}"), "xTrueFalseTrueFalse");
  EXPECT_EQ(render_vars("{{ range == range }}{{ range is sameas range }}{{ namespace() is sameas namespace() }}"),
            "TrueTrueFalse");
  // ... but attributes, items, arithmetic and calls on it are errors.
  expect_error("{{ u.attr }}", "'u' is undefined");
  expect_error("{{ u['k'] }}", "'u' is undefined");
  expect_error("{{ u + 1 }}", "'u' is undefined");
  expect_error("{{ u() }}", "'u' is undefined");
  expect_error("{{ d.missing.deeper }}", "has no attribute 'missing'", {{"d", ojson::object()}});
  expect_error("{{ u|tojson }}", "not JSON serializable");
}

TEST(ChatTemplateErrors, RuntimeTypeErrors) {
  expect_error("{{ 1 + 'a' }}", "unsupported operand type(s) for +: 'int' and 'str'");
  expect_error("{{ 1 / 0 }}", "division by zero");
  expect_error("{{ 1 // 0 }}", "division or modulo by zero");
  expect_error("{{ 'a' < 1 }}", "not supported between");
  expect_error("{{ 1 in 2 }}", "not iterable");
  expect_error("{% for x in 5 %}{% endfor %}", "'int' object is not iterable");
  expect_error("{{ 'a'() }}", "not callable");
  expect_error("{{ 9223372036854775807 + 1 }}", "integer overflow");
  expect_error("{% set a, b = [1] %}", "cannot unpack");
  expect_error("{% set x = 1 %}{% set x.y = 2 %}", "non-namespace");
  expect_error("{{ [1].append(2) }}", "unsafe");
  expect_error("{{ {}.update({}) }}", "unsafe");
  expect_error("{{ 'ab'[::0] }}", "slice step cannot be zero");
  expect_error("{{ range(1, 2, 0) }}", "must not be zero");
  // Out-of-range numbers inside strings give ia::Error, not std::out_of_range.
  expect_error("{{ [{'a': 1}] | map(attribute='99999999999999999999') | list }}", "too large");
  expect_error("{{ '{99999999999999999999}'.format(1) }}", "no argument for field");
  expect_error("{% set ns = namespace() %}{% set ns.self = ns %}", "namespace cannot hold a namespace");
}

TEST(ChatTemplateLanguage, SliceWithHugeStepStopsAfterOneItem) {
  EXPECT_EQ(render_vars("{{ 'abc'[1::9223372036854775807] }}"), "b");
  EXPECT_EQ(render_vars("{{ [1, 2, 3][1::-9223372036854775807] }}"), "[2]");
}

TEST(ChatTemplateErrors, RecursionIsBounded) {
  expect_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "nested too deeply");
  // Deeply nested source is refused at parse time, not by a stack overflow.
  expect_error("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}", "nested too deeply");
  expect_error("{{ " + std::string(3000, '[') + std::string(3000, ']') + " }}", "nested too deeply");
  std::string ifs;
  for (int i = 0; i < 500; ++i) ifs += "{% if true %}";
  for (int i = 0; i < 500; ++i) ifs += "{% endif %}";
  expect_error(ifs, "nested too deeply");
}

TEST(ChatTemplateErrors, WorkAndOutputAreBounded) {
  ia::tok::jinja::RenderLimits small;
  small.max_steps = 10'000;
  small.max_string_bytes = 1 << 16;
  small.max_list_items = 1000;
  EXPECT_NE(error_of("{% for i in range(100) %}{% for j in range(100) %}{% for k in range(100) %}{% endfor %}"
                     "{% endfor %}{% endfor %}",
                     {}, small)
                .find("too much work"),
            std::string::npos);
  EXPECT_NE(error_of("{{ range(100000)|length }}", {}, small).find("range() of more than"), std::string::npos);
  EXPECT_NE(error_of("{{ 'x' * 100000 }}", {}, small).find("string longer than"), std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                     {}, small)
                .find("string longer than"),
            std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
                     {}, small)
                .find("list longer than"),
            std::string::npos);
  // Default limits through the API: a render that never ends is stopped.
  ChatTemplate ct = ChatTemplate::from_string(
      "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}"
      "{% endfor %}");
  ChatRenderOptions o;
  o.max_steps = 100'000;
  EXPECT_THROW(ct.render(ojson::array(), o), ia::Error);
}

}  // namespace
