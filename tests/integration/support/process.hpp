// A child process for integration tests: spawned without a shell in its own process group,
// stdout and stderr captured through pipes by one reader thread, lines matched by regex.
// Test support only. Never sleeps to synchronise: waits end on a line, an exit or a deadline.
// The destructor kills the whole process group (SIGKILL) and reaps the child, so a failing
// test never leaks a daemon.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <filesystem>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

namespace hopscope::test {

enum class Stream { out, err };

struct LineMatch {
  std::size_t index = 0;            // line number in that stream, from 0
  std::string line;                 // the whole line, without the line ending
  std::vector<std::string> groups;  // [0] = whole match, then each capture group
};

struct ProcessOptions {
  std::vector<std::string> extra_env;  // "NAME=value", added to (or overriding) our environment
  std::filesystem::path working_directory;  // empty: inherit
};

class Process {
 public:
  // Spawns argv[0] (searched in PATH) with argv. Throws std::runtime_error if it cannot be
  // started (not found, not executable).
  explicit Process(std::vector<std::string> argv, const ProcessOptions& options = {});
  ~Process();

  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  Process(Process&&) = delete;
  Process& operator=(Process&&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }

  // The first line at index >= from_line in `stream` that matches `pattern` (regex_search).
  // Outcomes:
  //  @li a match, as soon as the line is complete (or the stream ended after it);
  //  @li nullopt when the deadline passes;
  //  @li nullopt as soon as the stream reached end of file without a match (exited early).
  [[nodiscard]] std::optional<LineMatch> wait_for_line(Stream stream, const std::regex& pattern,
                                                       std::chrono::milliseconds timeout,
                                                       std::size_t from_line = 0);

  // True once both stdout and stderr reached end of file (every writer closed them), false
  // when `timeout` passes first. After it returns true, output() holds everything.
  bool wait_for_eof(std::chrono::milliseconds timeout);

  // Exit code once the child exited (128 + signal number if killed), nullopt on timeout.
  [[nodiscard]] std::optional<int> wait(std::chrono::milliseconds timeout);
  // SIGTERM to the process group, then SIGKILL after `grace`; returns the exit code.
  int terminate(std::chrono::milliseconds grace = std::chrono::seconds(5));
  // Exit code if already reaped (by wait or terminate), else nullopt. Does not block.
  [[nodiscard]] std::optional<int> exit_code() const { return exit_code_; }
  [[nodiscard]] bool running();

  // Everything captured so far from a stream (complete and partial lines).
  [[nodiscard]] std::string output(Stream stream) const;
  [[nodiscard]] std::vector<std::string> lines(Stream stream) const;
  // "argv..." plus the exit code and the last lines of stderr and stdout, for failure messages.
  [[nodiscard]] std::string describe(std::size_t tail_lines = 30) const;

 private:
  struct Capture {
    int fd = -1;
    std::string raw;                 // all bytes
    std::string partial;             // bytes after the last '\n'
    std::vector<std::string> lines;  // complete lines, trailing "\r" removed
    bool eof = false;
  };

  void read_loop();
  void consume(Capture& capture, const char* data, std::size_t size);
  bool reap(std::chrono::milliseconds timeout);
  void stop_reader();

  std::vector<std::string> argv_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int wake_read_ = -1;
  int wake_write_ = -1;
  std::optional<int> exit_code_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  Capture out_;
  Capture err_;
  std::thread reader_;
};

// Joins argv for messages: words with spaces or quotes are single-quoted.
[[nodiscard]] std::string join_command(const std::vector<std::string>& argv);

}  // namespace hopscope::test
