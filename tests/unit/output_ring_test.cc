#include <gtest/gtest.h>

#include "output/ring.h"

namespace podvisor::output {
namespace {

TEST(RingBuffer, KeepsEverythingBelowCapacity) {
  RingBuffer ring(16);
  ring.append("abc");
  ring.append("def");
  EXPECT_EQ(ring.contents(), "abcdef");
}

TEST(RingBuffer, KeepsTheNewestBytesWhenFull) {
  RingBuffer ring(8);
  ring.append("0123456");
  ring.append("789ab");
  EXPECT_EQ(ring.contents(), "456789ab");
  ring.append("cd");
  EXPECT_EQ(ring.contents(), "6789abcd");
  ring.append("a much longer chunk than the ring");
  EXPECT_EQ(ring.contents(), "the ring");
  EXPECT_EQ(ring.size(), 8u);
}

TEST(RingBuffer, WrapsManyTimesByteForByte) {
  RingBuffer ring(7);
  std::string all;
  for (int i = 0; i < 100; ++i) {
    const std::string chunk(static_cast<size_t>(i % 5 + 1), static_cast<char>('a' + i % 26));
    ring.append(chunk);
    all += chunk;
  }
  EXPECT_EQ(ring.contents(), all.substr(all.size() - 7));
}

TEST(RingBuffer, LastLines) {
  RingBuffer ring(1024);
  ring.append("one\ntwo\r\nthree\nfour");
  EXPECT_EQ(ring.last_lines(2), (std::vector<std::string>{"three", "four"}));
  EXPECT_EQ(ring.last_lines(10), (std::vector<std::string>{"one", "two", "three", "four"}));
  ring.append("\n");
  EXPECT_EQ(ring.last_lines(1), (std::vector<std::string>{"four"}));
  EXPECT_TRUE(RingBuffer(8).last_lines(3).empty());
}

}  // namespace
}  // namespace podvisor::output
