// SSH at boot, the text side: public key lines, the authorized_keys merge, the session
// environment file, host key types, sshd's argv and the connection hint. No system calls.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/command.h"

namespace podvisor::pod {

// The platform variables that carry public keys, in the order they are read.
inline constexpr std::string_view kKeyVariables[] = {"PUBLIC_KEY", "SSH_PUBLIC_KEY",
                                                     "RUNPOD_SSH_PUBLIC_KEY"};

// "ssh-ed25519 AAAA... comment" → type and blob: what makes two lines the same key.
struct PublicKey {
  std::string type;
  std::string blob;
  bool operator==(const PublicKey&) const = default;
};
// The key of a line (options before the type, as authorized_keys allows, are skipped);
// nullopt when no known type followed by a base64 blob is in it.
std::optional<PublicKey> parse_key_line(std::string_view line);

// The lines of a variable's value: CRLF or LF, blanks and '#' comments dropped, trimmed.
struct KeyLines {
  std::vector<std::string> keys;       // valid lines, as given (comment kept)
  std::vector<std::string> malformed;  // the others
};
KeyLines split_key_lines(std::string_view text);

// `existing` with each of `keys` not already there (same type and blob) appended, one per
// line; `added` counts them.
std::string merge_authorized_keys(std::string_view existing, const std::vector<std::string>& keys,
                                  int& added);

// `text` as one word for sh (Python's shlex.quote, config/command.h).
inline std::string shell_quote(const std::string& text) {
  return config::join_command({text});
}

// Whether a variable stays out of SSH sessions: the session's own (HOME, SHELL, SSH_*...),
// the key variables, podvisor's and supervisord's, and the names or globs in `exclude`.
bool excluded_from_session(std::string_view name, const std::vector<std::string>& exclude);
// The variables of environ ("NAME=value" strings) that sessions get, sorted by name.
std::vector<std::pair<std::string, std::string>> session_variables(
    const std::vector<std::string>& environ, const std::vector<std::string>& exclude);
// "export NAME='value'" lines: the file login shells source (/etc/profile.d).
std::string session_environment(const std::vector<std::pair<std::string, std::string>>& vars);
// The config sshd runs with: one SetEnv line with the variables (every session gets them,
// whatever its shell), then `Include base_config`, the system's own.
std::string sshd_config_text(const std::vector<std::pair<std::string, std::string>>& vars,
                             std::string_view base_config);
// Where that config is written: beside the environment file.
inline std::string sshd_config_path(const std::string& env_file) {
  return env_file + ".sshd_config";
}

// The host key types to have, ed25519 first, among those `ssh -Q key` lists (empty output:
// the three OpenSSH defaults). DSA never: OpenSSH 7.0 stopped offering it and 10.0 removed it.
std::vector<std::string> host_key_types(std::string_view query_output);

// What the ssh-setup mode needs, passed on its command line (never a secret: the keys and the
// environment come through the environment, /proc/PID/cmdline is world-readable).
struct SetupOptions {
  std::string sshd;  // the sshd binary
  std::string user = "root";
  std::string host_key_dir;     // "": sshd's own (/etc/ssh)
  std::string authorized_keys;  // "": ~user/.ssh/authorized_keys
  std::string env_file;
  std::string profile_file;
  uint16_t port = 0;
  std::vector<std::string> exclude;
  std::vector<std::string> options;  // extra -o KEY=VALUE
  bool operator==(const SetupOptions&) const = default;
};
std::vector<std::string> setup_arguments(const SetupOptions& options);
// Throws std::invalid_argument on an unknown or incomplete argument.
SetupOptions parse_setup_arguments(const std::vector<std::string>& args);

// sshd in the foreground, logging to stderr, with the host keys given (-h) and the options.
std::vector<std::string> sshd_argv(const SetupOptions& options,
                                   const std::vector<std::string>& host_keys);

// "ssh root@IP -p PORT -i ~/.ssh/id_ed25519" from RUNPOD_PUBLIC_IP and RUNPOD_TCP_PORT_22;
// nullopt unless both are set and the port is a number.
std::optional<std::string> connection_hint(const std::vector<std::string>& environ,
                                           std::string_view user);

}  // namespace podvisor::pod
