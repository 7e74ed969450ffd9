// The effective configuration as plain values: what the runtime holds and never re-parses.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/event_types.h"
#include "config/gpu_memory_keys.h"
#include "config/values.h"

namespace podvisor::config {

using namespace std::chrono_literals;

// Where a program's stdout or stderr goes (stdout_logfile=...).
enum class LogTarget { kNone, kAuto, kFile, kStdout, kStderr };
struct LogSpec {
  LogTarget target = LogTarget::kAuto;
  std::string path;  // kFile; for kAuto, chosen at start in childlogdir
  uint64_t maxbytes = 50 * 1024 * 1024;
  int backups = 10;
  // stdout_events_enabled / stderr_events_enabled: each chunk is a PROCESS_LOG event.
  bool events_enabled = false;
  bool operator==(const LogSpec&) const = default;
};

// A readiness or liveness probe (SPEC §3 `ready=` / `live=`).
struct ProbeSpec {
  enum class Kind { kHttp, kTcp, kExec, kFile, kLog, kNotify };
  Kind kind = Kind::kTcp;
  std::string text;     // as written, for messages: "http://127.0.0.1:8188/system_stats"
  std::string host;     // http, tcp: numeric or localhost
  uint16_t port = 0;    // http, tcp
  std::string path;     // http: "/system_stats"; file: the file
  std::string command;  // exec: run with /bin/sh -c
  std::string pattern;  // log: a regex (RE2, config/pattern.h) searched in each output line
  bool operator==(const ProbeSpec&) const = default;
};

// One `depends_on` entry: start only once `name` (a process name) reached `condition`.
struct Dependency {
  enum class Condition { kStarted, kReady, kDone };
  std::string name;
  Condition condition = Condition::kReady;
  bool operator==(const Dependency&) const = default;
};

// What makes a program an [eventlistener:x] pool process (docs/eventlisteners.md).
struct ListenerSpec {
  std::vector<EventType> events;  // as subscribed: abstract types match their subtypes
  int buffer_size = 10;
  bool operator==(const ListenerSpec&) const = default;
};

// gpu_fence: before a restart, stop and await the last run's leftovers (docs/gpu.md). auto:
// only when one of them holds an NVIDIA device node.
enum class GpuFence { kAuto, kTrue, kFalse };

struct ProgramSpec {
  std::string name = "app";  // the process name (process_name, expanded)
  std::string group;         // [group:x] it belongs to, else its program name
  std::string program;       // the [program:x] it comes from
  // "file:line" of that section, for messages. Not part of what the program is: a section
  // that only moved in the file is not a changed program (reread, SIGHUP).
  struct Where : std::string {
    using std::string::string;
    using std::string::operator=;
    bool operator==(const Where&) const { return true; }
  } where;
  std::vector<std::string> argv;
  std::map<std::string, std::string> environment;
  std::string directory;
  std::chrono::milliseconds startsecs = 1s;
  int startretries = 3;
  int stopsignal = SIGTERM;
  std::chrono::milliseconds stopwaitsecs = 10s;
  bool stopasgroup = false;
  bool killasgroup = false;
  std::vector<int> exitcodes{0};
  Autorestart autorestart = Autorestart::kUnexpected;
  std::chrono::milliseconds restart_reset = 300s;
  std::chrono::milliseconds backoff_max = 30s;
  // standard-supervisor semantics: every exit counts toward startretries, not only the
  // exits before startsecs (SPEC §2).
  bool count_every_exit = false;
  // When this program ends for good, podvisor stops and exits with its status.
  bool main = false;
  int priority = 999;
  // A [group:x] member's place in supervisord's order: the group's priority (unset outside a
  // group: the program's own) and the program's position in the group's programs= list.
  std::optional<int> group_priority;
  int group_position = 0;
  bool autostart = true;
  std::string user;  // "" keeps podvisor's user
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string home;
  int umask = -1;  // -1 keeps podvisor's
  bool redirect_stderr = false;
  LogSpec stdout_log;
  LogSpec stderr_log;
  // "[name] " before each relayed line; unset: on when several programs share a stream.
  std::optional<bool> log_prefix;

  // Readiness: with a probe, STARTING lasts until it passes (and at least startsecs).
  std::optional<ProbeSpec> ready;
  std::chrono::milliseconds ready_timeout{0};               // 0: no limit
  std::optional<std::chrono::milliseconds> ready_interval;  // unset: adaptive
  std::vector<int> ready_status;                            // empty: any 2xx
  std::optional<ProbeSpec> live;
  std::chrono::milliseconds live_interval = 10s;
  int live_failures = 3;
  std::vector<Dependency> depends_on;
  // Runs once to completion; an expected exit is "done" and never restarted.
  bool oneshot = false;
  // Set for an [eventlistener:x] process: its stdin and stdout speak the event protocol.
  std::optional<ListenerSpec> listener;
  // The request gate (docs/gate.md): the public "[host:]port" podvisor listens on for this
  // program, and the private one it forwards to; both empty when there is no gate.
  std::string gate;
  std::string gate_upstream;
  // Its limits: how long a connection may be held (unset: 300 s, sagemaker 50 s; 0: no limit)
  // and how many at once (0: podvisor's default, from the descriptor limit).
  std::optional<std::chrono::milliseconds> gate_hold_timeout;
  long gate_max_held = 0;
  // The health preset ("runpod", "sagemaker", "kubernetes"; "" for none) and its own port
  // (0: health paths on the gate's port).
  std::string gate_health;
  uint16_t gate_health_port = 0;
  // A held client that sends its request and then ends its side (FIN) has given up: drop it
  // rather than forward a request nobody waits for (HAProxy's abortonclose). Off by default,
  // since a client that half-closes after its request looks the same and wants the answer.
  bool gate_abort_on_close = false;
  GpuFence gpu_fence = GpuFence::kAuto;
  std::chrono::milliseconds gpu_fence_timeout = 60s;
  // Wait before each spawn until this much GPU memory is free on the program's GPUs.
  std::optional<GpuFreeMemory> gpu_free_memory;

  // A reload restarts a program whose spec changed in any way.
  bool operator==(const ProgramSpec&) const = default;

  bool expected(int exit_code) const {
    return std::find(exitcodes.begin(), exitcodes.end(), exit_code) != exitcodes.end();
  }
};

enum class LogFormat { kText, kJson };

// [unix_http_server] and [inet_http_server]: the control server (SPEC §6).
struct HttpServerSpec {
  std::string file;  // unix: the socket path
  mode_t chmod = 0700;
  std::optional<uid_t> uid;  // chown
  std::optional<gid_t> gid;
  std::string host;  // inet: "" is every address
  uint16_t port = 0;
  std::string username;  // with password: basic auth
  std::string password;  // plain, or {SHA} and the hex SHA-1
  // false (default): /health, /ready, /ping and /metrics answer without credentials.
  bool health_auth = false;
  // inet: listen on a non-loopback address without username/password (refused otherwise).
  bool allow_unauthenticated = false;
  bool operator==(const HttpServerSpec&) const = default;
};

// SSH at boot ([supervisord] ssh*, docs/pods.md): podvisor supervises sshd as program 'sshd'.
struct SshSpec {
  std::optional<bool> enabled;           // unset: auto, on when a platform key variable is set
  std::string user = "root";             // whose authorized_keys receives the keys
  std::string host_key_dir;              // "": sshd's own host keys (/etc/ssh)
  std::vector<std::string> env_exclude;  // names or globs left out of sessions' environment
  uint16_t port = 0;                     // 0: sshd's own config decides
  std::string authorized_keys;           // "": ~user/.ssh/authorized_keys
  std::string env_file = "/run/podvisor/ssh-environment";       // what sessions source
  std::string profile_file = "/etc/profile.d/podvisor-ssh.sh";  // "": none
  std::vector<std::string> options;                             // extra sshd -o KEY=VALUE
  std::string sshd;     // "": sshd in PATH, then /usr/sbin/sshd
  std::string connect;  // set at start: "ssh root@IP -p PORT ..." when the platform says
};

// Where single-command mode listens unless SUPERVISOR_UNIX_HTTP_SERVER_FILE says otherwise.
inline constexpr std::string_view kDefaultSocket = "/tmp/podvisor.sock";

struct SupervisorSpec {
  LogLevel loglevel = LogLevel::kInfo;
  std::map<std::string, std::string> environment;
  bool exit_on_fatal = false;
  // A failure that would end podvisor (the main program's, or an exit_on_fatal program's
  // FATAL) holds instead: podvisor stays up for a look until a retry succeeds or a stop comes.
  bool hold_on_fatal = false;
  // While holding, a line this often that says so and how to retry or leave.
  std::chrono::seconds hold_log_interval{300};
  std::vector<ProgramSpec> programs;  // in start order (config/order.h)
  // supervisord's own log; "" is podvisor's stderr (single-command mode).
  std::string logfile;
  uint64_t logfile_maxbytes = 50 * 1024 * 1024;
  int logfile_backups = 10;
  std::string identifier = "supervisor";
  std::string childlogdir = "/tmp";
  bool nocleanup = false;
  int umask = 022;
  std::string user;
  std::string directory;
  // supervisord's pidfile, absolute ("" writes none); nodaemon: stay in the foreground.
  std::string pidfile;
  bool nodaemon = false;
  long minfds = 1024;
  std::optional<bool> log_prefix;
  LogFormat log_format = LogFormat::kText;
  // ANSI escape sequences removed from the programs' output (supervisord's strip_ansi).
  bool strip_ansi = false;
  std::string config_file;  // "" in single-command mode
  std::optional<HttpServerSpec> unix_server;
  std::optional<HttpServerSpec> inet_server;
  SshSpec ssh;
  // require_gpu: fewer visible /dev/nvidia<N> nodes than this ends the start (docs/gpu.md).
  int require_gpu = 0;
  // Sections other issues serve ([unix_http_server], [inet_http_server], ...), raw.
  std::map<std::string, std::map<std::string, std::string>> other_sections;
};

}  // namespace podvisor::config
