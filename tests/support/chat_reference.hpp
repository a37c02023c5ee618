// What the chat-template tests share: @huggingface/jinja (the Jinja interpreter of
// transformers.js, installed by sdk/scripts/setup.sh under MMB_DEPS_DIR) run through
// tests/chat/render_reference.mjs on a batch of templates and conversations.
#pragma once

#include <nlohmann/json.hpp>

namespace mmb::test {

// `cases`: {"templates": [...], "cases": [...]} as render_reference.mjs reads it (ordered,
// so that each message's keys keep our order). Returns one {"ok", "text" | "error"} per
// case; fails the test when the package or node is missing.
nlohmann::json render_with_reference(const nlohmann::ordered_json& cases);

}  // namespace mmb::test
