// Where relayed output goes: podvisor's own stdout/stderr (OutputSink), a rotating log file
// (LogFile, log_file.h), or either of them through a LineFormatter that writes whole lines with
// a "[name] " prefix or as JSON.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace podvisor::output {

class Destination {
 public:
  virtual ~Destination() = default;
  virtual void write(std::string_view data) = 0;
  // The source has ended: deliver anything held back (a partial line).
  virtual void end() {}
  // Backpressure: sources stop reading while congested, until `resume` is called.
  virtual bool congested() const { return false; }
  virtual void when_drained(std::function<void()> resume) { resume(); }
  // Zero-copy: moves up to len bytes from the pipe pipe_fd here. Returns the bytes moved; 0
  // when the destination takes nothing now (it is then congested until it drains); -1 when
  // it cannot take them this way now: read them and write() them instead.
  virtual long splice_from(int /*pipe_fd*/, size_t /*len*/) { return -1; }
};

// Splits a stream into lines and writes each whole, formatted, to `next`: lines of
// different programs never interleave. A line longer than kMaxLine is split, not dropped.
class LineFormatter final : public Destination {
 public:
  enum class Format { kPrefix, kJson };
  LineFormatter(Destination& next, Format format, std::string program, std::string stream);
  void write(std::string_view data) override;
  void end() override;
  bool congested() const override { return next_.congested(); }
  void when_drained(std::function<void()> resume) override {
    next_.when_drained(std::move(resume));
  }
  static constexpr size_t kMaxLine = 64 * 1024;

 private:
  void emit(std::string_view line);
  Destination& next_;
  Format format_;
  std::string program_;
  std::string stream_;
  std::string partial_;
  std::string batch_;  // formatted lines of one write(), handed on together
};

}  // namespace podvisor::output
