// Small text-level JSON helpers the stores share, so that both databases key and return params
// the same way. They do not validate: the databases do (docs/store.md). Pure functions.
#pragma once

#include <string>
#include <string_view>

namespace netpulse::store {

// The text without whitespace outside strings.
std::string minify_json(std::string_view json);

// A JSON object in canonical form: minified, top-level members ordered by key length then key
// bytes (PostgreSQL's jsonb order), a repeated key keeping its last value. Text that is not a
// well-formed object comes back unchanged (the database then refuses it).
std::string canonical_object(std::string_view json);

}  // namespace netpulse::store
