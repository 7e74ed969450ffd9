// supervisord.conf constructs real images ship, read as supervisord 4.2.5 reads them:
// environment= separators, strip_ansi, log files in missing directories, and commands that
// `check --print` writes so that supervisord's shlex splits them into the same argv.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>

#include "harness.h"

namespace e2e {
namespace {

// ---- environment= (dict_of_key_value_pairs) ----

// vast-ai's base image: a '.' after the quoted value, the next pair on a continuation line.
// supervisord skips that '.' as the separator and sets every variable (checked with Debian's
// supervisord 4.2.5: PROC_NAME=[vast] OTHER=[b c] THIRD=[x]).
constexpr std::string_view kVastEnvironment = R"([supervisord]
logfile=/dev/null
environment=TOP="t";ALSO=u

[program:vast]
command=sh -c 'echo "PROC_NAME=[$PROC_NAME] OTHER=[$OTHER] THIRD=[$THIRD] TOP=[$TOP] ALSO=[$ALSO]"'
environment=PROC_NAME="%(program_name)s".
    OTHER="b c";
    THIRD=x ; inline comment
autorestart=false
startsecs=0
stdout_logfile=/dev/stdout
)";

TEST(CompatEnvironment, SkippedSeparatorsSetEveryVariableAsSupervisordDoes) {
  TempDir dir;
  const auto conf = write_config(dir, kVastEnvironment);
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_stdout("PROC_NAME=[vast] OTHER=[b c] THIRD=[x] TOP=[t] ALSO=[u]\n"))
      << c.describe();
  // The '.' and the ';' are warned about where they are: the key's line.
  EXPECT_NE(c.err().find(conf + ":7: [program:vast] environment: '.' after PROC_NAME=\"vast\""),
            std::string::npos)
      << c.describe();
  EXPECT_NE(c.err().find("';' after OTHER=\"b c\""), std::string::npos) << c.describe();
  EXPECT_NE(c.err().find(conf + ":3: [supervisord] environment: ';' after TOP=\"t\""),
            std::string::npos)
      << c.describe();
  ASSERT_TRUE(c.wait_stderr("exited: vast (exit status 0; expected)")) << c.describe();
  c.signal(SIGTERM);
  EXPECT_EQ(c.wait_exit(), 0) << c.describe();

  const auto r = run(podvisor({"check", "-c", conf}));
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_NE(r.err.find("'.' after PROC_NAME"), std::string::npos) << r.describe();
}

// What supervisord refuses, podvisor refuses with supervisord's words (and the line).
TEST(CompatEnvironment, UnpairedTokensAreRefusedInSupervisordsWords) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:x]
command=touch @DIR@/ran
environment=A=1 B=2
)");
  for (const auto& args : {std::vector<std::string>{"-c", conf}, {"check", "-c", conf}}) {
    const auto r = run(podvisor(args));
    EXPECT_EQ(r.code, 2) << r.describe();
    EXPECT_NE(r.err.find(conf + ":6: [program:x] environment: Unexpected end of key/value pairs in "
                                "value 'A=1 B=2'"),
              std::string::npos)
        << r.describe();
  }
  EXPECT_FALSE(exists(dir / "ran"));
}

// ---- strip_ansi ----

// The research's input, which Debian's supervisord 4.2.5 logged as kStripped: CSI sequences
// up to a terminator go, OSC stays, and "\e[5X" (X is no terminator) takes the rest of the read.
constexpr std::string_view kColored =
    R"(printf 'a\033[31mRED\033[0mb \033[?25lx\033[1;2Hy \033]0;title\007z \033[5Xq\n')";
constexpr std::string_view kStripped = "aREDb xy \x1b]0;title\az ";
constexpr std::string_view kRaw = "a\x1b[31mRED\x1b[0mb \x1b[?25lx\x1b[1;2Hy \x1b]0;title\az ";

std::string colored_config(std::string_view strip_line) {
  return "[supervisord]\nlogfile=/dev/null\n" + std::string(strip_line) +
         "\n\n[program:color]\ncommand=" + std::string(kColored) +
         "\nautorestart=false\nstartsecs=0\nstdout_logfile=@DIR@/color.log\n\n"
         "[program:tty]\ncommand=" +
         std::string(kColored) + "\nautorestart=false\nstartsecs=0\nstdout_logfile=/dev/stdout\n";
}

// Runs the colored programs to their end; returns what the log file holds.
std::string colored_run(const TempDir& dir, const Options& o) {
  Child c(o);
  const auto log = dir / "color.log";
  EXPECT_TRUE(c.wait_stderr("exited: color (exit status 0; expected)")) << c.describe();
  EXPECT_TRUE(c.wait_stderr("exited: tty (exit status 0; expected)")) << c.describe();
  EXPECT_TRUE(c.wait_stdout("title")) << c.describe();
  c.signal(SIGTERM);
  EXPECT_EQ(c.wait_exit(), 0) << c.describe();
  const auto text = read_file(log);
  // The same bytes reached podvisor's stdout (stdout_logfile=/dev/stdout is a log file too).
  EXPECT_NE(c.out().find(text), std::string::npos) << c.describe();
  return text;
}

TEST(CompatStripAnsi, LogFilesLoseEscapeSequencesAsUnderSupervisord) {
  TempDir dir;
  const auto conf = write_config(dir, colored_config("strip_ansi=true"));
  EXPECT_EQ(colored_run(dir, podvisor_config(conf)), kStripped);
}

TEST(CompatStripAnsi, OffByDefaultAndOnWithSupervisordsFlag) {
  TempDir dir;
  const auto conf = write_config(dir, colored_config(""));
  EXPECT_EQ(colored_run(dir, podvisor_config(conf)), std::string(kRaw) + "\x1b[5Xq\n");
  ASSERT_EQ(::unlink((dir / "color.log").c_str()), 0);
  const auto link = dir / "supervisord";
  ASSERT_EQ(::symlink(podvisor_binary().c_str(), link.c_str()), 0);
  Options o;
  o.exe = link;
  o.argv = {link, "-n", "-t", "-c", conf};
  EXPECT_EQ(colored_run(dir, o), kStripped);
}

// The same file under Debian's supervisord 4.2.5 and podvisor: the child's environment and
// its stripped log are the same bytes.
TEST(CompatDifferential, EnvironmentAndStripAnsiAsDebiansSupervisord) {
  const std::string reference = "/usr/bin/supervisord";
  if (!exists(reference)) GTEST_SKIP() << "Debian's supervisor package is not installed";
  constexpr std::string_view kText = R"([supervisord]
logfile=%(here)s/sv.log
pidfile=%(here)s/sv.pid
strip_ansi=true
environment=TOP="t";ALSO=u

[program:vast]
command=sh %(here)s/vast.sh
environment=PROC_NAME="%(program_name)s".
    OTHER="b c";
    THIRD=x ; inline comment
autorestart=false
startsecs=0
stdout_logfile=%(here)s/vast.log
)";
  auto log_of = [&](std::vector<std::string> argv) {
    TempDir dir;
    argv.push_back(write_config(dir, kText));
    write_file(dir / "vast.sh",
               "echo \"PROC_NAME=[$PROC_NAME] OTHER=[$OTHER] THIRD=[$THIRD] TOP=[$TOP] "
               "ALSO=[$ALSO]\"\n" +
                   std::string(kColored) + "\n");
    Options o;
    o.argv = argv;
    Child c(o);
    EXPECT_TRUE(c.wait_file(dir / "vast.log", "title")) << c.describe();
    EXPECT_TRUE(c.wait_for(
        [&] {
          return read_file(dir / "sv.log").find("exited: vast") != std::string::npos ||
                 c.err().find("exited: vast") != std::string::npos;
        },
        kTimeout, 10ms))
        << c.describe();
    c.signal(SIGTERM);
    c.wait_exit();
    return read_file(dir / "vast.log");
  };
  const auto expected = log_of({reference, "-n", "-c"});
  EXPECT_EQ(expected,
            "PROC_NAME=[vast] OTHER=[b c] THIRD=[x] TOP=[t] ALSO=[u]\n" + std::string(kStripped));
  EXPECT_EQ(log_of({podvisor_binary(), "-c"}), expected);
}

// ---- log files in missing directories ----

struct MissingDir {
  std::string section_lines;  // inserted in [program:x] or [supervisord]
  bool in_program;
  int line;
  std::string key_and_path;
};

TEST(CompatLogDirectory, MissingDirectoryIsRefusedAtStartAndByCheck) {
  const MissingDir cases[] = {
      {"stdout_logfile=@DIR@/missing/out.log", true, 8, "[program:x] stdout_logfile: "},
      {"stderr_logfile=%(here)s/missing/err.log", true, 8, "[program:x] stderr_logfile: "},
      {"logfile=@DIR@/missing/sv.log", false, 3, "[supervisord] logfile: "},
  };
  for (const auto& m : cases) {
    SCOPED_TRACE(m.section_lines);
    TempDir dir;
    const auto conf = write_config(
        dir, "[supervisord]\nloglevel=info\n" + (m.in_program ? "" : m.section_lines + "\n") +
                 (m.in_program ? "nodaemon=true\n" : "") +
                 "\n[program:x]\ncommand=touch @DIR@/ran\nstartsecs=0\n" +
                 (m.in_program ? m.section_lines + "\n" : ""));
    const auto file = m.section_lines.substr(m.section_lines.find('=') + 1);
    auto path = file;
    if (path.starts_with("%(here)s")) path = dir.path() + path.substr(8);
    if (path.starts_with("@DIR@")) path = dir.path() + path.substr(5);
    const auto expected = conf + ":" + std::to_string(m.line) + ": " + m.key_and_path +
                          "The directory named as part of the path " + path + " does not exist";
    for (const auto& args : {std::vector<std::string>{"-c", conf}, {"check", "-c", conf}}) {
      const auto r = run(podvisor(args));
      EXPECT_EQ(r.code, 2) << r.describe();
      EXPECT_NE(r.err.find(expected), std::string::npos) << expected << "\n" << r.describe();
    }
    EXPECT_FALSE(exists(dir / "ran"));
  }
}

// Values that name no file in a directory: accepted, as by supervisord.
TEST(CompatLogDirectory, SpecialValuesAndExistingDirectoriesAreAccepted) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=%(here)s/sv.log

[program:a]
command=sleep 1
stdout_logfile=AUTO
stderr_logfile=NONE

[program:b]
command=sleep 1
stdout_logfile=syslog
stderr_logfile=off

[program:c]
command=sleep 1
stdout_logfile=/dev/stdout
stderr_logfile=relative.log

[program:d]
command=sleep 1
stdout_logfile=%(here)s/d.log
redirect_stderr=true
)");
  const auto r = run(podvisor({"check", "-c", conf}));
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_NE(r.err.find("ok, 4 program(s), 0 warning(s)"), std::string::npos) << r.describe();
}

// ---- check --print: commands supervisord splits back into the same argv ----

// Reads both files as supervisord does (configparser with its inline comments) and compares
// shlex.split of each [program:x] command; '%%' in the source is supervisord's '%'.
constexpr std::string_view kCompare = R"(import configparser, shlex, sys
def read(path):
    p = configparser.RawConfigParser(inline_comment_prefixes=(';', '#'), strict=False)
    p.read(path, encoding='utf-8')
    return p
source, printed = read(sys.argv[1]), read(sys.argv[2])
bad = 0
for s in source.sections():
    if not s.startswith('program:'):
        continue
    want = shlex.split(source.get(s, 'command').replace('%%', '%'))
    got = shlex.split(printed.get(s, 'command'))
    print(('same ' if want == got else 'DIFFERENT ') + s, want, got)
    bad += want != got
sys.exit(1 if bad else 0)
)";

TEST(CompatCheckPrint, CommandsSplitBackIntoTheSameArgv) {
  auto python = [](std::vector<std::string> args) {
    Options o;
    o.argv = {"python3"};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    return run(o);
  };
  if (python({"-c", "pass"}).code != 0) {
    GTEST_SKIP() << "python3 is needed to compare with shlex.split";
  }
  TempDir dir;
  const auto conf = write_config(dir, R"conf([supervisord]
logfile=/dev/null

[program:quotes]
command=bash -c 'echo '"'"'hi there'"'"' && sleep 1'

[program:mixed]
command=printf "%%s|" "a b" '' "" "x\"y" 'back\slash' "dq\\back" plain\ space "dollar $HOME" "semi "';colon' 'hash '"#tag" '$(x)' "tab	in"

[program:json]
command=python3 -c "import sys; print(sys.argv)" "{\"k\": [1, 2], \"s\": \"a'b\"}"

[program:shell]
command=sh -c "echo é€ ~ * ? [x] {a,b} & | < > ( ) ! \`date\` "';'" done "'#'" not a comment"

[program:plain]
command=/bin/true -- --opt=a,b =x @z ''
)conf");
  const auto r = run(podvisor({"check", "--print", "-c", conf}));
  ASSERT_EQ(r.code, 0) << r.describe();
  const auto printed = dir / "printed.conf";
  write_file(printed, r.out);
  const auto script = dir / "compare.py";
  write_file(script, kCompare);
  const auto compared = python({script, conf, printed});
  EXPECT_EQ(compared.code, 0) << compared.describe() << "\n" << r.out;
  EXPECT_EQ(count(compared.out, "same program:"), 5u) << compared.describe();
  // Plain words stay unquoted, as shlex.join writes them.
  EXPECT_NE(r.out.find("command = /bin/true -- --opt=a,b =x @z ''\n"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace e2e
