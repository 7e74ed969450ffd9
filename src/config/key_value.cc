#include "config/key_value.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "config/values.h"

namespace podvisor::config {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// shlex's wordchars (ASCII only: Latin-1 letters join them only in POSIX mode) plus the
// characters supervisord adds.
bool is_word(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u < 0x80 && std::isalnum(u)) || (c != '\0' && std::strchr("_/.+-():", c) != nullptr);
}

bool is_quote(char c) { return c == '\'' || c == '"'; }

// Python's str.strip('\'"'): any run of either quote at either end.
std::string strip_quotes(std::string_view v) {
  const auto first = v.find_first_not_of("'\"");
  if (first == std::string_view::npos) return {};
  const auto last = v.find_last_not_of("'\"");
  return std::string(v.substr(first, last - first + 1));
}

}  // namespace

std::vector<std::string> supervisord_env_tokens(std::string_view text) {
  enum class State { kBetween, kWord, kQuoted } state = State::kBetween;
  std::vector<std::string> out;
  std::string token;
  char quote = 0;
  size_t i = 0;
  // '#' comments out the rest of the line; inside a word the word goes on after it.
  auto skip_line = [&] {
    const auto nl = text.find('\n', i);
    i = nl == std::string_view::npos ? text.size() : nl + 1;
  };
  auto emit = [&] {
    out.push_back(std::move(token));
    token.clear();
    state = State::kBetween;
  };
  while (i < text.size()) {
    const char c = text[i++];
    switch (state) {
      case State::kBetween:
        if (is_space(c)) break;
        if (c == '#') {
          skip_line();
        } else if (is_word(c)) {
          token = c;
          state = State::kWord;
        } else if (is_quote(c)) {
          token = c;
          quote = c;
          state = State::kQuoted;
        } else {
          // Any other character is a token of its own; Python counts a whole UTF-8
          // sequence as one character.
          token = c;
          while ((c & 0x80) && i < text.size() && (text[i] & 0xC0) == 0x80) token += text[i++];
          emit();
        }
        break;
      case State::kQuoted:
        // Non-POSIX: the quotes stay in the token, which ends at the closing one.
        token += c;
        if (c == quote) emit();
        break;
      case State::kWord:
        if (is_space(c)) {
          emit();
        } else if (c == '#') {
          skip_line();
        } else if (is_word(c) || is_quote(c)) {
          token += c;
        } else {
          --i;  // read again, as the start of the next token
          emit();
        }
        break;
    }
  }
  if (state == State::kQuoted) throw ValueError("No closing quotation");
  if (state == State::kWord) out.push_back(std::move(token));
  return out;
}

std::string quote_env_value(std::string_view value) {
  if (!value.empty() && std::all_of(value.begin(), value.end(), is_word)) return std::string(value);
  const char quote = value.find('"') == std::string_view::npos ? '"' : '\'';
  return fmt::format("{}{}{}", quote, value, quote);
}

KeyValuePairs parse_key_value_pairs(std::string_view text) {
  const auto tokens = supervisord_env_tokens(text);
  KeyValuePairs out;
  for (size_t i = 0; i < tokens.size(); i += 4) {
    if (i + 2 >= tokens.size() || tokens[i + 1] != "=") {
      throw ValueError(fmt::format("Unexpected end of key/value pairs in value '{}'", text));
    }
    auto value = strip_quotes(tokens[i + 2]);
    if (i + 3 < tokens.size() && tokens[i + 3] != ",") {
      out.notes.push_back(fmt::format(
          "'{}' after {}={} is skipped as the separator, as supervisord does (write ',' "
          "between pairs, quote a value that holds spaces or other characters)",
          tokens[i + 3], tokens[i], tokens[i + 2]));
    }
    out.values[tokens[i]] = std::move(value);
  }
  return out;
}

}  // namespace podvisor::config
