// JSON Schema to grammar: the text a model may write is exactly JSON that validates
// against the schema (a subset of it: see below), so structured output needs no
// retry. The schema is compiled into the shared grammar form (grammar_ast.hpp).
//
// Supported: boolean schemas and `{}`; type (one or a list): object (properties,
// required, additionalProperties), array (items, prefixItems, draft-7 tuple items with
// additionalItems, minItems, maxItems, uniqueItems false), string (minLength,
// maxLength in code points), number and integer (minimum, maximum, exclusiveMinimum,
// exclusiveMaximum, draft-4 boolean exclusives too), boolean, null; enum and const of
// any values; anyOf and oneOf (both a choice); allOf of one subschema; $ref to "#",
// "#/$defs/NAME" and "#/definitions/NAME" (one rule each, so recursion works).
// Annotations (title, description, examples, default, $schema, $id, $comment,
// deprecated, readOnly, writeOnly) and "x-" extension keywords are ignored. Any other
// keyword is refused, since it may restrict what is valid and the output must never
// be invalid.
//
// The generated language is a subset of the valid documents, never a superset:
//  - properties come in the schema's order; every optional property may be left out;
//    additional properties, even where allowed, are not written (an object with no
//    `properties` has free string keys whose values follow additionalProperties);
//  - numbers with bounds have no exponent, and near a bound that is not a multiple
//    of 0.1 only the decimals whose every continuation stays in range
//    (decimal_range.hpp); a draft-4 integer-valued float like 1.0 is not written for
//    `integer`;
//  - \uXXXX escapes exclude surrogates, so code point counts (min/maxLength) are
//    those of the escaped text.
// Whitespace: up to `whitespace` characters of [ \t\n] after `{` `[` `,` `:` and
// before `}` `]`; none at the start or end of the document.
#pragma once

#include "grammar/grammar_ast.hpp"

#include <cstdint>
#include <string_view>

namespace mmb::grammar {

struct JsonGrammarOptions {
  // Most whitespace characters (space, \n, \t) at each place JSON allows whitespace;
  // 0: compact JSON only.
  int32_t whitespace = 1;
};

// Throws MMB_ERR_GRAMMAR with "schema line L, column C: ..." for text that is not
// JSON, and "schema at /json/pointer: ..." for a schema this compiler refuses (an
// unsupported keyword, a malformed or contradictory value, a bound over 100000 on a
// length or item count). Each rule's `where` is the JSON pointer of its subschema
// ("/" for the root).
GrammarAst json_schema_grammar(std::string_view schema_json, const JsonGrammarOptions& options);

}  // namespace mmb::grammar
