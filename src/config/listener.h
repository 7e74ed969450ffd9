// [eventlistener:x]'s own keys (events, buffer_size, result_handler) with supervisord's
// checks and wording; the loader reads the rest of the section as a [program:x].
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/spec.h"

namespace podvisor::config {

// The keys as the section sets them (expanded), absent when it does not.
struct ListenerKeys {
  std::optional<std::string> events = {}, buffer_size = {}, result_handler = {};
};

// Which key a ListenerError is about ("" for the section itself), and why.
struct ListenerError : ValueError {
  ListenerError(std::string about, const std::string& message)
      : ValueError(message), key(std::move(about)) {}
  std::string key;
};

// `section` is "eventlistener:x". Throws ListenerError with supervisord's message.
ListenerSpec parse_listener(std::string_view section, const ListenerKeys& keys);

// The only result_handler podvisor has: supervisord's default, OK or a rejection.
inline constexpr std::string_view kDefaultResultHandler = "supervisor.dispatchers:default_handler";

}  // namespace podvisor::config
