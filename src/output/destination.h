// Where relayed output goes: podvisor's own stdout/stderr (OutputSink), a rotating log file
// (LogFile), or either of them through a LineFormatter that writes whole lines with a
// "[name] " prefix or as JSON.
#pragma once

#include <cstdint>
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
};

// A file rotated at maxbytes into path.1 … path.N (N = backups) without losing a byte:
// a write that would cross the limit fills the file to it, rotates, and goes on.
class LogFile final : public Destination {
 public:
  LogFile(std::string path, uint64_t maxbytes, int backups);  // throws std::system_error
  ~LogFile() override;
  void write(std::string_view data) override;
  const std::string& path() const { return path_; }
  // Empties the file (supervisorctl clear); throws std::system_error.
  void clear();

 private:
  void rotate();
  void open_file();
  std::string path_;
  uint64_t maxbytes_;
  int backups_;
  int fd_ = -1;
  uint64_t size_ = 0;
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
