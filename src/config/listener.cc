#include "config/listener.h"

#include <fmt/format.h>

#include "config/values.h"

namespace podvisor::config {

ListenerSpec parse_listener(std::string_view section, const ListenerKeys& keys) {
  ListenerSpec out;
  if (!keys.events || trim(*keys.events).empty()) {
    throw ListenerError("", fmt::format("[{}] section requires an \"events\" line", section));
  }
  try {
    out.events = parse_event_types(*keys.events);
  } catch (const ValueError& e) {
    throw ListenerError("events", fmt::format("{} in [{}] events", e.what(), section));
  }
  if (keys.buffer_size) {
    long size = 0;
    try {
      size = parse_int(*keys.buffer_size, -(1L << 31), (1L << 31) - 1);
    } catch (const ValueError& e) {
      throw ListenerError("buffer_size", fmt::format("[{}] buffer_size: {}", section, e.what()));
    }
    if (size < 1) {
      throw ListenerError("buffer_size",
                          fmt::format("[{}] section sets invalid buffer_size ({})", section, size));
    }
    out.buffer_size = static_cast<int>(size);
  }
  if (keys.result_handler && trim(*keys.result_handler) != kDefaultResultHandler) {
    throw ListenerError("result_handler",
                        fmt::format("{} cannot be resolved within [{}] (podvisor has only the "
                                    "default result handler, {})",
                                    trim(*keys.result_handler), section, kDefaultResultHandler));
  }
  return out;
}

}  // namespace podvisor::config
