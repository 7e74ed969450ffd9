// `podvisor -c FILE` with several programs: start order, restarts by autorestart and
// exitcodes, BACKOFF → FATAL, the container exit policy (exit_on_fatal, main), and the stop
// order on SIGTERM (SPEC §3, §4, §5; issue 3).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <csignal>

#include "harness.h"

namespace e2e {
namespace {

// The time of day in milliseconds of the nth log line that holds `text`, from its
// supervisord stamp "YYYY-MM-DD HH:MM:SS,mmm"; nullopt when there is no such line.
std::optional<long> log_time_ms(std::string_view log, std::string_view text, size_t nth = 0) {
  for (const auto& line : lines(log)) {
    if (line.find(text) == std::string::npos) continue;
    if (nth-- > 0) continue;
    if (line.size() < 23) return std::nullopt;
    const auto num = [&](size_t at, size_t n) { return std::stol(line.substr(at, n)); };
    return ((num(11, 2) * 60 + num(14, 2)) * 60 + num(17, 2)) * 1000 + num(20, 3);
  }
  return std::nullopt;
}

TEST(ConfigRun, StartsByPriorityThenNameAndStopsEverythingOnSigterm) {
  TempDir dir;
  // Written out of order: the order comes from priority, then the name.
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:web]
command=sh @DATA@/lifecycle.sh web @DIR@/events
startsecs=0

[program:beta]
command=sh @DATA@/lifecycle.sh beta @DIR@/events
priority=5
startsecs=0

[program:db]
command=sh @DATA@/lifecycle.sh db @DIR@/events
priority=10
startsecs=0

[program:alpha]
command=sh @DATA@/lifecycle.sh alpha @DIR@/events
priority=5
startsecs=0

[program:zeta]
command=sh @DATA@/lifecycle.sh zeta @DIR@/events
priority=1
startsecs=0
)");
  Child c(podvisor_config(conf));
  for (const auto* name : {"zeta", "alpha", "beta", "db", "web"}) {
    ASSERT_TRUE(c.wait_file(dir / "events", std::string("start ") + name)) << c.describe();
  }
  // A program may write before podvisor has logged its spawn.
  ASSERT_TRUE(c.wait_for([&] { return spawned_names(c.err()).size() == 5; })) << c.describe();
  EXPECT_EQ(spawned_names(c.err()),
            (std::vector<std::string>{"zeta", "alpha", "beta", "db", "web"}))
      << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  for (const auto* name : {"zeta", "alpha", "beta", "db", "web"}) {
    EXPECT_NE(c.err().find(std::string("stopped: ") + name + " (exit status 0)"), std::string::npos)
        << name << "\n"
        << c.describe();
    EXPECT_NE(read_file(dir / "events").find(std::string("stop ") + name), std::string::npos)
        << name;
  }
  EXPECT_NE(c.err().find("received SIGTERM indicating exit request"), std::string::npos)
      << c.describe();
}

// As supervisord: the highest priority number stops first, and the next level is only
// signalled once the previous one has stopped. high1, high2 and mid take 0.3 s to stop: had
// everything been signalled at once, low would have recorded its stop first.
TEST(ConfigRun, StopsInReversePriorityOneLevelAtATime) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:low]
command=sh @DATA@/lifecycle.sh low @DIR@/events
priority=1
startsecs=0

[program:mid]
command=sh @DATA@/lifecycle.sh mid @DIR@/events 0.3
priority=2
startsecs=0

[program:high1]
command=sh @DATA@/lifecycle.sh high1 @DIR@/events 0.3
priority=3
startsecs=0

[program:high2]
command=sh @DATA@/lifecycle.sh high2 @DIR@/events 0.3
priority=3
startsecs=0
)");
  Child c(podvisor_config(conf));
  for (const auto* name : {"low", "mid", "high1", "high2"}) {
    ASSERT_TRUE(c.wait_file(dir / "events", std::string("start ") + name)) << c.describe();
  }
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  std::vector<std::string> stops;
  for (const auto& line : lines(read_file(dir / "events"))) {
    if (line.starts_with("stop ")) stops.push_back(line);
  }
  ASSERT_EQ(stops.size(), 4u) << read_file(dir / "events") << c.describe();
  // high1 and high2 stop together (either may finish first), then mid, then low.
  EXPECT_TRUE(stops[0] == "stop high1" || stops[0] == "stop high2") << read_file(dir / "events");
  EXPECT_TRUE(stops[1] == "stop high1" || stops[1] == "stop high2") << read_file(dir / "events");
  EXPECT_EQ(stops[2], "stop mid") << read_file(dir / "events");
  EXPECT_EQ(stops[3], "stop low") << read_file(dir / "events");
  // The same seen in podvisor's log: both of a level are told to stop before either has
  // stopped; mid is told only after both have.
  const auto& err = c.err();
  const auto wait_high1 = err.find("waiting for high1 to stop");
  const auto wait_high2 = err.find("waiting for high2 to stop");
  const auto wait_mid = err.find("waiting for mid to stop");
  const auto wait_low = err.find("waiting for low to stop");
  const auto stopped_high1 = err.find("stopped: high1");
  const auto stopped_high2 = err.find("stopped: high2");
  const auto stopped_mid = err.find("stopped: mid");
  for (const auto at :
       {wait_high1, wait_high2, wait_mid, wait_low, stopped_high1, stopped_high2, stopped_mid}) {
    ASSERT_NE(at, std::string::npos) << c.describe();
  }
  EXPECT_LT(std::max(wait_high1, wait_high2), std::min(stopped_high1, stopped_high2))
      << c.describe();
  EXPECT_GT(wait_mid, std::max(stopped_high1, stopped_high2)) << c.describe();
  EXPECT_GT(wait_low, stopped_mid) << c.describe();
}

// No restarts during shutdown: `crashy` (priority 1, autorestart=true) exits by itself while
// `slow` (priority 2) is still stopping; it is not started again, and podvisor exits 0.
TEST(ConfigRun, NoRestartsDuringShutdown) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:crashy]
command=sh -c 'echo run >> @DIR@/runs; until grep -q "stopping slow" @DIR@/events; do sleep 0.02; done; exit 1'
priority=1
autorestart=true
startsecs=0

[program:slow]
command=sh @DATA@/lifecycle.sh slow @DIR@/events 0.5
priority=2
startsecs=0
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_file(dir / "events", "start slow")) << c.describe();
  ASSERT_TRUE(c.wait_file(dir / "runs", "run")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_EQ(read_file(dir / "runs"), "run\n") << c.describe();
  EXPECT_EQ(count(c.err(), "spawned: 'crashy' with pid"), 1u) << c.describe();
  EXPECT_NE(c.err().find("stopped: slow"), std::string::npos) << c.describe();
}

// stopsignal is what a stop sends; a program still there after stopwaitsecs gets SIGKILL.
TEST(ConfigRun, StopsignalAndStopwaitsecs) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:polite]
command=sh -c 'trap "echo got-INT >> @DIR@/events; exit 0" INT; echo start polite >> @DIR@/events; while :; do sleep 0.05; done'
stopsignal=INT
startsecs=0

[program:stubborn]
command=sh -c 'trap "echo ignored-TERM >> @DIR@/events" TERM; echo start stubborn >> @DIR@/events; while :; do sleep 0.05; done'
stopwaitsecs=1
startsecs=0
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_file(dir / "events", "start polite")) << c.describe();
  ASSERT_TRUE(c.wait_file(dir / "events", "start stubborn")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  const auto events = read_file(dir / "events");
  EXPECT_NE(events.find("got-INT"), std::string::npos) << events << c.describe();
  EXPECT_NE(events.find("ignored-TERM"), std::string::npos) << events << c.describe();
  EXPECT_NE(c.err().find("stopped: stubborn (terminated by SIGKILL)"), std::string::npos)
      << c.describe();
  EXPECT_NE(c.err().find("stopped: polite (exit status 0)"), std::string::npos) << c.describe();
}

// autorestart=true: every exit is restarted; after a run that was up (startsecs=0) at once,
// without backoff. With a backoff (1 s, 2 s, 4 s, 8 s) five runs would take 15 s.
TEST(ConfigRun, AutorestartTrueRestartsAnUpRunAtOnceThenBacksOff) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null
loglevel=debug

[program:a]
command=sh -c 'echo run >> @DIR@/runs'
autorestart=true
startsecs=0
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_for([&] { return count(c.err(), "spawned: 'a' with pid") >= 3; }, 10s))
      << c.describe();
  EXPECT_GE(count(c.err(), "exited: a (exit status 0; expected)"), 2u) << c.describe();
  // The second run follows the first at once; the third after 1 s (a crash loop backs off).
  const auto second_spawn = c.err().find("spawned: 'a'", c.err().find("spawned: 'a'") + 1);
  EXPECT_LT(second_spawn, c.err().find("restarts in")) << c.describe();
  EXPECT_NE(c.err().find("a restarts in 1.0s"), std::string::npos) << c.describe();
  EXPECT_EQ(c.err().find("gave up"), std::string::npos) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
}

// autorestart=false: the program stays EXITED and the others run on. A restart of an up run
// would be logged right after the exit line, before podvisor turns to the SIGTERM.
TEST(ConfigRun, AutorestartFalseLeavesTheProgramExited) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:a]
command=sh -c 'exit 3'
autorestart=false
startsecs=0

[program:b]
command=sh -c 'exit 0'
autorestart=false
startsecs=0

[program:other]
command=sh @DATA@/lifecycle.sh other @DIR@/events
startsecs=0
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_stderr("exited: a (exit status 3; not expected)")) << c.describe();
  ASSERT_TRUE(c.wait_stderr("exited: b (exit status 0; expected)")) << c.describe();
  ASSERT_TRUE(c.wait_file(dir / "events", "start other")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_EQ(count(c.err(), "spawned: 'a' with pid"), 1u) << c.describe();
  EXPECT_EQ(count(c.err(), "spawned: 'b' with pid"), 1u) << c.describe();
  EXPECT_EQ(count(c.err(), "stopped: a"), 0u) << "a was no longer running\n" << c.describe();
  EXPECT_NE(c.err().find("stopped: other"), std::string::npos) << c.describe();
  EXPECT_EQ(c.err().find("gave up"), std::string::npos) << c.describe();
}

// autorestart=unexpected (the default) restarts only on exit codes not in exitcodes.
TEST(ConfigRun, AutorestartUnexpectedRestartsOnlyOnUnexpectedCodes) {
  TempDir dir;
  // First run exits 4 (not in exitcodes: restarted), the second 3 (expected: stays EXITED).
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:a]
command=sh -c 'echo run >> @DIR@/runs; [ $(wc -l < @DIR@/runs) -ge 2 ] && exit 3; exit 4'
autorestart=unexpected
exitcodes=0,3
startsecs=0

; the default autorestart is unexpected, exitcodes 0
[program:d]
command=sh -c 'echo run >> @DIR@/runs-d; exit 0'
startsecs=0
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_stderr("exited: a (exit status 3; expected)")) << c.describe();
  ASSERT_TRUE(c.wait_stderr("exited: d (exit status 0; expected)")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_NE(c.err().find("exited: a (exit status 4; not expected)"), std::string::npos)
      << c.describe();
  EXPECT_EQ(read_file(dir / "runs"), "run\nrun\n") << c.describe();
  EXPECT_EQ(read_file(dir / "runs-d"), "run\n") << c.describe();
  EXPECT_EQ(count(c.err(), "spawned: 'a' with pid"), 2u) << c.describe();
  EXPECT_EQ(count(c.err(), "spawned: 'd' with pid"), 1u) << c.describe();
}

// An exit before startsecs is a failed start: BACKOFF (1 s), retried whatever autorestart
// says, then FATAL past startretries. podvisor keeps running after FATAL by default, as
// supervisord does, until told to stop; then it exits 0.
TEST(ConfigRun, FailedStartsBackOffThenFatalAndPodvisorKeepsRunning) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null
loglevel=debug

[program:a]
command=sh -c 'echo run >> @DIR@/runs; exit 2'
autorestart=false
startsecs=1
startretries=1
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_stderr("gave up: a entered FATAL state, too many start retries too quickly"))
      << c.describe();
  EXPECT_EQ(read_file(dir / "runs"), "run\nrun\n") << c.describe();
  EXPECT_EQ(count(c.err(), "exited: a (exit status 2; not expected)"), 2u) << c.describe();
  EXPECT_NE(c.err().find("a restarts in 1.0s"), std::string::npos) << c.describe();
  EXPECT_EQ(c.err().find("success: a"), std::string::npos) << c.describe();
  // The backoff really lasted about a second (a lower bound: safe on a loaded machine).
  const auto first = log_time_ms(c.err(), "spawned: 'a' with pid", 0);
  const auto second = log_time_ms(c.err(), "spawned: 'a' with pid", 1);
  ASSERT_TRUE(first && second) << c.describe();
  auto gap = *second - *first;
  if (gap < 0) gap += 86400000;  // midnight
  EXPECT_GE(gap, 950) << c.describe();

  EXPECT_FALSE(c.exited()) << "podvisor exited after FATAL without exit_on_fatal\n" << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_NE(c.err().find("received SIGTERM indicating exit request"), std::string::npos)
      << c.describe();
  EXPECT_EQ(c.err().find("---- a failed ----"), std::string::npos) << c.describe();
}

// [supervisord] exit_on_fatal=true: a FATAL program stops everything, podvisor exits 1 with
// a report naming it.
TEST(ConfigRun, ExitOnFatalStopsEverythingAndExits1) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null
exit_on_fatal=true

[program:a]
command=sh -c 'echo crashing; exit 2'
startretries=1

[program:b]
command=sh @DATA@/lifecycle.sh b @DIR@/events
startsecs=0
)");
  Child c(podvisor_config(conf));
  ASSERT_EQ(c.wait_exit(), 1) << c.describe();
  EXPECT_NE(c.err().find("gave up: a entered FATAL state, too many start retries too quickly"),
            std::string::npos)
      << c.describe();
  EXPECT_NE(c.err().find("stopped: b"), std::string::npos) << c.describe();
  EXPECT_NE(c.err().find("podvisor: ---- a failed ----"), std::string::npos) << c.describe();
  EXPECT_NE(c.err().find("podvisor: reason:   exit status 2"), std::string::npos) << c.describe();
  EXPECT_NE(c.err().find("  | crashing"), std::string::npos) << c.describe();
  EXPECT_EQ(count(c.err(), "spawned: 'a' with pid"), 2u) << c.describe();
}

// main=true: when that program ends for good, the others are stopped and podvisor exits with
// its status.
TEST(ConfigRun, MainProgramEndingStopsEverythingWithItsStatus) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:server]
command=sh -c 'while [ ! -s @DIR@/events ]; do sleep 0.05; done; exit 7'
main=true
autorestart=false
startsecs=0

[program:helper]
command=sh @DATA@/lifecycle.sh helper @DIR@/events
startsecs=0
)");
  Child c(podvisor_config(conf));
  ASSERT_EQ(c.wait_exit(), 7) << c.describe();
  EXPECT_NE(c.err().find("exited: server (exit status 7; not expected)"), std::string::npos)
      << c.describe();
  EXPECT_NE(c.err().find("stopped: helper (exit status 0)"), std::string::npos) << c.describe();
  EXPECT_EQ(read_file(dir / "events"), "start helper\nstop helper\n") << c.describe();
}

// A main program whose final exit is clean: podvisor exits 0.
TEST(ConfigRun, MainProgramExitingCleanlyExits0) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:job]
command=sh -c 'exit 0'
main=true
startsecs=0

[program:helper]
command=sh @DATA@/lifecycle.sh helper @DIR@/events
startsecs=0
)");
  const auto r = run(podvisor_config(conf));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_NE(r.err.find("exited: job (exit status 0; expected)"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("stopped: helper"), std::string::npos) << r.describe();
}

// A main program killed by a signal: podvisor exits 128+N, as a shell reports it.
TEST(ConfigRun, MainProgramKilledBySignalExits128PlusN) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:server]
command=sh -c 'kill -KILL $$'
main=true
autorestart=false
startsecs=0
)");
  const auto r = run(podvisor_config(conf));
  ASSERT_EQ(r.code, 137) << r.describe();
  EXPECT_NE(r.err.find("exited: server (terminated by SIGKILL; not expected)"), std::string::npos)
      << r.describe();
}

// SIGINT and SIGQUIT ask for the same orderly stop as SIGTERM.
TEST(ConfigRun, SigintAndSigquitStopEverythingWithExit0) {
  for (const int signo : {SIGINT, SIGQUIT}) {
    TempDir dir;
    const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:a]
command=sh @DATA@/lifecycle.sh a @DIR@/events
startsecs=0
)");
    Child c(podvisor_config(conf));
    ASSERT_TRUE(c.wait_file(dir / "events", "start a")) << c.describe();
    c.signal(signo);
    ASSERT_EQ(c.wait_exit(), 0) << signo << "\n" << c.describe();
    EXPECT_NE(c.err().find(std::string("received ") + (signo == SIGINT ? "SIGINT" : "SIGQUIT") +
                           " indicating exit request"),
              std::string::npos)
        << c.describe();
    EXPECT_EQ(read_file(dir / "events"), "start a\nstop a\n") << c.describe();
  }
}

// A second SIGTERM during the stop does not wait out stopwaitsecs: SIGKILL now.
TEST(ConfigRun, SecondSigtermKillsAtOnce) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:stubborn]
command=sh -c 'trap "" TERM; echo start >> @DIR@/events; while :; do sleep 0.05; done'
stopwaitsecs=60
startsecs=0
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_file(dir / "events", "start")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_TRUE(c.wait_stderr("waiting for stubborn to stop")) << c.describe();
  c.signal(SIGTERM);
  // Well under stopwaitsecs=60.
  ASSERT_EQ(c.wait_exit(10s), 0) << c.describe();
  EXPECT_NE(c.err().find("stopped: stubborn (terminated by SIGKILL)"), std::string::npos)
      << c.describe();
}

TEST(ConfigRun, NumprocsSpawnsEveryProcessByItsName) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:p]
command=sh @DATA@/lifecycle.sh %(program_name)s-%(process_num)d @DIR@/events
process_name=%(program_name)s-%(process_num)d
numprocs=2
numprocs_start=5
startsecs=0
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_file(dir / "events", "start p-5")) << c.describe();
  ASSERT_TRUE(c.wait_file(dir / "events", "start p-6")) << c.describe();
  ASSERT_TRUE(c.wait_for([&] { return spawned_names(c.err()).size() == 2; })) << c.describe();
  EXPECT_EQ(spawned_names(c.err()), (std::vector<std::string>{"p-5", "p-6"})) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_NE(c.err().find("stopped: p-5"), std::string::npos) << c.describe();
  EXPECT_NE(c.err().find("stopped: p-6"), std::string::npos) << c.describe();
}

// [include] files= globs are relative to the including file (not the working directory),
// and %(here)s in an included file is that file's directory.
TEST(ConfigRun, IncludedFilesAddPrograms) {
  TempDir dir;
  ASSERT_EQ(::mkdir((dir / "conf.d").c_str(), 0755), 0);
  write_config(dir, R"([program:b]
command=sh @DATA@/lifecycle.sh b %(here)s/events
startsecs=0
)",
               "conf.d/b.conf");
  write_config(dir, R"([program:a]
command=sh @DATA@/lifecycle.sh a %(here)s/events
startsecs=0
)",
               "conf.d/a.conf");
  write_config(dir, R"([program:not_included]
command=sh @DATA@/lifecycle.sh not_included @DIR@/events
)",
               "conf.d/readme.txt");
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[include]
files = conf.d/*.conf
)");
  Child c(podvisor_config(conf));  // its working directory is another temporary one
  ASSERT_TRUE(c.wait_file(dir / "conf.d/events", "start a")) << c.describe();
  ASSERT_TRUE(c.wait_file(dir / "conf.d/events", "start b")) << c.describe();
  ASSERT_TRUE(c.wait_for([&] { return spawned_names(c.err()).size() == 2; })) << c.describe();
  EXPECT_EQ(spawned_names(c.err()), (std::vector<std::string>{"a", "b"})) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_FALSE(exists(dir / "events")) << c.describe();
}

// Without -c and without a command, podvisor looks where supervisord does, starting with
// ./supervisord.conf.
TEST(ConfigRun, FindsSupervisordConfInTheWorkingDirectory) {
  TempDir dir;
  write_config(dir, R"([supervisord]
logfile=/dev/null

[program:found]
command=sh -c 'echo found-it'
autorestart=false
startsecs=0
stdout_logfile=/dev/stdout
)");
  auto options = podvisor({});
  options.cwd = dir.path();
  Child c(options);
  ASSERT_TRUE(c.wait_stderr("exited: found (exit status 0; expected)")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_EQ(c.out(), "found-it\n") << c.describe();
}

}  // namespace
}  // namespace e2e
