#include "modes/single.h"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/env.h"
#include "modes/config_mode.h"
#include "modes/generated_config.h"
#include "modes/requirements.h"
#include "output/log.h"
#include "pod/ssh_program.h"
#include "runtime/runtime.h"

namespace podvisor::modes {
namespace {

constexpr int kUsageError = 2;
constexpr int kBadEnvironment = 1;  // as standard-supervisor does for a bad value

constexpr const char* kEnvironmentHelp = R"(
Environment (standard-supervisor compatible):
  PROCESS_AUTO_RECOVERY=true|false   restart the command whenever it exits (default true;
                                     empty: run it once)
  PROCESS_MAX_START_RETRIES=N        restarts allowed before giving up and exiting 1 (0-100,
                                     default 3); a run that stayed up restart_reset seconds
                                     (default 300) resets the count
  LOG_LEVEL=LEVEL                    debug, info, warn, error, critical (default info)
  PODVISOR_HOLD_ON_FATAL=1           as --hold-on-fatal (also with -c FILE);
                                     PODVISOR_HOLD_LOG_INTERVAL=S: its reminder, default 300
  PUBLIC_KEY, SSH_PUBLIC_KEY, RUNPOD_SSH_PUBLIC_KEY
                                     public keys: when one is set, sshd is supervised as
                                     program 'sshd' with them (SSH at boot, docs/pods.md)
  PODVISOR_SSH=1|0                   SSH at boot on or off whatever the keys say
  PODVISOR_REQUIRE_GPU=N             exit 2 at start-up when fewer than N /dev/nvidia<N>
                                     nodes are visible (docs/gpu.md)
  PODVISOR_GPU_COMPANION=PATH|off    the NVML companion (default: podvisor-gpu beside
                                     podvisor), started when /dev/nvidia* exists: GPU
                                     figures in /metrics (docs/gpu.md)
  PODVISOR_GPU_DEVICE_DIR=DIR        where the GPU nodes are looked for (default /dev)
  SUPERVISOR_{SECTION}_{KEY}=VALUE   set a config key; '__' stands for ':' in SECTION, e.g.
                                     SUPERVISOR_PROGRAM__APP_STOPWAITSECS=30. Used here:
                                     [program:app] startsecs startretries stopsignal
                                     stopwaitsecs stopasgroup killasgroup exitcodes (255)
                                     autorestart environment directory restart_reset
                                     backoff_max ready ready_timeout ready_interval
                                     ready_status live live_interval live_failures
                                     (docs/readiness.md) gpu_fence gpu_fence_timeout
                                     (docs/gpu.md); [supervisord] loglevel
                                     environment logfile hold_on_fatal hold_log_interval;
                                     [unix_http_server] file (default /tmp/podvisor.sock,
                                     none: off) chmod chown username password;
                                     [inet_http_server] port username password

Exit status:
  the command's own status when it ends for good (128+N when killed by signal N); with
  --hold-on-fatal, a stop while holding ends with the status of the failure held on;
  1 when restarts run out or a variable has a bad value; 126/127 when the command is not
  executable / not found; 2 for a usage error or too few GPUs (require_gpu).
)";

// CLI11 cannot know that the positional part is a whole command line.
class PodvisorFormatter : public CLI::Formatter {
 public:
  std::string make_usage(const CLI::App*, std::string) const override {
    return "\nUsage: podvisor [OPTIONS] [--] CMD [ARGS...]   supervise CMD as program 'app'\n"
           "       podvisor [-n] -c FILE                 run the programs of a supervisord.conf\n"
           "                                             (as a daemon without -n, as supervisord)\n"
           "       podvisor check [-c FILE] [--print]    validate a supervisord.conf\n"
           "       podvisor wait TARGET... [--timeout S] wait until http/tcp/exec/file targets "
           "are ready\n"
           "       podvisor ctl [-c FILE] [-s URL] CMD    control it, as supervisorctl (ctl -h)\n"
           "       (as standard-supervisor: CMD [ARGS...]; as supervisord: supervisord's flags;\n"
           "        as supervisorctl: supervisorctl's)\n";
  }
};

// As standard-supervisor, MHCS's steps come first: the model's requirements are installed,
// then (when supervised) the effective configuration is written for supervisorctl.
int run_single_command(const config::CommandLine& cli, bool standard_supervisor, bool ssh = false) {
  output::Logger log(STDERR_FILENO, config::LogLevel::kInfo);
  const auto env = environment_strings();
  std::vector<std::string> warnings;
  config::SupervisorSpec spec;
  bool recovery = true;
  try {
    spec = config::single_command_spec(cli, env, warnings);
    recovery = cli.recovery.value_or(config::auto_recovery(env));
  } catch (const config::EnvError& e) {
    log.log(config::LogLevel::kCritical, e.what());
    return kBadEnvironment;
  }
  log.set_level(spec.loglevel);
  for (const auto& w : warnings) log.log(config::LogLevel::kWarn, w);
  std::optional<GeneratedConfig> generated;
  if (standard_supervisor) {
    if (const int status = install_requirements(cli.argv, env, log); status != 0) {
      return status;
    }
    // Unsupervised (PROCESS_AUTO_RECOVERY off), MHCS runs no supervisord and writes no file.
    try {
      if (recovery) generated.emplace(spec, env);
    } catch (const std::runtime_error& e) {
      log.log(config::LogLevel::kCritical, e.what());
      return kBadEnvironment;
    }
  }
  log_ssh(pod::add_ssh_program(spec, env, ssh, pod::self_executable()), log);
  runtime::RuntimeOptions options;
  options.terminal = isatty(STDIN_FILENO) == 1;
  return runtime::run_supervisor(std::move(spec), options, log);
}

}  // namespace

int standard_supervisor_main(int argc, char** argv) {
  const std::string usage =
      "Usage: standard-supervisor CMD [ARGS...]\n\n"
      "Runs CMD under podvisor as program 'app': restarts it when it exits, exits 1 when\n"
      "restarts run out, forwards signals, reaps every child.\n\n"
      "Before the launch, as model-hosting-container-standards does:\n"
      "  STANDARD_AUTO_INSTALL_REQ=true   install $SAGEMAKER_MODEL_PATH/requirements.txt\n"
      "                                   (default /opt/ml/model; --find-links its\n"
      "                                   requirements/ folder) with uv or pip into CMD's\n"
      "                                   python; a failed install exits 1\n"
      "  STANDARD_PIP_ARGS=ARGS           the installer's arguments instead\n"
      "  SUPERVISOR_CONFIG_PATH=FILE      where the effective supervisord.conf is written\n"
      "                                   (default /tmp/supervisord.conf, removed at exit);\n"
      "                                   supervisorctl -c FILE reaches podvisor\n";
  if (argc == 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h")) {
    std::cout << usage << kEnvironmentHelp;
    return 0;
  }
  if (argc == 2 && std::string_view(argv[1]) == "--version") {
    std::cout << "podvisor " << PODVISOR_VERSION << "\n";
    return 0;
  }
  if (argc < 2) {
    // MHCS's words and status, which scripts may look for.
    std::cerr << "ERROR: No launch command provided\n"
                 "Usage: standard-supervisor <launch_command> [args...]\n"
                 "Example: standard-supervisor vllm serve model --host 0.0.0.0 --port 8080\n";
    return kBadEnvironment;
  }
  config::CommandLine cli;
  cli.argv.assign(argv + 1, argv + argc);
  return run_single_command(cli, true);
}

int podvisor_main(int argc, char** argv) {
  CLI::App app{
      "podvisor: PID 1 and process supervisor for GPU model-serving containers.\n\n"
      "Runs CMD as program 'app': restarts it when it exits (with growing delays),\n"
      "exits 1 when restarts run out, relays every byte of its output, forwards\n"
      "signals, reaps every child and leaves no process behind.",
      "podvisor"};
  app.footer(kEnvironmentHelp);
  app.formatter(std::make_shared<PodvisorFormatter>());
  app.prefix_command();
  app.set_version_flag("-V,--version", std::string("podvisor ") + PODVISOR_VERSION);
  config::CommandLine cli;
  std::string log_level, max_retries, config_file;
  bool no_restart = false, hold_on_fatal = false, ssh = false;
  app.add_option("-c,--configuration", config_file,
                 "run the programs of this supervisord.conf instead of CMD; without -n (or "
                 "nodaemon=true) podvisor daemonizes as supervisord does, unless it is PID 1");
  SupervisordFlags flags;
  app.add_flag("-n,--nodaemon", flags.nodaemon,
               "with -c: stay in the foreground (CMD always runs in the foreground)");
  app.add_option("--log-level", log_level,
                 "debug, info, warn, error or critical (overrides LOG_LEVEL)");
  app.add_option("--max-retries", max_retries,
                 "restarts allowed before exiting 1, 0-100 (overrides PROCESS_MAX_START_RETRIES)");
  app.add_flag("--no-restart", no_restart,
               "run CMD once and exit with its status (PROCESS_AUTO_RECOVERY=false)");
  app.add_flag("--hold-on-fatal", hold_on_fatal,
               "on a failure that would end podvisor, print the crash report and stay up for a "
               "look (/health 503) until `podvisor ctl start app` succeeds or a SIGTERM comes "
               "(docs/pods.md)");
  app.add_flag("--ssh", ssh,
               "supervise sshd beside CMD (or the -c programs) with the keys of PUBLIC_KEY, "
               "SSH_PUBLIC_KEY or RUNPOD_SSH_PUBLIC_KEY (on by itself when one is set; "
               "PODVISOR_SSH=0 turns it off; docs/pods.md)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kUsageError;
  }
  cli.argv = app.remaining();
  if (!cli.argv.empty() && cli.argv.front() == "--") {
    cli.argv.erase(cli.argv.begin());
  } else if (!cli.argv.empty() && cli.argv.front().starts_with("-")) {
    // A mistyped option must not be run as the command; `--` makes a dash command possible.
    std::cerr << fmt::format("podvisor: unknown option {} (put the command after --)\n",
                             cli.argv.front());
    return kUsageError;
  }
  if (!config_file.empty() && !cli.argv.empty()) {
    std::cerr << "podvisor: give either -c FILE or a command, not both\n";
    return kUsageError;
  }
  const bool dash_dash =
      std::any_of(argv + 1, argv + argc, [](const char* a) { return std::string_view(a) == "--"; });
  if (cli.argv.empty() && dash_dash && config_file.empty()) {
    // `--` promises a command; running the default supervisord.conf instead would surprise.
    std::cerr << "podvisor: no command after --\n";
    return kUsageError;
  }
  flags.hold_on_fatal = cli.hold_on_fatal = hold_on_fatal;
  flags.ssh = ssh;
  if (cli.argv.empty()) return run_config_file(config_file, flags, argv[0]);
  if (!log_level.empty()) cli.log_level = log_level;
  if (!max_retries.empty()) cli.max_retries = max_retries;
  if (no_restart) cli.recovery = false;
  return run_single_command(cli, false, ssh);
}

}  // namespace podvisor::modes
