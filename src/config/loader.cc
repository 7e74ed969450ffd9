#include "config/loader.h"

#include <fmt/format.h>
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <vector>

#include "config/env.h"
#include "config/gate_keys.h"
#include "config/interpolate.h"
#include "config/key_value.h"
#include "config/keys.h"
#include "config/listener.h"
#include "config/order.h"

namespace podvisor::config {
namespace {

// At most 16 MiB: a config file is text a person wrote; more is a device or a mistake, and
// `-c /dev/zero` must end. Included files must be regular files (a glob may match anything).
std::string read_file(const std::string& path, const Location& from, bool regular_only) {
  constexpr size_t kMaxConfig = 16 << 20;
  struct stat st {};
  if (regular_only && stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    throw ConfigError(from, fmt::format("{} is not a regular file, not read", path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError(from,
                      fmt::format("could not read config file {}: {}", path, std::strerror(errno)));
  }
  std::string text;
  char chunk[64 * 1024];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxConfig) {
      throw ConfigError(from, fmt::format("{} is over 16 MiB, not read", path));
    }
  }
  return text;
}

std::string absolute(const std::string& path) {
  if (path.starts_with("/")) return path;
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) return path;
  return fmt::format("{}/{}", cwd, path);
}

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string host_node_name() {
  utsname u{};
  return uname(&u) == 0 ? u.nodename : "localhost";
}

// Typed, expanded access to one section's values, falling back to [DEFAULT].
class SectionReader {
 public:
  SectionReader(const IniSection& section, const IniSection& defaults, Expansions names)
      : section_(section), defaults_(defaults), names_(std::move(names)) {}

  void add_names(const Expansions& more) {
    for (const auto& [k, v] : more) names_[k] = v;
  }

  const IniValue* find(const std::string& key) const {
    if (auto it = section_.values.find(key); it != section_.values.end()) return &it->second;
    if (auto it = defaults_.values.find(key); it != defaults_.values.end()) return &it->second;
    return nullptr;
  }
  bool has(const std::string& key) const { return find(key) != nullptr; }
  Location where(const std::string& key) const {
    const auto* v = find(key);
    return v ? v->where : section_.where;
  }

  // The value with %(name)s expanded, or fallback (not expanded) when the key is absent.
  std::string text(const std::string& key, const std::string& fallback,
                   bool expand_it = true) const {
    const auto* v = find(key);
    if (!v) return fallback;
    if (!expand_it) return v->text;
    try {
      return expand(v->text, names_, fmt::format("{}.{}", section_.name, key));
    } catch (const ValueError& e) {
      throw ConfigError(v->where, fmt::format("[{}] {}: {}", section_.name, key, e.what()));
    }
  }

  template <typename T, typename Parse>
  T get(const std::string& key, T fallback, Parse parse) const {
    if (!find(key)) return fallback;
    const auto value = text(key, "");
    try {
      return parse(value);
    } catch (const ValueError& e) {
      throw fail(key, e.what());
    }
  }

  // Applies a table key when the section (or [DEFAULT]) sets it.
  template <typename Spec>
  void apply(const Key& key, void (*set)(Spec&, std::string_view), Spec& spec) const {
    const std::string name(key.name);
    if (!set || !find(name)) return;
    get(name, true, [&](std::string_view v) {
      set(spec, v);
      return true;
    });
  }

  ConfigError fail(const std::string& key, const std::string& message) const {
    return ConfigError(where(key), fmt::format("[{}] {}: {}", section_.name, key, message));
  }

  const IniSection& section() const { return section_; }

 private:
  const IniSection& section_;
  const IniSection& defaults_;
  Expansions names_;
};

std::string location_text(const Location& l) {
  return l.line > 0 ? fmt::format("{}:{}", l.file, l.line) : l.file;
}

void warn_keys(const IniSection& section, std::vector<std::string>& warnings) {
  for (const auto& [key, value] : section.values) {
    const auto* known = find_key(section.name, key);
    if (!known) {
      warnings.push_back(fmt::format("{}: [{}] unknown key '{}', ignored",
                                     location_text(value.where), section.name, key));
    } else if (known->not_yet) {
      warnings.push_back(fmt::format("{}: [{}] {} is not supported by this version yet, ignored",
                                     location_text(value.where), section.name, key));
    }
  }
}

// environment= as supervisord reads it may skip more than a ',' between pairs: say so.
void note_environment(const SectionReader& r, std::vector<std::string>& warnings) {
  if (!r.has("environment")) return;
  for (const auto& note : parse_key_value_pairs(r.text("environment", "")).notes) {
    warnings.push_back(fmt::format("{}: [{}] environment: {}",
                                   location_text(r.where("environment")), r.section().name, note));
  }
}

// The [program] keys of one stage that the section sets, in the table's order.
void apply_program_keys(const SectionReader& r, Stage stage, ProgramSpec& p) {
  for (const auto& key : all_keys()) {
    if (key.section == "program" && key.stage == stage) r.apply(key, key.program, p);
  }
}

// [supervisord], then [podvisor]: podvisor's own keys may go in a section supervisord
// ignores, and where both set a key, [podvisor]'s wins.
void read_supervisord(const IniDocument& doc, const Expansions& names, SupervisorSpec& spec,
                      std::vector<std::string>& warnings) {
  const auto* section = doc.find("supervisord");
  if (!section) {
    warnings.push_back(fmt::format(
        "{}: no [supervisord] section (supervisord refuses such a file; podvisor runs it)",
        spec.config_file));
  } else {
    spec.logfile = "supervisord.log";
  }
  for (const auto* s : {section, doc.find("podvisor")}) {
    if (!s) continue;
    SectionReader r(*s, doc.defaults, names);
    for (const auto& key : all_keys()) {
      if (key.section == "supervisord") r.apply(key, key.supervisord, spec);
    }
    note_environment(r, warnings);
  }
}

// [unix_http_server], [inet_http_server]: the control server's sockets.
void read_servers(const IniDocument& doc, const Expansions& names, SupervisorSpec& spec) {
  for (const bool inet : {false, true}) {
    const auto* section = doc.find(inet ? "inet_http_server" : "unix_http_server");
    if (!section) continue;
    SectionReader r(*section, doc.defaults, names);
    HttpServerSpec server;
    // Unknown keys are expanded too: a bad %(name)s is an error wherever it is.
    for (const auto& [key, value] : section->values) {
      const auto* known = find_key(section->name, key);
      r.get(key, true, [&](std::string_view v) {
        if (known && known->server) known->server(server, v);
        return true;
      });
    }
    if (inet && server.port == 0) {
      throw ConfigError(section->where,
                        "[inet_http_server] needs a port (like port=127.0.0.1:9001)");
    }
    if (!inet && server.file.empty()) {
      throw ConfigError(section->where, "[unix_http_server] needs a file (the socket's path)");
    }
    if (server.username.empty() != server.password.empty()) {
      throw r.fail(server.username.empty() ? "password" : "username",
                   "username and password go together");
    }
    if (inet) {
      if (auto why = refuse_unauthenticated(server)) throw r.fail("port", *why);
    }
    (inet ? spec.inet_server : spec.unix_server) = server;
  }
}

// A program's [group:x]: the group's name and priority, and where programs= lists it.
struct GroupPlace {
  std::string group;
  int priority = 999;
  int position = 0;
};

// [group:x] programs=a,b → program name → its group.
std::map<std::string, GroupPlace> read_groups(const IniDocument& doc, const Expansions& names) {
  std::map<std::string, GroupPlace> group_of;
  for (const auto& section : doc.sections) {
    if (!section.name.starts_with("group:")) continue;
    SectionReader r(section, doc.defaults, names);
    std::string group;
    try {
      group = parse_name(section.name.substr(6));
    } catch (const ValueError& e) {
      throw ConfigError(section.where, fmt::format("[{}]: {}", section.name, e.what()));
    }
    if (!r.has("programs")) throw r.fail("programs", "a group must list its programs");
    const auto priority = static_cast<int>(r.get("priority", 999L, [](std::string_view v) {
      return parse_int(v, -(1L << 31), (1L << 31) - 1);
    }));
    int position = 0;
    std::istringstream list(r.text("programs", ""));
    for (std::string item; std::getline(list, item, ',');) {
      const auto program = trim(item);
      if (program.empty()) continue;
      if (!doc.find("program:" + program)) {
        throw r.fail("programs", fmt::format("names unknown program {}", program));
      }
      group_of[program] = {group, priority, position++};
    }
  }
  return group_of;
}

// depends_on names a process, or a program meaning all its processes. Unknown names and
// cycles are errors at the line of the depends_on key.
void resolve_dependencies(SupervisorSpec& spec, const std::map<std::string, Location>& lines) {
  auto where = [&](const ProgramSpec& p) {
    const auto it = lines.find(p.program);
    return it == lines.end() ? Location{spec.config_file, 0} : it->second;
  };
  for (auto& p : spec.programs) {
    std::vector<Dependency> resolved;
    for (const auto& d : p.depends_on) {
      const bool process = std::any_of(spec.programs.begin(), spec.programs.end(),
                                       [&](const auto& q) { return q.name == d.name; });
      size_t matches = 0;
      for (const auto& q : spec.programs) {
        if (q.name != d.name && (process || q.program != d.name)) continue;
        ++matches;
        if (q.name == p.name) {
          throw ConfigError(where(p), fmt::format("[program:{}] depends_on: dependency cycle: "
                                                  "{} depends on itself",
                                                  p.program, p.name));
        }
        if (d.condition == Dependency::Condition::kDone && !q.oneshot) {
          throw ConfigError(where(p), fmt::format("[program:{}] depends_on: '{}:done' needs {} "
                                                  "to be a oneshot (oneshot=true)",
                                                  p.program, d.name, q.name));
        }
        resolved.push_back({q.name, d.condition});
      }
      if (matches == 0) {
        throw ConfigError(where(p), fmt::format("[program:{}] depends_on: {} depends on unknown "
                                                "program '{}'",
                                                p.program, p.name, d.name));
      }
    }
    p.depends_on = std::move(resolved);
  }
  // Depth-first search; a node met again while on the path closes a cycle.
  std::map<std::string, int> mark;  // 1: on the path, 2: done
  std::vector<std::string> path;
  std::function<void(const ProgramSpec&)> visit = [&](const ProgramSpec& p) {
    mark[p.name] = 1;
    path.push_back(p.name);
    for (const auto& d : p.depends_on) {
      const auto& q = *std::find_if(spec.programs.begin(), spec.programs.end(),
                                    [&](const auto& x) { return x.name == d.name; });
      if (mark[q.name] == 1) {
        const auto from = std::find(path.begin(), path.end(), q.name);
        std::string chain;
        for (auto it = from; it != path.end(); ++it) chain += fmt::format("{} -> ", *it);
        throw ConfigError(where(p), fmt::format("[program:{}] depends_on: dependency cycle: {}{}",
                                                p.program, chain, q.name));
      }
      if (mark[q.name] == 0) visit(q);
    }
    path.pop_back();
    mark[p.name] = 2;
  };
  for (const auto& p : spec.programs) {
    if (mark[p.name] == 0) visit(p);
  }
}

// An [eventlistener:x]'s own keys; its pool starts before the programs and stops after them
// (supervisord's pool priority -1) unless it sets a priority.
void read_listener(const SectionReader& r, ProgramSpec& p) {
  ListenerKeys keys;
  for (auto [key, slot] : {std::pair{"events", &keys.events},
                           {"buffer_size", &keys.buffer_size},
                           {"result_handler", &keys.result_handler}}) {
    if (r.has(key)) *slot = r.text(key, "");
  }
  try {
    p.listener = parse_listener(r.section().name, keys);
  } catch (const ListenerError& e) {
    throw ConfigError(e.key.empty() ? r.section().where : r.where(e.key), e.what());
  }
  if (p.redirect_stderr) {
    throw ConfigError(r.where("redirect_stderr"),
                      fmt::format("[{}] section sets redirect_stderr=true but this "
                                  "is not allowed because it will interfere with "
                                  "the eventlistener protocol",
                                  r.section().name));
  }
  if (!r.has("priority")) p.priority = -1;
  p.stdout_log.events_enabled = false;  // stdout is the protocol channel
}

void read_programs(const IniDocument& doc, const Expansions& environ_names,
                   const std::map<std::string, GroupPlace>& group_of, SupervisorSpec& spec,
                   std::vector<std::string>& warnings) {
  const auto node = host_node_name();
  std::map<std::string, Location> dependency_lines;  // program → its depends_on key
  for (const auto& section : doc.sections) {
    const bool listener = section.name.starts_with("eventlistener:");
    if (!section.name.starts_with("program:") && !listener) continue;
    std::string program;
    try {
      program = parse_name(section.name.substr(section.name.find(':') + 1));
    } catch (const ValueError& e) {
      throw ConfigError(section.where, fmt::format("[{}]: {}", section.name, e.what()));
    }
    const auto group_it = group_of.find(program);
    const bool grouped = group_it != group_of.end();
    const auto group = grouped ? group_it->second.group : program;
    Expansions common = environ_names;
    common["here"] = dir_of(section.where.file);
    common["program_name"] = program;
    common["group_name"] = group;
    common["host_node_name"] = node;
    SectionReader r(section, doc.defaults, common);

    ProgramSpec base;
    base.program = program;
    base.group = group;
    base.where = location_text(section.where);
    apply_program_keys(r, Stage::kSection, base);
    if (!r.has("killasgroup")) base.killasgroup = base.stopasgroup;
    if (base.stopasgroup && !base.killasgroup) {
      throw r.fail("killasgroup", "cannot set stopasgroup=true and killasgroup=false");
    }
    if (listener) read_listener(r, base);
    try {
      finish_gate_keys(base);
    } catch (const ValueError& e) {
      const auto key = std::find_if(kGateKeyNames.begin(), kGateKeyNames.end(),
                                    [&](auto k) { return r.has(std::string(k)); });
      throw r.fail(std::string(key == kGateKeyNames.end() ? "gate" : *key), e.what());
    }
    if (r.has("depends_on")) dependency_lines[program] = r.where("depends_on");
    const auto numprocs = r.get("numprocs", 1L, parse_numprocs);
    const auto numprocs_start = r.get("numprocs_start", 0L, parse_numprocs_start);
    const auto process_name = r.text("process_name", "%(program_name)s", false);
    if (numprocs > 1 && process_name.find("%(process_num)") == std::string::npos) {
      throw r.fail(r.has("process_name") ? "process_name" : "numprocs",
                   "%(process_num) must be present within process_name when numprocs > 1");
    }
    if (numprocs > 1 && !base.gate.empty())
      throw r.fail("gate", "a gate serves one process (numprocs=1)");
    if (!r.has("command")) {
      throw ConfigError(section.where,
                        fmt::format("program section {} does not specify a command", section.name));
    }

    for (long num = numprocs_start; num < numprocs_start + numprocs; ++num) {
      ProgramSpec p = base;
      r.add_names({{"process_num", std::to_string(num)}, {"numprocs", std::to_string(numprocs)}});
      // Like supervisord: the program's environment is expanded, then extends ENV_*.
      apply_program_keys(r, Stage::kEnvironment, p);
      if (num == numprocs_start) note_environment(r, warnings);
      Expansions env_names;
      for (const auto& [k, v] : p.environment) env_names["ENV_" + k] = v;
      r.add_names(env_names);
      apply_program_keys(r, Stage::kProcess, p);
      if (grouped) {
        p.group_priority = group_it->second.priority;
        p.group_position = group_it->second.position;
      }
      if (p.redirect_stderr) p.stderr_log.target = LogTarget::kNone;
      try {
        p.name = parse_name(expand(
            process_name,
            [&] {
              Expansions names = common;
              names["process_num"] = std::to_string(num);
              names["numprocs"] = std::to_string(numprocs);
              return names;
            }(),
            section.name + ".process_name"));
      } catch (const ValueError& e) {
        throw r.fail("process_name", e.what());
      }
      spec.programs.push_back(std::move(p));
    }
  }
  std::set<std::string> seen;
  for (const auto& p : spec.programs) {
    if (!seen.insert(p.name).second) {
      throw ConfigError({spec.config_file, 0},
                        fmt::format("two processes are named '{}' ({})", p.name, p.where));
    }
  }
  std::stable_sort(spec.programs.begin(), spec.programs.end(), starts_before);
  resolve_dependencies(spec, dependency_lines);
}

void apply_overrides(IniDocument& doc, const std::vector<std::string>& overrides,
                     std::vector<std::string>& warnings) {
  for (const auto& entry : overrides) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    const auto o = parse_override(std::string_view(entry).substr(0, eq),
                                  std::string_view(entry).substr(eq + 1));
    if (!o) continue;
    if (o->section.empty()) {
      warnings.push_back(
          fmt::format("{}: unknown setting (no known section and key), ignored", o->variable));
      continue;
    }
    auto* section = doc.find(o->section);
    if (!section) {
      doc.sections.push_back(IniSection{o->section, {o->variable, 0}, {}});
      section = &doc.sections.back();
    }
    section->values[o->key] = IniValue{o->value, {o->variable, 0}};
    // An override wins over the file, in whichever of the two sections the file set it.
    const auto* twin = o->section == "supervisord" ? "podvisor"
                       : o->section == "podvisor"  ? "supervisord"
                                                   : nullptr;
    if (auto* other = twin ? doc.find(twin) : nullptr) other->values.erase(o->key);
  }
}

void read_includes(IniDocument& doc, const std::string& main_file, const Expansions& names) {
  const auto* include = doc.find("include");
  if (!include) return;
  SectionReader r(*include, doc.defaults, names);
  if (!r.has("files")) {
    throw ConfigError(include->where, ".ini file has [include] section, but no files setting");
  }
  const auto base = dir_of(main_file);
  std::istringstream patterns(r.text("files", ""));
  for (std::string pattern; patterns >> pattern;) {
    if (!pattern.starts_with("/")) pattern = fmt::format("{}/{}", base, pattern);
    glob_t matches{};
    std::vector<std::string> files;
    if (glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
      files.assign(matches.gl_pathv, matches.gl_pathv + matches.gl_pathc);
    }
    globfree(&matches);  // before a bad file throws
    for (const auto& file : files) parse_ini(read_file(file, r.where("files"), true), file, doc);
  }
}

}  // namespace

SupervisorSpec load_config(const std::string& path, const std::vector<std::string>& environ,
                           std::vector<std::string>& warnings,
                           const std::vector<std::string>& overrides) {
  SupervisorSpec spec;
  spec.config_file = absolute(path);
  IniDocument doc;
  parse_ini(read_file(spec.config_file, {path, 0}, false), spec.config_file, doc);

  Expansions names;
  for (const auto& entry : environ) {
    const auto eq = entry.find('=');
    if (eq != std::string::npos) names["ENV_" + entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  Expansions top = names;
  top["here"] = dir_of(spec.config_file);
  top["host_node_name"] = host_node_name();
  read_includes(doc, spec.config_file, top);
  apply_overrides(doc, overrides, warnings);

  for (const auto& section : doc.sections) {
    const auto type = section.name.substr(0, section.name.find(':'));
    if (known_keys(section.name).empty()) {
      warnings.push_back(fmt::format("{}: unknown section [{}], ignored",
                                     location_text(section.where), section.name));
      continue;
    }
    warn_keys(section, warnings);
    if (type != "program" && type != "supervisord" && type != "podvisor" && type != "group" &&
        type != "include" && type != "eventlistener") {
      auto& kept = spec.other_sections[section.name];
      for (const auto& [k, v] : section.values) kept[k] = v.text;
    }
  }
  read_supervisord(doc, top, spec, warnings);
  read_servers(doc, top, spec);
  // [supervisord] environment= extends ENV_* for the programs, as in supervisord.
  for (const auto& [k, v] : spec.environment) names["ENV_" + k] = v;
  read_programs(doc, names, read_groups(doc, top), spec, warnings);
  return spec;
}

std::optional<std::string> find_default_config(const std::string& binary_dir) {
  const std::vector<std::string> candidates = {binary_dir + "/../etc/supervisord.conf",
                                               binary_dir + "/../supervisord.conf",
                                               "supervisord.conf",
                                               "etc/supervisord.conf",
                                               "/etc/supervisord.conf",
                                               "/etc/supervisor/supervisord.conf"};
  for (const auto& c : candidates) {
    struct stat st {};
    if (stat(c.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return c;
  }
  return std::nullopt;
}

}  // namespace podvisor::config
