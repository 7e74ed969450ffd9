// What a program of a supervisord.conf runs with: its environment (program over
// [supervisord] over inherited, plus SUPERVISOR_ENABLED, SUPERVISOR_PROCESS_NAME,
// SUPERVISOR_GROUP_NAME), directory= and umask= (issue 3, "Running many programs").
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <climits>
#include <csignal>

#include "harness.h"

namespace e2e {
namespace {

TEST(ConfigEnvironment, ProgramOverSupervisordOverInherited) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null
environment=A="sup",B="sup"

[group:grp]
programs=x

[program:x]
command=sh -c 'echo "$A $B $C $SUPERVISOR_ENABLED $SUPERVISOR_PROCESS_NAME $SUPERVISOR_GROUP_NAME"'
environment=A="prog"
stdout_logfile=/dev/stdout
autorestart=false
startsecs=0

[program:y]
command=sh -c 'echo "$A $B $C $SUPERVISOR_ENABLED $SUPERVISOR_PROCESS_NAME $SUPERVISOR_GROUP_NAME"'
stdout_logfile=/dev/stdout
autorestart=false
startsecs=0
)");
  Child c(podvisor_config(conf, {{"A", "inh"}, {"B", "inh"}, {"C", "inh"}}));
  ASSERT_TRUE(c.wait_stderr("exited: x (exit status 0; expected)")) << c.describe();
  ASSERT_TRUE(c.wait_stderr("exited: y (exit status 0; expected)")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_NE(c.out().find("[x] prog sup inh 1 x grp\n"), std::string::npos) << c.describe();
  EXPECT_NE(c.out().find("[y] sup sup inh 1 y y\n"), std::string::npos) << c.describe();
}

// A numprocs process is named by process_name; its group is the program's name.
TEST(ConfigEnvironment, ProcessNameOfNumprocsProcesses) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:w]
command=sh -c 'echo "$SUPERVISOR_PROCESS_NAME/$SUPERVISOR_GROUP_NAME" >> @DIR@/names'
process_name=%(program_name)s_%(process_num)02d
numprocs=2
autorestart=false
startsecs=0
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_stderr("exited: w_00 (exit status 0; expected)")) << c.describe();
  ASSERT_TRUE(c.wait_stderr("exited: w_01 (exit status 0; expected)")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  const auto names = read_file(dir / "names");
  EXPECT_NE(names.find("w_00/w\n"), std::string::npos) << names;
  EXPECT_NE(names.find("w_01/w\n"), std::string::npos) << names;
}

std::string real_path(const std::string& path) {
  char out[PATH_MAX];
  return ::realpath(path.c_str(), out) ? std::string(out) : path;
}

TEST(ConfigEnvironment, DirectoryAndUmaskApply) {
  TempDir dir;
  ASSERT_EQ(::mkdir((dir / "work").c_str(), 0755), 0);
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:d]
command=sh -c 'pwd -P; umask; touch made'
directory=@DIR@/work
umask=027
stdout_logfile=/dev/stdout
autorestart=false
startsecs=0
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_stderr("exited: d (exit status 0; expected)")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_EQ(c.out(), real_path(dir / "work") + "\n0027\n") << c.describe();
  struct stat st {};
  ASSERT_EQ(::stat((dir / "work/made").c_str(), &st), 0) << c.describe();
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

// [supervisord] umask applies to podvisor and so to the programs that set none.
TEST(ConfigEnvironment, SupervisordUmaskIsInherited) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null
umask=077

[program:u]
command=sh -c 'umask'
stdout_logfile=/dev/stdout
autorestart=false
startsecs=0
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_stderr("exited: u (exit status 0; expected)")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_EQ(c.out(), "0077\n") << c.describe();
}

// %(ENV_X)s in the file comes from podvisor's environment.
TEST(ConfigEnvironment, EnvInterpolationInCommand) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:i]
command=sh -c 'echo %(ENV_E2E_GREETING)s %(program_name)s'
stdout_logfile=/dev/stdout
autorestart=false
startsecs=0
)");
  Child c(podvisor_config(conf, {{"E2E_GREETING", "hello"}}));
  ASSERT_TRUE(c.wait_stderr("exited: i (exit status 0; expected)")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_EQ(c.out(), "hello i\n") << c.describe();
}

}  // namespace
}  // namespace e2e
