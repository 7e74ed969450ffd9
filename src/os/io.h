// Plain blocking writes for what must reach a descriptor whole (podvisor's own lines before
// the loop runs, the crash report).
#pragma once

#include <string_view>

namespace podvisor::os {

// Writes all of data to fd, retrying short writes and EINTR; false on any other error.
bool write_all(int fd, std::string_view data);

}  // namespace podvisor::os
