// supervisord's `environment=` reader (datatypes.dict_of_key_value_pairs): a non-POSIX shlex
// tokenizer, then KEY = VALUE groups with one token skipped after each, whatever it is.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace podvisor::config {

struct KeyValuePairs {
  std::map<std::string, std::string> values;
  // What supervisord accepts without a word but likely is a mistake: a skipped token that
  // is not ',' (`A="x".` then a new line, `A=a b`, `A=$HOME`).
  std::vector<std::string> notes;
};

// Throws ValueError with supervisord's wording ("Unexpected end of key/value pairs in value
// '...'", "No closing quotation").
KeyValuePairs parse_key_value_pairs(std::string_view text);

// `value` as an environment= value that parse_key_value_pairs reads back: as it is when it is
// one word, else in quotes ("..." or, when it holds a '"', '...'). A value holding both
// quotes, or starting or ending with one, has no such spelling; it is then quoted anyway.
std::string quote_env_value(std::string_view value);

// The tokens of Python's shlex.shlex(text) with supervisord's extra word characters.
std::vector<std::string> supervisord_env_tokens(std::string_view text);

}  // namespace podvisor::config
