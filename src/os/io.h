// Plain blocking writes for what must reach a descriptor whole (podvisor's own lines before
// the loop runs, the crash report).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace podvisor::os {

// Writes all of data to fd, retrying short writes and EINTR; false on any other error.
bool write_all(int fd, std::string_view data);

// The directory part of a path: "/a/b" for "/a/b/c", "/" for "/c".
std::string parent_directory(const std::string& path);

// mkdir -p: each missing directory on the way to `dir` is made 0755, `dir` itself with
// `mode`. On failure: the directory that could not be made, with errno set.
std::optional<std::string> make_directories(const std::string& dir, mode_t mode = 0755);

// Replaces `path` with `text` whole: written to a temporary file beside it with `mode` (and
// `owner`, when given), then renamed, so a reader never sees half a file. On failure: the
// step that failed ("open", "write", "chown", "rename"), with errno set; the temporary is gone.
struct Owner {
  uid_t uid;
  gid_t gid;
};
std::optional<std::string_view> write_file_atomically(const std::string& path,
                                                      std::string_view text, mode_t mode,
                                                      std::optional<Owner> owner = {});

}  // namespace podvisor::os
