// The filters (x | f), tests (x is t) and methods (s.strip(), d.get(k)) a chat
// template may use, each with the reference engine's behaviour for each type. A name
// outside these lists is refused when the template is compiled.
#pragma once

#include "chat/jinja_value.hpp"

#include <string>
#include <string_view>

namespace mmb::jinja {

bool is_filter_name(std::string_view name);
bool is_test_name(std::string_view name);
bool is_method_name(std::string_view name);
bool is_global_function(std::string_view name);  // range, namespace, raise_exception, strftime_now

struct Arguments {
  List positional;
  Dict keywords;
  // The longest text a filter or method may build (the render's output limit), checked
  // while it builds, so that a replace of a replace cannot first allocate terabytes.
  size_t max_text_bytes = size_t(-1);
};

// `operand | name` (called: written with parentheses, even empty ones).
// `string_literal_args`: whether every argument was written as a string literal
// (selectattr and rejectattr accept nothing else).
Value apply_filter(std::string_view name, const Value& operand, bool called, const Arguments& args,
                   bool string_literal_args);
// `operand is name`, or a test named by selectattr with its extra argument.
bool apply_test(std::string_view name, const Value& operand, const Value* argument = nullptr);

// The attribute `name` of a string, list or dict that is not one of its entries
// (s.length, or a method); Undefined when there is none. `*is_method` says whether it
// must be called through call_method.
Value builtin_attribute(const Value& receiver, std::string_view name, bool* is_method);
Value call_method(const Value& receiver, std::string_view name, const Arguments& args);

// Python's str.split, replace and slicing as the reference engine has them.
Value slice_value(const Value& object, const Value& start, const Value& stop, const Value& step);

// strftime with %Y %m %d %b %B %H %M %% of the current local time.
std::string strftime_now(std::string_view format);

}  // namespace mmb::jinja
