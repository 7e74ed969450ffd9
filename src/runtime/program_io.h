// Where programs' output goes: their pipes relayed to podvisor's streams, log files and rings,
// the followers of each log (/logtail), and the log= and notify= readiness probes fed from it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/spec.h"
#include "core/process.h"
#include "os/spawn.h"
#include "output/destination.h"
#include "output/log.h"
#include "output/log_file.h"
#include "output/relay.h"
#include "output/ring.h"
#include "probe/log_match.h"
#include "probe/notify.h"
#include "probe/watch.h"

namespace podvisor::runtime {

// Followers of a log: each is called after output is appended, until its owner releases it.
using Watchers = std::list<std::weak_ptr<std::function<void()>>>;
void notify_watchers(Watchers& watchers);

// A spawn whose exec is not confirmed yet: the report pipe, and a failure read from it
// before the child's exit was.
struct PendingExec {
  PendingExec(boost::asio::io_context& io, int fd) : report(io, fd) {}
  boost::asio::posix::stream_descriptor report;
  std::optional<os::ExecFailure> failure;
};

// The live state of one program beside its Process: output, probes, its timer.
struct ProgramIo {
  explicit ProgramIo(boost::asio::io_context& io) : timer(io) {}
  boost::asio::steady_timer timer;  // the driver's one timer for the process
  output::RingBuffer out, err, combined;
  // stdout_logfile / stderr_logfile when they name a file, opened at the first start.
  std::unique_ptr<output::LogFile> files[2];
  // Pipes of earlier runs stay until end of file: a grandchild may still write to them.
  std::list<output::PipeRelay> relays;
  std::shared_ptr<probe::ReadinessWatch> readiness;
  std::shared_ptr<probe::LivenessWatch> liveness;
  std::optional<probe::LogMatcher> log_matcher;  // ready=log:…, while STARTING
  std::unique_ptr<probe::NotifySocket> notify;   // ready=notify
  std::string notify_status;                     // the last STATUS= it sent
  Watchers log_watchers[2];                      // stdout, stderr
  std::unique_ptr<PendingExec> exec;             // from the spawn to the exec
};

// podvisor's own log: [supervisord] logfile when it is a file, else the recent lines.
struct MainLog {
  std::unique_ptr<output::LogFile> file;
  output::RingBuffer ring;
  Watchers watchers;
};

// Every program's ProgramIo, created at first use.
class ProgramIoTable {
 public:
  // `spec` is the live configuration (a reload replaces it in place); podvisor's stdout and
  // stderr are `out` and `err`.
  ProgramIoTable(boost::asio::io_context& io, const config::SupervisorSpec& spec,
                 output::Destination& out, output::Destination& err, output::Logger& log);

  ProgramIo& of(const core::Process& p);
  const ProgramIo* find(const core::Process& p) const;

  // The pipes of one spawn: their write ends go to the child (in `request`), the read ends
  // are relayed once it runs. Without a terminal only; throws std::system_error (out of
  // descriptors), leaving in `pipes` what it opened, for attach() to close.
  struct Pipes {
    std::optional<output::Pipe> out, err;
    std::optional<output::Pipe> in;  // an event listener's stdin
  };
  void open_pipes(const core::Process& p, os::SpawnRequest& request, Pipes& pipes);
  // After the spawn: closes the write ends, and relays the read ends when it succeeded.
  void attach(const core::Process& p, Pipes& pipes, bool spawned);

  // A child of p exited: takes what is left in its pipes now.
  void drain(const core::Process& p);
  void drain_all();
  // Programs that went away take their output state with them.
  void forget_all_but(const std::vector<std::unique_ptr<core::Process>>& live);
  // The spec changed: how many programs write to podvisor's own streams (the prefix rule).
  void count_shared_streams();
  // A notify= program sent a message on its socket.
  void on_notify(const core::Process& p, const probe::NotifySocket::Message& m);

  // The file a stream (0 stdout, 1 stderr) is logged to: the one open, else the configured
  // path ("" for none).
  std::string log_path(const core::Process& p, int stream) const;

  // The event listener pools hear of every chunk of output (PROCESS_LOG, a listener's
  // answers) and take each listener's stdin pipe.
  using OutputHook = std::function<void(const core::Process&, int stream, std::string_view)>;
  using StdinHook = std::function<void(const core::Process&, int fd)>;
  // Called when the set of programs may have changed (add, remove, reload), with spec
  // already the new one: PROCESS_GROUP_ADDED/REMOVED.
  using GroupsHook = std::function<void()>;
  void set_event_hooks(OutputHook output, StdinHook stdin_opened, GroupsHook groups) {
    output_hook_ = std::move(output);
    stdin_hook_ = std::move(stdin_opened);
    groups_hook_ = std::move(groups);
  }
  // Empties both logs of p; false on an I/O error.
  bool clear(const core::Process& p);

 private:
  void relay(const core::Process& p, ProgramIo& io, int read_fd, int stream);
  void on_output(const core::Process& p, int stream, std::string_view chunk);
  bool wants_prefix(const config::ProgramSpec& p) const;
  output::Destination* log_file(const core::Process& p, ProgramIo& io, const config::LogSpec& log,
                                int stream);

  boost::asio::io_context& io_;
  const config::SupervisorSpec& spec_;
  output::Destination& stdout_;
  output::Destination& stderr_;
  output::Logger& log_;
  std::vector<char> buffer_;
  std::map<const core::Process*, std::unique_ptr<ProgramIo>> programs_;
  int programs_on_podvisor_streams_ = 0;
  OutputHook output_hook_;
  StdinHook stdin_hook_;
  GroupsHook groups_hook_;
};

}  // namespace podvisor::runtime
