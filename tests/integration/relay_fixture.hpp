// Starts the built `hopscope relay` between a test's sender and its upstream, with its own
// audit directory, and reads the audit documents it writes. Test support only.
// Waits end on a line the relay prints (its "listening on" line, its per-session summary
// line), never on a sleep.
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "net.hpp"
#include "process.hpp"
#include "swaks.hpp"
#include "temp_dir.hpp"

namespace hopscope::test {

struct RelayOptions {
  std::string upstream;         // "127.0.0.1:2525"
  std::string extra_toml;       // appended to the generated configuration
  std::string audit_directory;  // empty: a directory inside the relay's temp dir
  std::vector<std::string> extra_args;
  std::vector<std::string> extra_env;  // "NAME=value" for the relay process
  // Runs the relay under this command, e.g. {"prlimit", "--nofile=256:256", "--"}: it must
  // exec the relay (same process, so the process group and pid stay the relay's).
  std::vector<std::string> command_prefix;
};

class RelayProcess {
 public:
  explicit RelayProcess(const RelayOptions& options) : dir_("hopscope-relay") {
    audit_ = options.audit_directory.empty() ? dir_.path() / "audit"
                                             : std::filesystem::path(options.audit_directory);
    const auto config = dir_.path() / "hopscope.toml";
    write_file(config, "[audit]\ndirectory = \"" + audit_.string() + "\"\n" + options.extra_toml);
    std::vector<std::string> argv = {hopscope_binary(), "relay",        "--listen",
                                     "127.0.0.1:0",     "--upstream",   options.upstream,
                                     "--config",        config.string()};
    argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
    argv.insert(argv.begin(), options.command_prefix.begin(), options.command_prefix.end());
    process_ = std::make_unique<Process>(argv, ProcessOptions{.extra_env = options.extra_env});
    static const std::regex listening(R"(listening on (\S+))");
    auto line = process_->wait_for_line(Stream::err, listening, std::chrono::seconds(20));
    if (!line) {
      throw std::runtime_error("hopscope relay did not start:\n" + process_->output(Stream::err));
    }
    const auto hp = parse_host_port(line->groups.at(1));
    host_ = hp.host;
    port_ = hp.port;
  }

  [[nodiscard]] const std::string& host() const { return host_; }
  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] std::string address() const { return host_ + ":" + std::to_string(port_); }
  [[nodiscard]] const std::filesystem::path& audit_directory() const { return audit_; }
  Process& process() { return *process_; }

  // Waits until the relay logged `n` session summary lines in total (each is printed after
  // the session's document was handed to the writer). Returns false on timeout.
  bool wait_for_sessions(std::size_t n,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    static const std::regex summary(R"(session \S+ .* verdict: )");
    std::size_t from = 0;
    for (std::size_t seen = 0; seen < n; ++seen) {
      auto line = process_->wait_for_line(Stream::err, summary, timeout, from);
      if (!line) {
        return false;
      }
      from = line->index + 1;
    }
    return true;
  }

  // Every session document, parsed, oldest first by file name order of sessions.jsonl.
  [[nodiscard]] std::vector<boost::json::object> documents() const {
    std::vector<boost::json::object> out;
    std::ifstream index(audit_ / "sessions.jsonl");
    std::string line;
    while (std::getline(index, line)) {
      const auto summary = boost::json::parse(line).as_object();
      const std::string id(summary.at("id").as_string());
      for (const auto& day : std::filesystem::directory_iterator(audit_)) {
        const auto file = day.path() / (id + ".json");
        if (std::filesystem::exists(file)) {
          out.push_back(boost::json::parse(read_file(file)).as_object());
        }
      }
    }
    return out;
  }

  std::string stderr_text() { return process_->output(Stream::err); }

 private:
  TempDir dir_;
  std::filesystem::path audit_;
  std::unique_ptr<Process> process_;
  std::string host_;
  std::uint16_t port_ = 0;
};

// Follows a path like "upstream.tls.server_certificates" through nested objects.
inline const boost::json::value* json_at(const boost::json::object& root, const std::string& path) {
  const boost::json::value* v = nullptr;
  const boost::json::object* o = &root;
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto dot = path.find('.', start);
    const auto key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (o == nullptr || !o->contains(key)) {
      return nullptr;
    }
    v = &o->at(key);
    o = v->is_object() ? &v->as_object() : nullptr;
    if (dot == std::string::npos) {
      break;
    }
    start = dot + 1;
  }
  return v;
}

inline std::string json_string(const boost::json::object& root, const std::string& path) {
  const auto* v = json_at(root, path);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace hopscope::test
