// Child processes, /proc readings and loopback ports for hopscope_bench.
// std + POSIX + Linux /proc and prctl only. Never leaves a child behind: every child gets
// PR_SET_PDEATHSIG(SIGKILL), and kill_all_children() runs at exit and on SIGINT/SIGTERM
// (install_cleanup). Every wait here has a time bound. Never connects to anything.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace hopscope::bench {

// Prints "hopscope_bench: <message>", kills the children and exits 2.
[[noreturn]] void fail(const std::string& message);
std::string errno_text(int error);

// SIGINT, SIGTERM and exit kill every child spawn() started; SIGPIPE is ignored.
void install_cleanup();
void kill_all_children();

// Starts args[0] (an absolute path) with stdin /dev/null, stdout and stderr appended to log.
pid_t spawn(const std::vector<std::string>& args, const std::filesystem::path& log);
// The wait status once pid exits within timeout; nullopt while it still runs.
std::optional<int> wait_for(pid_t pid, std::chrono::milliseconds timeout);
// SIGTERM, then SIGKILL after grace. pid <= 0 is a no-op.
void stop(pid_t pid, std::chrono::milliseconds grace = std::chrono::seconds(3));
bool running(pid_t pid);
// The last bytes of a log, for error messages.
std::string tail(const std::filesystem::path& log, std::size_t bytes = 600);

// CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID), in microseconds.
double thread_cpu_us();
// utime + stime of the whole process (all threads) in clock ticks, from /proc/<pid>/stat.
std::optional<std::uint64_t> cpu_ticks(pid_t pid);
// Busy time of the whole machine in clock ticks (/proc/stat "cpu": user + nice + system +
// irq + softirq): every process plus the kernel's network work, whoever it is charged to.
std::optional<std::uint64_t> machine_busy_ticks();
// VmRSS from /proc/<pid>/status.
std::optional<long> rss_kib(pid_t pid);
// True once 127.0.0.1:port is in LISTEN state (/proc/net/tcp); false if pid exits first or
// timeout passes. Reading /proc instead of connecting keeps probes out of the audit log.
bool wait_listening(pid_t pid, std::uint16_t port, std::chrono::milliseconds timeout);
// A loopback port that was free a moment ago. Known limitation: another process can take
// it before the tool binds it; the start then fails loudly instead of measuring another thing.
std::uint16_t free_port();
// Sessions a proxy can hold with two descriptors each under the inherited RLIMIT_NOFILE.
long max_connections();

}  // namespace hopscope::bench
