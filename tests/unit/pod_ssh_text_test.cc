// SSH at boot's text: key lines as platforms send them, the merge that never duplicates, the
// quoting of the session environment, host key types, sshd's argv and the connection hint.
#include <gtest/gtest.h>

#include "pod/ssh_text.h"

namespace podvisor::pod {
namespace {

// Real public keys (ssh-keygen), for their blobs.
constexpr std::string_view kEd =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE6OBe/ZSgGW+vWa9bAIdzjJnXhOECkGzN5U1nVCYmYy";
constexpr std::string_view kEd2 =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDsmArL0m2J8yO4zMzQ8n1cCBbtwy0hn1d7pjTi8ac+X";

TEST(KeyLine, TypeAndBlobMakeTheKeyNotTheComment) {
  const auto a = parse_key_line(std::string(kEd) + " me@laptop");
  const auto b = parse_key_line(std::string(kEd) + " other comment\r");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(a->type, "ssh-ed25519");
  // authorized_keys options before the type are skipped.
  EXPECT_EQ(parse_key_line("no-pty,from=\"10.0.0.1\" " + std::string(kEd)), a);
}

TEST(KeyLine, MalformedLinesAreNotKeys) {
  EXPECT_FALSE(parse_key_line("ssh-ed25519"));
  EXPECT_FALSE(parse_key_line("ssh-ed25519 not-base64!"));
  EXPECT_FALSE(parse_key_line("hello world"));
  // A blob of another type: truncated copy-paste, or a type edited by hand.
  EXPECT_FALSE(parse_key_line("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIE6OBe/ZSgGW+vWa9bAIdzjJnXhO"));
  EXPECT_FALSE(parse_key_line("ssh-ed25519 AAAA"));
}

TEST(KeyLines, CrlfCommentsBlanksAndSeveralKeys) {
  const auto text = "\r\n# my keys\r\n" + std::string(kEd) + " a@b\r\n\r\n  " + std::string(kEd2) +
                    "  \r\nssh-ed25519 garbage\n";
  const auto lines = split_key_lines(text);
  ASSERT_EQ(lines.keys.size(), 2u);
  EXPECT_EQ(lines.keys[0], std::string(kEd) + " a@b");
  EXPECT_EQ(lines.keys[1], kEd2);
  ASSERT_EQ(lines.malformed.size(), 1u);
  EXPECT_EQ(lines.malformed[0], "ssh-ed25519 garbage");
}

TEST(Merge, AddsOnlyNewKeysAndKeepsTheRest) {
  int added = -1;
  const auto existing = "# keep me\n" + std::string(kEd) + " old comment";
  const auto merged = merge_authorized_keys(
      existing, {std::string(kEd) + " new comment", std::string(kEd2)}, added);
  EXPECT_EQ(added, 1);
  EXPECT_EQ(merged, existing + "\n" + std::string(kEd2) + "\n");
  // Twice the same: nothing more.
  EXPECT_EQ(merge_authorized_keys(merged, {std::string(kEd2), std::string(kEd2)}, added), merged);
  EXPECT_EQ(added, 0);
  EXPECT_EQ(merge_authorized_keys("", {std::string(kEd), std::string(kEd)}, added),
            std::string(kEd) + "\n");
  EXPECT_EQ(added, 1);
}

TEST(SessionEnvironment, QuotedForShAndFiltered) {
  const std::vector<std::string> env = {"HF_TOKEN=hf a'b \"c\" $x",
                                        "PUBLIC_KEY=ssh-ed25519 AAAA",
                                        "HOME=/root",
                                        "SUPERVISOR_ENABLED=1",
                                        "PODVISOR_SSH=1",
                                        "SECRET_ONE=1",
                                        "BAD-NAME=1",
                                        "A=first",
                                        "A=second",
                                        "PATH=/opt/bin:/usr/bin"};
  const auto vars = session_variables(env, {"SECRET_*"});
  const std::vector<std::pair<std::string, std::string>> want = {
      {"A", "first"}, {"HF_TOKEN", "hf a'b \"c\" $x"}, {"PATH", "/opt/bin:/usr/bin"}};
  EXPECT_EQ(vars, want);
  const auto file = session_environment(vars);
  EXPECT_NE(file.find("export HF_TOKEN='hf a'\"'\"'b \"c\" $x'\n"), std::string::npos) << file;
  EXPECT_NE(file.find("export PATH=/opt/bin:/usr/bin\n"), std::string::npos) << file;
}

TEST(SessionEnvironment, SshdConfigSetsEveryVariableOnOneLineThenIncludesTheSystemFile) {
  const auto text = sshd_config_text({{"A", "x \"y\" \\z"}, {"B", "two\nlines"}, {"C", "$c"}},
                                     "/etc/ssh/sshd_config");
  EXPECT_NE(text.find("SetEnv \"A=x \\\"y\\\" \\\\z\" \"C=$c\"\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("B="), std::string::npos);
  EXPECT_TRUE(text.ends_with("Include /etc/ssh/sshd_config\n"));
  EXPECT_EQ(sshd_config_text({}, "/x").find("SetEnv"), std::string::npos);
}

TEST(HostKeyTypes, Ed25519FirstOnlyWhatSshdKnowsNeverDsa) {
  const std::vector<std::string> all = {"ed25519", "ecdsa", "rsa"};
  EXPECT_EQ(host_key_types(""), all);
  EXPECT_EQ(host_key_types("ssh-ed25519\nssh-ed25519-cert-v01@openssh.com\necdsa-sha2-nistp256\n"
                           "ssh-rsa\nssh-dss\n"),
            all);
  EXPECT_EQ(host_key_types("ssh-rsa\necdsa-sha2-nistp256\n"),
            (std::vector<std::string>{"ecdsa", "rsa"}));
}

TEST(SetupArguments, RoundTripWithoutValuesOfTheEnvironment) {
  SetupOptions o{.sshd = "/usr/sbin/sshd",
                 .user = "root",
                 .host_key_dir = "/workspace/ssh",
                 .authorized_keys = "",
                 .env_file = "/run/podvisor/ssh-environment",
                 .profile_file = "",
                 .port = 2222,
                 .exclude = {"AWS_*", "HF_TOKEN"},
                 .options = {"StrictModes=no"}};
  EXPECT_EQ(parse_setup_arguments(setup_arguments(o)), o);
  EXPECT_THROW(parse_setup_arguments({"--bogus", "1"}), std::invalid_argument);
  EXPECT_THROW(parse_setup_arguments({"--user"}), std::invalid_argument);
  EXPECT_THROW(parse_setup_arguments({"--user", "root"}), std::invalid_argument);  // no --sshd
}

TEST(SshdArgv, ForegroundStderrUserOptionsFirst) {
  SetupOptions o;
  o.sshd = "/usr/sbin/sshd";
  o.authorized_keys = "/k";
  o.env_file = "/run/e";
  o.port = 2222;
  o.options = {"PidFile=/run/sshd.pid"};
  const std::vector<std::string> want = {"/usr/sbin/sshd",
                                         "-D",
                                         "-e",
                                         "-o",
                                         "PidFile=/run/sshd.pid",
                                         "-o",
                                         "PidFile=none",
                                         "-f",
                                         "/run/e.sshd_config",
                                         "-o",
                                         "AuthorizedKeysFile=/k",
                                         "-p",
                                         "2222",
                                         "-h",
                                         "/hk/a"};
  EXPECT_EQ(sshd_argv(o, {"/hk/a"}), want);
}

TEST(ConnectionHint, FromRunpodsPublicIpAndPort) {
  EXPECT_EQ(connection_hint({"RUNPOD_PUBLIC_IP=203.0.113.7", "RUNPOD_TCP_PORT_22=40022"}, "root"),
            "ssh root@203.0.113.7 -p 40022 -i ~/.ssh/id_ed25519");
  EXPECT_FALSE(connection_hint({"RUNPOD_PUBLIC_IP=203.0.113.7"}, "root"));
  EXPECT_FALSE(connection_hint({"RUNPOD_PUBLIC_IP=1.2.3.4", "RUNPOD_TCP_PORT_22=x"}, "root"));
}

}  // namespace
}  // namespace podvisor::pod
