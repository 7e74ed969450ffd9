#include "os/io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace podvisor::os {

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const auto n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string parent_directory(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

std::optional<std::string> make_directories(const std::string& dir, mode_t mode) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i != dir.size() && dir[i] != '/') continue;
    auto part = dir.substr(0, i);
    if (::mkdir(part.c_str(), i == dir.size() ? mode : 0755) != 0 && errno != EEXIST) return part;
  }
  return std::nullopt;
}

std::optional<std::string_view> write_file_atomically(const std::string& path,
                                                      std::string_view text, mode_t mode,
                                                      std::optional<Owner> owner) {
  const auto temporary = path + "." + std::to_string(::getpid()) + ".tmp";
  const int fd =
      ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return "open";
  std::optional<std::string_view> failed;
  int error = 0;
  const auto fail = [&](std::string_view step) {
    if (failed) return;
    failed = step;
    error = errno;
  };
  if (!write_all(fd, text) || ::fchmod(fd, mode) != 0) {
    fail("write");
  } else if (owner && ::fchown(fd, owner->uid, owner->gid) != 0) {
    fail("chown");
  }
  if (::close(fd) != 0) fail("write");
  if (!failed && ::rename(temporary.c_str(), path.c_str()) != 0) fail("rename");
  if (failed) {
    (void)::unlink(temporary.c_str());
    errno = error;
  }
  return failed;
}

}  // namespace podvisor::os
