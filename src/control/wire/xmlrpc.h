// XML-RPC values and the wire format supervisord speaks at /RPC2: decoding a methodCall or a
// methodResponse, encoding responses and faults (pugixml underneath).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace podvisor::control::xmlrpc {

struct Value;
using Array = std::vector<Value>;
using Struct = std::map<std::string, Value>;

// One XML-RPC value. supervisord uses int, boolean, string, double, array and struct;
// nil only in replies of methods returning None (encoded as <nil/>, as Python's
// xmlrpc.client does with allow_none).
struct Nil {
  bool operator==(const Nil&) const = default;
};
struct Value {
  std::variant<Nil, bool, int64_t, double, std::string, Array, Struct> v;

  Value() = default;
  Value(Nil) {}
  Value(bool b) : v(b) {}
  Value(int i) : v(int64_t{i}) {}
  Value(int64_t i) : v(i) {}
  Value(double d) : v(d) {}
  Value(const char* s) : v(std::string(s)) {}
  Value(std::string s) : v(std::move(s)) {}
  Value(Array a) : v(std::move(a)) {}
  Value(Struct s) : v(std::move(s)) {}

  bool operator==(const Value&) const = default;
};

struct Call {
  std::string method;
  Array params;
};

struct Fault {
  int code = 0;
  std::string message;
};

// Malformed XML or a document that is not a methodCall/methodResponse.
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Values nested deeper than this (arrays in arrays ...) are a DecodeError.
inline constexpr int kMaxDepth = 64;

// Rejects malformed XML and documents that are not a methodCall with a method name; never
// crashes on any input. A <value> without a type is a string; <base64> decodes to a string,
// <dateTime.iso8601> stays its text.
Call decode_call(std::string_view body);
// A methodResponse: the value, or the fault it carries.
std::variant<Value, Fault> decode_response(std::string_view body);

// Python's xmlrpc.client.dumps bytes. Strings become valid XML 1.0 text whatever they hold:
// &, < and > escaped, CR as &#13;, other C0 controls (NUL, the ESC of ANSI colours) and
// broken UTF-8 replaced by U+FFFD (supervisord sends them raw and the client fails).
std::string encode_call(const Call& call);
std::string encode_response(const Value& value);
std::string encode_fault(const Fault& fault);

// The escaping the encoders apply to every string, for callers that write XML themselves.
void append_escaped_text(std::string& out, std::string_view text);
std::string escape_text(std::string_view text);

}  // namespace podvisor::control::xmlrpc
