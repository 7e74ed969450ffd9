#include "control/wire/xmlrpc.h"

#include <fmt/format.h>

#include <charconv>
#include <cstring>
#include <limits>
#include <pugixml.hpp>

#include "control/wire/base64.h"

namespace podvisor::control::xmlrpc {
namespace {

// ---------------------------------------------------------------------------------------------
// Encoding: the exact bytes Python's xmlrpc.client.dumps writes, so that a reply compares equal
// to supervisord's, except that every string is made valid XML 1.0 first.

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

void append_double(std::string& out, double d) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  std::string_view text(buf, ec == std::errc{} ? static_cast<size_t>(end - buf) : 0);
  out += text;
  // Python writes repr(float): "2.0", not "2".
  if (text.find_first_of(".enia") == std::string_view::npos) out += ".0";
}

void append_value(std::string& out, const Value& value);

struct ValueWriter {
  std::string& out;

  void operator()(const Nil&) const {
    // Python writes no line break after <nil/>; kept for byte equality.
    out += "<value><nil/></value>";
  }
  void operator()(bool b) const {
    out += "<value><boolean>";
    out += b ? '1' : '0';
    out += "</boolean></value>\n";
  }
  void operator()(int64_t i) const {
    // Python refuses integers beyond 32 bits; <i8> is what its reader accepts for them.
    const bool fits =
        i >= std::numeric_limits<int32_t>::min() && i <= std::numeric_limits<int32_t>::max();
    out += fits ? "<value><int>" : "<value><i8>";
    out += fmt::format_int(i).str();
    out += fits ? "</int></value>\n" : "</i8></value>\n";
  }
  void operator()(double d) const {
    out += "<value><double>";
    append_double(out, d);
    out += "</double></value>\n";
  }
  void operator()(const std::string& s) const {
    out += "<value><string>";
    append_escaped_text(out, s);
    out += "</string></value>\n";
  }
  void operator()(const Array& a) const {
    out += "<value><array><data>\n";
    for (const auto& v : a) append_value(out, v);
    out += "</data></array></value>\n";
  }
  void operator()(const Struct& s) const {
    out += "<value><struct>\n";
    for (const auto& [name, v] : s) {
      out += "<member>\n<name>";
      append_escaped_text(out, name);
      out += "</name>\n";
      append_value(out, v);
      out += "</member>\n";
    }
    out += "</struct></value>\n";
  }
};

void append_value(std::string& out, const Value& value) { std::visit(ValueWriter{out}, value.v); }

constexpr std::string_view kProlog = "<?xml version='1.0'?>\n";

// ---------------------------------------------------------------------------------------------
// Decoding.

[[noreturn]] void fail(std::string_view what) { throw DecodeError(std::string(what)); }

std::string_view local_name(const pugi::xml_node& node) {
  // Python's reader drops namespace prefixes (<ex:nil/> from Apache's extension).
  std::string_view name = node.name();
  if (const auto colon = name.rfind(':'); colon != std::string_view::npos) {
    name.remove_prefix(colon + 1);
  }
  return name;
}

bool is_text(const pugi::xml_node& node) {
  return node.type() == pugi::node_pcdata || node.type() == pugi::node_cdata;
}

bool is_blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

// The character data of an element that holds text only.
std::string text_of(const pugi::xml_node& element) {
  std::string text;
  for (const auto& child : element.children()) {
    if (!is_text(child)) fail(fmt::format("<{}> holds an element", element.name()));
    text += child.value();
  }
  return text;
}

// The one child element of node (whitespace around it allowed), or an empty node if it holds
// text only.
pugi::xml_node only_element(const pugi::xml_node& node) {
  pugi::xml_node found;
  for (const auto& child : node.children()) {
    if (child.type() == pugi::node_element) {
      if (found) fail(fmt::format("<{}> holds more than one element", node.name()));
      found = child;
    }
  }
  if (found) {
    for (const auto& child : node.children()) {
      if (is_text(child) && !is_blank(child.value())) {
        fail(fmt::format("<{}> mixes text and elements", node.name()));
      }
    }
  }
  return found;
}

// The child elements of node, which must all be called name; text between them must be blank.
std::vector<pugi::xml_node> elements_named(const pugi::xml_node& node, std::string_view name) {
  std::vector<pugi::xml_node> found;
  for (const auto& child : node.children()) {
    if (child.type() == pugi::node_element) {
      if (local_name(child) != name) {
        fail(fmt::format("<{}> inside <{}>, expected <{}>", child.name(), node.name(), name));
      }
      found.push_back(child);
    } else if (is_text(child) && !is_blank(child.value())) {
      fail(fmt::format("text inside <{}>", node.name()));
    }
  }
  return found;
}

int64_t parse_integer(const std::string& text) {
  std::string_view digits = trim(text);
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size()) {
    fail(fmt::format("bad integer value '{}'", text));
  }
  return value;
}

double parse_double(const std::string& text) {
  std::string_view digits = trim(text);
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  double value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size()) {
    fail(fmt::format("bad double value '{}'", text));
  }
  return value;
}

Value decode_value(const pugi::xml_node& value_node, int depth) {
  if (depth > kMaxDepth) fail("values nested too deeply");
  const pugi::xml_node typed = only_element(value_node);
  if (!typed) return Value(text_of(value_node));  // no type: a string, as the spec says

  const std::string_view type = local_name(typed);
  if (type == "string") return Value(text_of(typed));
  if (type == "int" || type == "i4" || type == "i8" || type == "i1" || type == "i2" ||
      type == "biginteger") {
    return Value(parse_integer(text_of(typed)));
  }
  if (type == "boolean") {
    const std::string text = text_of(typed);
    const std::string_view bit = trim(text);
    if (bit == "1") return Value(true);
    if (bit == "0") return Value(false);
    fail(fmt::format("bad boolean value '{}'", text));
  }
  if (type == "double" || type == "float" || type == "bigdecimal") {
    return Value(parse_double(text_of(typed)));
  }
  if (type == "nil") {
    if (typed.first_child()) fail("<nil/> holds content");
    return Value(Nil{});
  }
  if (type == "base64") {
    auto bytes = base64_decode(text_of(typed));
    if (!bytes) fail("bad base64 value");
    return Value(std::move(*bytes));
  }
  if (type == "dateTime.iso8601") return Value(text_of(typed));  // kept as its text
  if (type == "array") {
    // <array><data>values</data></array>; values straight under <array> are accepted too.
    pugi::xml_node data = only_element(typed);
    if (!data) {
      if (!is_blank(text_of(typed))) fail("text inside <array>");
      return Value(Array{});
    }
    if (local_name(data) != "data") data = typed;
    Array items;
    for (const auto& item : elements_named(data, "value")) {
      items.push_back(decode_value(item, depth + 1));
    }
    return Value(std::move(items));
  }
  if (type == "struct") {
    Struct members;
    for (const auto& member : elements_named(typed, "member")) {
      pugi::xml_node name, value;
      for (const auto& part : member.children()) {
        if (part.type() == pugi::node_element) {
          const std::string_view part_name = local_name(part);
          if (part_name == "name" && !name) {
            name = part;
          } else if (part_name == "value" && !value) {
            value = part;
          } else {
            fail(fmt::format("<{}> inside <member>", part.name()));
          }
        } else if (is_text(part) && !is_blank(part.value())) {
          fail("text inside <member>");
        }
      }
      if (!name || !value) fail("<member> without <name> and <value>");
      // A name met twice: the last wins, as in Python's dict.
      members.insert_or_assign(text_of(name), decode_value(value, depth + 1));
    }
    return Value(std::move(members));
  }
  fail(fmt::format("unknown value type <{}>", typed.name()));
}

pugi::xml_node load_root(pugi::xml_document& doc, std::string_view body,
                         std::string_view expected) {
  // No DOCTYPE, comments or PIs kept; pugixml never expands entities beyond the five of XML
  // and character references, so no entity bombs. A whitespace-only text that is the only
  // child is kept: <value> </value> is the string " ".
  // NUL is no XML character anywhere, and pugixml would take it as the end of the text.
  if (body.find('\0') != std::string_view::npos) fail("NUL byte in the document");
  const unsigned options = pugi::parse_default | pugi::parse_ws_pcdata_single;
  const auto result = doc.load_buffer(body.data(), body.size(), options, pugi::encoding_auto);
  if (!result)
    fail(fmt::format("malformed XML at offset {}: {}", result.offset, result.description()));
  pugi::xml_node root;
  for (const auto& child : doc.children()) {
    if (child.type() == pugi::node_element) {
      if (root) fail("more than one root element");
      root = child;
    } else if (is_text(child)) {
      fail("text outside the root element");
    }
  }
  if (!root) fail("no root element");
  if (local_name(root) != expected) {
    fail(fmt::format("<{}> where <{}> was expected", root.name(), expected));
  }
  return root;
}

}  // namespace

void append_escaped_text(std::string& out, std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        // A literal CR would reach the client as LF (XML end-of-line handling); a character
        // reference keeps it, so progress bars drawn with \r survive.
        case '\r':
          out += "&#13;";
          break;
        case '\t':
        case '\n':
          out += static_cast<char>(c);
          break;
        default:
          // Other C0 controls (NUL, ESC of ANSI colours, ...) cannot appear in XML 1.0 at all,
          // not even as references.
          if (c < 0x20) {
            out += kReplacement;
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // A multi-byte sequence: its length and the range of its second byte (RFC 3629), which
    // rules out overlong forms, surrogates and code points past U+10FFFF.
    size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;
      if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;
    }
    if (length == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    size_t k = 1;
    for (; k < length && i + k < n; ++k) {
      const unsigned char b = s[i + k];
      const unsigned char lo = k == 1 ? low : 0x80;
      const unsigned char hi = k == 1 ? high : 0xBF;
      if (b < lo || b > hi) break;
    }
    if (k < length) {
      // One replacement for the maximal invalid subpart, as Python's errors="replace" does.
      out += kReplacement;
      i += k;
      continue;
    }
    char32_t cp = c & (0xFF >> (length + 1));
    for (k = 1; k < length; ++k) cp = cp << 6 | (s[i + k] & 0x3F);
    if (cp == 0xFFFE || cp == 0xFFFF) {
      out += kReplacement;  // not XML characters
    } else {
      out.append(text.data() + i, length);
    }
    i += length;
  }
}

std::string escape_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  append_escaped_text(out, text);
  return out;
}

Call decode_call(std::string_view body) {
  pugi::xml_document doc;
  const pugi::xml_node root = load_root(doc, body, "methodCall");
  Call call;
  bool named = false, has_params = false;
  for (const auto& child : root.children()) {
    if (child.type() == pugi::node_element) {
      const std::string_view name = local_name(child);
      if (name == "methodName" && !named) {
        call.method = text_of(child);
        named = true;
      } else if (name == "params" && !has_params) {
        has_params = true;
        for (const auto& param : elements_named(child, "param")) {
          const auto values = elements_named(param, "value");
          if (values.size() != 1) fail("<param> must hold one <value>");
          call.params.push_back(decode_value(values.front(), 1));
        }
      } else {
        fail(fmt::format("<{}> inside <methodCall>", child.name()));
      }
    } else if (is_text(child) && !is_blank(child.value())) {
      fail("text inside <methodCall>");
    }
  }
  // supervisord answers 400 to a call without a name.
  if (call.method.empty()) fail("no method name");
  return call;
}

std::variant<Value, Fault> decode_response(std::string_view body) {
  pugi::xml_document doc;
  const pugi::xml_node root = load_root(doc, body, "methodResponse");
  const pugi::xml_node part = only_element(root);
  if (!part) fail("empty <methodResponse>");
  const std::string_view kind = local_name(part);
  if (kind == "params") {
    const auto params = elements_named(part, "param");
    if (params.size() != 1) fail("a response must hold one <param>");
    const auto values = elements_named(params.front(), "value");
    if (values.size() != 1) fail("<param> must hold one <value>");
    return decode_value(values.front(), 1);
  }
  if (kind == "fault") {
    const auto values = elements_named(part, "value");
    if (values.size() != 1) fail("<fault> must hold one <value>");
    const Value value = decode_value(values.front(), 1);
    const auto* members = std::get_if<Struct>(&value.v);
    if (!members) fail("a fault must be a struct");
    const auto code = members->find("faultCode");
    const auto text = members->find("faultString");
    if (code == members->end() || text == members->end()) {
      fail("a fault needs faultCode and faultString");
    }
    const auto* number = std::get_if<int64_t>(&code->second.v);
    const auto* message = std::get_if<std::string>(&text->second.v);
    if (!number || !message || *number < std::numeric_limits<int>::min() ||
        *number > std::numeric_limits<int>::max()) {
      fail("a fault needs an int faultCode and a string faultString");
    }
    return Fault{static_cast<int>(*number), *message};
  }
  fail(fmt::format("<{}> inside <methodResponse>", part.name()));
}

std::string encode_call(const Call& call) {
  std::string out(kProlog);
  out += "<methodCall>\n<methodName>";
  append_escaped_text(out, call.method);
  out += "</methodName>\n<params>\n";
  for (const auto& param : call.params) {
    out += "<param>\n";
    append_value(out, param);
    out += "</param>\n";
  }
  out += "</params>\n</methodCall>\n";
  return out;
}

std::string encode_response(const Value& value) {
  std::string out(kProlog);
  out += "<methodResponse>\n<params>\n<param>\n";
  append_value(out, value);
  out += "</param>\n</params>\n</methodResponse>\n";
  return out;
}

std::string encode_fault(const Fault& fault) {
  std::string out(kProlog);
  out += "<methodResponse>\n<fault>\n";
  append_value(
      out, Value(Struct{{"faultCode", Value(fault.code)}, {"faultString", Value(fault.message)}}));
  out += "</fault>\n</methodResponse>\n";
  return out;
}

}  // namespace podvisor::control::xmlrpc
