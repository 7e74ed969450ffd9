#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "config/listener.h"
#include "config/loader.h"

namespace podvisor::config {
namespace {

TEST(EventTypes, ListOfStringsAsSupervisord) {
  EXPECT_EQ(parse_event_types("process_state, tick_5"),
            (std::vector{EventType::kProcessState, EventType::kTick5}));
  EXPECT_EQ(parse_event_types("EVENT,EVENT"), std::vector{EventType::kEvent});
  EXPECT_THROW(parse_event_types("PROCESS_STATE TICK_5"), ValueError);
  EXPECT_TRUE(is_a(EventType::kProcessStateExited, EventType::kProcessState));
  EXPECT_TRUE(is_a(EventType::kTick3600, EventType::kEvent));
  EXPECT_FALSE(is_a(EventType::kTick5, EventType::kProcessState));
}

std::string error_of(const ListenerKeys& keys) {
  try {
    parse_listener("eventlistener:x", keys);
  } catch (const ListenerError& e) {
    return e.what();
  }
  return "";
}

TEST(ListenerSection, SupervisordsErrors) {
  EXPECT_EQ(error_of({}), "[eventlistener:x] section requires an \"events\" line");
  EXPECT_EQ(error_of({.events = "FOO"}), "Unknown event type FOO in [eventlistener:x] events");
  EXPECT_EQ(error_of({.events = "PROCESS_STATE,"}),
            "Unknown event type  in [eventlistener:x] events");
  EXPECT_EQ(error_of({.events = "EVENT", .buffer_size = "0"}),
            "[eventlistener:x] section sets invalid buffer_size (0)");
  EXPECT_NE(error_of({.events = "EVENT", .result_handler = "foo:bar"})
                .find("foo:bar cannot be resolved within [eventlistener:x]"),
            std::string::npos);
  const auto spec =
      parse_listener("eventlistener:x", {.events = "EVENT",
                                         .buffer_size = "3",
                                         .result_handler = std::string(kDefaultResultHandler)});
  EXPECT_EQ(spec.buffer_size, 3);
}

TEST(ListenerSection, LoadedAsAPoolOfPrograms) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("podvisor-listener-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "supervisord.conf").string();
  std::ofstream(path) << "[supervisord]\n"
                         "[program:web]\ncommand=sleep 1\nstdout_events_enabled=true\n"
                         "[eventlistener:quit]\ncommand=sh listener.sh\n"
                         "events=PROCESS_STATE_EXITED,PROCESS_STATE_FATAL\nnumprocs=2\n"
                         "process_name=%(program_name)s_%(process_num)d\n";
  std::vector<std::string> warnings;
  const auto spec = load_config(path, {}, warnings);
  std::filesystem::remove_all(dir);
  EXPECT_TRUE(warnings.empty()) << warnings.front();
  ASSERT_EQ(spec.programs.size(), 3u);
  EXPECT_EQ(spec.programs[0].name, "quit_0");  // pools first (priority -1)
  EXPECT_EQ(spec.programs[0].group, "quit");
  ASSERT_TRUE(spec.programs[0].listener);
  EXPECT_EQ(spec.programs[0].listener->events.size(), 2u);
  EXPECT_EQ(spec.programs[0].listener->buffer_size, 10);
  EXPECT_TRUE(spec.programs[2].stdout_log.events_enabled);
  EXPECT_FALSE(spec.programs[2].listener);
}

}  // namespace
}  // namespace podvisor::config
