#include "pod/ssh_text.h"

#include <fmt/format.h>
#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace podvisor::pod {
namespace {

constexpr std::string_view kBlank = " \t\r\n";

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(kBlank);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kBlank) - b + 1);
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while ((i = s.find_first_not_of(kBlank, i)) != std::string_view::npos) {
    const auto end = std::min(s.find_first_of(kBlank, i), s.size());
    out.push_back(s.substr(i, end - i));
    i = end;
  }
  return out;
}

bool known_type(std::string_view t) {
  return t.starts_with("ssh-") || t.starts_with("ecdsa-sha2-") || t.starts_with("sk-");
}

// The start of a base64 blob, decoded; empty when a character is not base64.
std::string decode_prefix(std::string_view blob, size_t bytes) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (const char c : blob) {
    if (c == '=') break;
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char* at = c == '\0' ? nullptr : std::strchr(alphabet, c);
    if (at == nullptr) return {};
    acc = (acc << 6) | static_cast<uint32_t>(at - alphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
      if (out.size() == bytes) break;
    }
  }
  return out;
}

// The blob starts with the key type as an SSH string (4-byte length, then the name).
bool blob_matches(std::string_view type, std::string_view blob) {
  const auto head = decode_prefix(blob, 4 + type.size());
  if (head.size() != 4 + type.size()) return false;
  const auto len = (static_cast<uint32_t>(static_cast<unsigned char>(head[0])) << 24) |
                   (static_cast<uint32_t>(static_cast<unsigned char>(head[1])) << 16) |
                   (static_cast<uint32_t>(static_cast<unsigned char>(head[2])) << 8) |
                   static_cast<uint32_t>(static_cast<unsigned char>(head[3]));
  return len == type.size() && head.substr(4) == type;
}

bool valid_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

}  // namespace

std::optional<PublicKey> parse_key_line(std::string_view line) {
  const auto w = words(line);
  for (size_t i = 0; i + 1 < w.size(); ++i) {
    if (known_type(w[i]) && blob_matches(w[i], w[i + 1])) {
      return PublicKey{std::string(w[i]), std::string(w[i + 1])};
    }
  }
  return std::nullopt;
}

KeyLines split_key_lines(std::string_view text) {
  KeyLines out;
  size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const auto line = trim(text.substr(start, end - start));
    start = end + 1;
    if (line.empty() || line.front() == '#') continue;
    (parse_key_line(line) ? out.keys : out.malformed).emplace_back(line);
  }
  return out;
}

std::string merge_authorized_keys(std::string_view existing, const std::vector<std::string>& keys,
                                  int& added) {
  std::vector<PublicKey> present;
  size_t start = 0;
  while (start < existing.size()) {
    auto end = existing.find('\n', start);
    if (end == std::string_view::npos) end = existing.size();
    if (auto k = parse_key_line(existing.substr(start, end - start))) present.push_back(*k);
    start = end + 1;
  }
  std::string out(existing);
  if (!out.empty() && out.back() != '\n') out += '\n';
  added = 0;
  for (const auto& line : keys) {
    const auto key = parse_key_line(line);
    if (!key || std::find(present.begin(), present.end(), *key) != present.end()) continue;
    present.push_back(*key);
    out += line;
    out += '\n';
    ++added;
  }
  return out;
}

bool excluded_from_session(std::string_view name, const std::vector<std::string>& exclude) {
  // A session sets its own; the keys are not needed once written; SUPERVISOR_ENABLED and the
  // process names describe sshd, not the session.
  static constexpr std::string_view kSession[] = {"HOME",
                                                  "PWD",
                                                  "OLDPWD",
                                                  "SHLVL",
                                                  "_",
                                                  "TERM",
                                                  "USER",
                                                  "LOGNAME",
                                                  "SHELL",
                                                  "MAIL",
                                                  "HOSTNAME",
                                                  "BASH_ENV",
                                                  "ENV",
                                                  "NOTIFY_SOCKET",
                                                  "LISTEN_PID",
                                                  "LISTEN_FDS",
                                                  "LISTEN_FDNAMES",
                                                  "SUPERVISOR_ENABLED",
                                                  "SUPERVISOR_PROCESS_NAME",
                                                  "SUPERVISOR_GROUP_NAME",
                                                  "SUPERVISOR_SERVER_URL"};
  if (std::find(std::begin(kSession), std::end(kSession), name) != std::end(kSession)) return true;
  if (std::find(std::begin(kKeyVariables), std::end(kKeyVariables), name) !=
      std::end(kKeyVariables)) {
    return true;
  }
  if (name.starts_with("SSH_") || name.starts_with("PODVISOR_")) return true;
  const std::string n(name);
  return std::any_of(exclude.begin(), exclude.end(), [&](const std::string& pattern) {
    return ::fnmatch(pattern.c_str(), n.c_str(), 0) == 0;
  });
}

std::vector<std::pair<std::string, std::string>> session_variables(
    const std::vector<std::string>& environ, const std::vector<std::string>& exclude) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& entry : environ) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    const std::string_view name(entry.data(), eq);
    if (!valid_name(name) || excluded_from_session(name, exclude)) continue;
    if (std::any_of(out.begin(), out.end(), [&](const auto& v) { return v.first == name; })) {
      continue;  // the first wins, as getenv() finds it
    }
    out.emplace_back(name, entry.substr(eq + 1));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string session_environment(const std::vector<std::pair<std::string, std::string>>& vars) {
  std::string out = "# Written by podvisor at sshd's start: the container's environment.\n";
  for (const auto& [name, value] : vars) {
    out += fmt::format("export {}={}\n", name, shell_quote(std::string(value)));
  }
  return out;
}

std::string sshd_config_text(const std::vector<std::pair<std::string, std::string>>& vars,
                             std::string_view base_config) {
  std::string line;
  for (const auto& [name, value] : vars) {
    // A config line cannot hold a line break: such a value stays in the shell file only.
    if (value.find_first_of("\r\n") != std::string::npos) continue;
    line += " \"" + name + "=";
    for (const char c : value) {
      if (c == '"' || c == '\\') line += '\\';
      line += c;
    }
    line += '"';
  }
  std::string out = "# Written by podvisor: sshd's own config, with the container's environment.\n";
  // sshd keeps the first SetEnv it reads: this one, before the system's file.
  if (!line.empty()) out += "SetEnv" + line + "\n";
  return out + fmt::format("Include {}\n", base_config);
}

std::vector<std::string> host_key_types(std::string_view query_output) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {"ed25519", "ssh-ed25519"}, {"ecdsa", "ecdsa-sha2-nistp256"}, {"rsa", "ssh-rsa"}};
  const auto listed = words(query_output);
  std::vector<std::string> out;
  for (const auto& [type, name] : kTypes) {
    const bool any = std::all_of(listed.begin(), listed.end(), [](auto w) { return w.empty(); });
    if (listed.empty() || any || std::find(listed.begin(), listed.end(), name) != listed.end()) {
      out.emplace_back(type);
    }
  }
  return out;
}

std::vector<std::string> setup_arguments(const SetupOptions& o) {
  std::vector<std::string> out = {"--sshd", o.sshd, "--user", o.user};
  auto add = [&](std::string_view flag, const std::string& value) {
    if (value.empty()) return;
    out.emplace_back(flag);
    out.push_back(value);
  };
  add("--host-key-dir", o.host_key_dir);
  add("--authorized-keys", o.authorized_keys);
  add("--env-file", o.env_file);
  add("--profile-file", o.profile_file);
  if (o.port != 0) add("--port", std::to_string(o.port));
  for (const auto& e : o.exclude) add("--exclude", e);
  for (const auto& e : o.options) add("-o", e);
  return out;
}

SetupOptions parse_setup_arguments(const std::vector<std::string>& args) {
  SetupOptions o;
  for (size_t i = 0; i < args.size(); i += 2) {
    if (i + 1 >= args.size())
      throw std::invalid_argument("ssh-setup: " + args[i] + " needs a value");
    const auto& flag = args[i];
    const auto& value = args[i + 1];
    if (flag == "--sshd") {
      o.sshd = value;
    } else if (flag == "--user") {
      o.user = value;
    } else if (flag == "--host-key-dir") {
      o.host_key_dir = value;
    } else if (flag == "--authorized-keys") {
      o.authorized_keys = value;
    } else if (flag == "--env-file") {
      o.env_file = value;
    } else if (flag == "--profile-file") {
      o.profile_file = value;
    } else if (flag == "--port") {
      o.port = static_cast<uint16_t>(std::stoi(value));
    } else if (flag == "--exclude") {
      o.exclude.push_back(value);
    } else if (flag == "-o") {
      o.options.push_back(value);
    } else {
      throw std::invalid_argument("ssh-setup: unknown argument " + flag);
    }
  }
  if (o.sshd.empty()) throw std::invalid_argument("ssh-setup: --sshd is required");
  return o;
}

std::vector<std::string> sshd_argv(const SetupOptions& o,
                                   const std::vector<std::string>& host_keys) {
  std::vector<std::string> argv = {o.sshd, "-D", "-e"};
  // sshd keeps the first value it is given for a key: the user's options come first.
  for (const auto& opt : o.options) {
    argv.emplace_back("-o");
    argv.push_back(opt);
  }
  // podvisor knows sshd's pid; a pidfile would only go stale.
  argv.insert(argv.end(), {"-o", "PidFile=none"});
  if (!o.env_file.empty()) argv.insert(argv.end(), {"-f", sshd_config_path(o.env_file)});
  if (!o.authorized_keys.empty()) {
    argv.insert(argv.end(), {"-o", "AuthorizedKeysFile=" + o.authorized_keys});
  }
  if (o.port != 0) argv.insert(argv.end(), {"-p", std::to_string(o.port)});
  for (const auto& k : host_keys) argv.insert(argv.end(), {"-h", k});
  return argv;
}

std::optional<std::string> connection_hint(const std::vector<std::string>& environ,
                                           std::string_view user) {
  std::string ip, port;
  for (const auto& e : environ) {
    if (e.starts_with("RUNPOD_PUBLIC_IP=")) ip = trim(e.substr(17));
    if (e.starts_with("RUNPOD_TCP_PORT_22=")) port = trim(e.substr(19));
  }
  if (ip.empty() || port.empty() ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      port.size() > 5) {
    return std::nullopt;
  }
  return fmt::format("ssh {}@{} -p {} -i ~/.ssh/id_ed25519", user, ip, port);
}

}  // namespace podvisor::pod
