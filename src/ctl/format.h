// The Python behaviour supervisorctl's output depends on (str.split, int(), repr(), %-Ns
// padding, exception class names, cmd's column layout) and str() of the XML-RPC values its
// commands print.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "control/wire/xmlrpc.h"

namespace podvisor::ctl {

// str.split() without arguments: runs of whitespace separate, none at either end.
std::vector<std::string> split(std::string_view text);
// str.strip().
std::string strip(std::string_view text);
// supervisor's split_namespec: (group, process); no process for "group:" and "group:*".
std::pair<std::string, std::optional<std::string>> split_namespec(const std::string& spec);
// int() of a decimal string (sign, surrounding whitespace and single underscores allowed);
// nullopt where Python raises ValueError or the value leaves int64.
std::optional<int64_t> python_int(std::string_view text);
// repr() of a str.
std::string python_repr(std::string_view s);
// The width Python's %-Ns pads to counts characters (UTF-8 sequences), not bytes.
size_t display_length(std::string_view s);
// str.ljust(width), with display_length.
std::string ljust(std::string_view s, size_t width);
// The OSError subclass Python raises for an errno ("OSError" for the rest).
std::string python_exception_class(int error);
// cmd.Cmd.columnize: the words in columns no wider than `width`, one string per line.
std::vector<std::string> columnize(const std::vector<std::string>& words, size_t width);

// --- XML-RPC values as the commands read them

// The server answered a value of another shape than the command expects.
class BadAnswer : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

const control::xmlrpc::Struct& as_struct(const control::xmlrpc::Value& v);
const control::xmlrpc::Array& as_array(const control::xmlrpc::Value& v);
// The member `key` of a struct.
const control::xmlrpc::Value& field(const control::xmlrpc::Value& v, const std::string& key);
// str(value): "True", "None", numbers in decimal.
std::string text(const control::xmlrpc::Value& v);
int64_t number(const control::xmlrpc::Value& v);
// bool(value).
bool truth(const control::xmlrpc::Value& v);

}  // namespace podvisor::ctl
