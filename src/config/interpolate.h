// Python %-interpolation as supervisord applies it to config values: %(name)s, %(name)d,
// %(name)02d, and %% for a literal percent sign.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "config/values.h"

namespace podvisor::config {

using Expansions = std::map<std::string, std::string>;

// Throws ValueError naming the key (e.g. "program:web.command") and the missing name.
std::string expand(std::string_view text, const Expansions& names, std::string_view what);

}  // namespace podvisor::config
