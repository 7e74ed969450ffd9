// What a gate counts, for /metrics: connections by fate, bytes relayed, time held.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace podvisor::gate {

// Why a held connection was refused (503 for HTTP, a close otherwise).
enum class Refusal { kHoldTimeout, kMaxHeld, kFatal, kShutdown };
inline constexpr std::array<const char*, 4> kRefusalNames = {"hold_timeout", "max_held", "fatal",
                                                             "shutdown"};

// Upper bounds of the held-time histogram, in seconds.
inline constexpr std::array<double, 11> kHeldBuckets = {0.001, 0.01, 0.1, 1,   5,  10,
                                                        30,    60,   120, 300, 600};

struct Stats {
  size_t held = 0;    // now
  size_t active = 0;  // relaying now
  uint64_t accepted = 0;
  uint64_t forwarded = 0;  // connected to the upstream
  uint64_t health_requests = 0;
  std::array<uint64_t, kRefusalNames.size()> refused{};
  std::array<uint64_t, 2> bytes{};                           // to the upstream, to the client
  std::array<uint64_t, kHeldBuckets.size()> held_buckets{};  // cumulative counts are made later
  uint64_t held_count = 0;  // connections that were held and left the queue
  double held_sum = 0;

  void add_held(double seconds) {
    for (size_t i = 0; i < kHeldBuckets.size(); ++i) {
      if (seconds <= kHeldBuckets[i]) {
        ++held_buckets[i];
        break;
      }
    }
    ++held_count;
    held_sum += seconds;
  }
};

}  // namespace podvisor::gate
