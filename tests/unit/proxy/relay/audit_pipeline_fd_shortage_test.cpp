// AuditPipeline out of file descriptors: sessions that end while the process has none left
// wait in the pipeline (not lost) and are written, in order, once descriptors free up; stderr
// says they wait and says when writing resumes; at shutdown they are retried for a bounded
// time, then counted as lost and said. Each test exhausts descriptors in a forked child.

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../audit/audit_test_files.hpp"
#include "../audit/fd_shortage_child.hpp"
#include "../audit/sample_facts.hpp"
#include "config/config.hpp"
#include "proxy/audit_pipeline.hpp"
#include "proxy/session_id.hpp"
#include <fcntl.h>
#include <unistd.h>

namespace hopscope {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using audit_test::read_lines;
using audit_test::TempDir;
using fd_test::DescriptorLimit;
using fd_test::documents_refused_index_open;
using fd_test::drop_root;
using fd_test::in_child;

std::shared_ptr<const config::Config> config_for(const fs::path& dir) {
  auto cfg = std::make_shared<config::Config>();
  cfg->audit.directory = dir.string();
  return cfg;
}

// The child's log lines: stdout and stderr (where spdlog's default logger writes) go to a file
// that keeps their descriptor numbers, so the descriptor limit sees no new one. The library's
// logger is its own (compiled spdlog), so a sink set up here would not see its lines.
class CapturedLog {
 public:
  explicit CapturedLog(const fs::path& dir) : path_(dir / "log.txt") {
    std::fflush(nullptr);
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::close(fd);
  }
  [[nodiscard]] std::string text() const {
    std::fflush(nullptr);
    return audit_test::read_file(path_);
  }

 private:
  fs::path path_;
};

// Polls `done` every 10 ms until it holds or `limit` passes.
template <typename Done>
bool wait_for(Done done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(10ms);  // polling a state, bounded by the deadline
  }
  return true;
}

TEST(AuditPipelineFdShortage, SessionsThatEndWithoutDescriptorsAreWrittenWhenTheyFreeUp) {
  HOPSCOPE_SKIP_WHEN_SANITIZED();
  const auto failures = in_child([] {
    std::string f;
    const TempDir tmp;
    const CapturedLog log(tmp.path());
    AuditPipeline pipeline(config_for(tmp.path()));
    SessionIdGenerator ids;
    std::vector<std::string> submitted;
    DescriptorLimit limit(3);  // nothing can be opened; the writer's reserve lies above
    if (!limit.ok()) {
      return std::string("setrlimit failed");
    }
    for (int i = 0; i < 10; ++i) {
      FinishedSession session;
      session.facts = test::sample_facts();
      session.facts.id = ids.next(session.facts.started_unix_ms);
      submitted.push_back(session.facts.id);
      pipeline.submit(std::move(session));
    }
    if (!wait_for([&] { return pipeline.waiting() == submitted.size(); }, 20s)) {
      f += "only " + std::to_string(pipeline.waiting()) + " documents wait; ";
    }
    const auto day = tmp.path() / "2026-11-22";
    for (const auto& id : submitted) {
      if (fs::exists(day / (id + ".json"))) {  // stat(2): needs no descriptor
        f += id + " written without a descriptor; ";
      }
    }
    if (pipeline.lost() != 0) {
      f += "lost while waiting: " + std::to_string(pipeline.lost()) + "; ";
    }

    limit.restore();  // the sessions ended: descriptors are back
    const auto all_written = [&] {
      for (const auto& id : submitted) {
        if (!fs::exists(day / (id + ".json"))) {
          return false;
        }
      }
      return true;
    };
    if (!wait_for(all_written, 20s)) {
      f += "not every document written after descriptors came back; ";
    }
    pipeline.finish();
    if (pipeline.lost() != 0 || pipeline.waiting() != 0) {
      f += "lost " + std::to_string(pipeline.lost()) + "; ";
    }
    // Listed once each, in the order the sessions ended.
    std::vector<std::string> listed;
    for (const auto& line : read_lines(tmp.path() / "sessions.jsonl")) {
      // Each line opens with {"id":"<id>", (audit_json.cpp summary_json_line).
      static const std::regex id_field(R"re(^\{"id":"([^"]+)")re");
      std::smatch m;
      listed.push_back(std::regex_search(line, m, id_field) ? m[1].str() : line);
    }
    if (listed != submitted) {
      f += "sessions.jsonl does not list the sessions once each in order; ";
    }
    const auto text = log.text();
    static const std::regex waits(
        R"(audit: out of file descriptors \(Too many open files\); \d+ session documents? waits? and will be written when descriptors free up)");
    static const std::regex resumed(
        R"(audit: descriptors free again: writing resumed after \d+\.\d s; 10 session documents that waited are written)");
    if (!std::regex_search(text, waits) || !std::regex_search(text, resumed)) {
      f += "log: " + text;
    }
    if (text.find("lost") != std::string::npos) {
      f += "a loss said: " + text;
    }
    return f;
  });
  EXPECT_EQ(failures, "");
}

TEST(AuditPipelineFdShortage, ShutdownRetriesForABoundedTimeThenCountsWaitingDocumentsLost) {
  HOPSCOPE_SKIP_WHEN_SANITIZED();
  const auto failures = in_child([] {
    std::string f;
    const TempDir tmp;
    const CapturedLog log(tmp.path());
    AuditPipeline pipeline(config_for(tmp.path()));
    SessionIdGenerator ids;
    DescriptorLimit limit(3);  // not raised again before finish()
    for (int i = 0; i < 3; ++i) {
      FinishedSession session;
      session.facts = test::sample_facts();
      session.facts.id = ids.next(session.facts.started_unix_ms);
      pipeline.submit(std::move(session));
    }
    if (!wait_for([&] { return pipeline.waiting() == 3; }, 20s)) {
      f += "only " + std::to_string(pipeline.waiting()) + " documents wait; ";
    }
    const auto start = std::chrono::steady_clock::now();
    pipeline.finish();
    const auto took = std::chrono::steady_clock::now() - start;
    if (took > AuditPipeline::shutdown_retry_limit + 5s) {
      f += "finish() took " +
           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()) +
           " ms; ";
    }
    limit.restore();  // to read the log
    if (pipeline.lost() != 3 || pipeline.waiting() != 0) {
      f += "lost " + std::to_string(pipeline.lost()) + ", waiting " +
           std::to_string(pipeline.waiting()) + "; ";
    }
    const auto text = log.text();
    if (text.find("3 session documents (3 waited, 0 never tried) could not be written and are "
                  "lost") == std::string::npos) {
      f += "log: " + text;
    }
    return f;
  });
  EXPECT_EQ(failures, "");
}

// The ids listed in sessions.jsonl, in order (needs a descriptor).
std::vector<std::string> listed_ids(const fs::path& root) {
  std::vector<std::string> listed;
  for (const auto& line : read_lines(root / "sessions.jsonl")) {
    // Each line opens with {"id":"<id>", (audit_json.cpp summary_json_line).
    static const std::regex id_field(R"re(^\{"id":"([^"]+)")re");
    std::smatch m;
    listed.push_back(std::regex_search(line, m, id_field) ? m[1].str() : line);
  }
  return listed;
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

// Lines that sessions.jsonl could not take for want of a descriptor are said and retried on
// the retry schedule: they reach the index with no new session to carry them.
TEST(AuditPipelineFdShortage, HeldSessionsJsonlLinesAreAppendedByARetryWithoutANewSession) {
  HOPSCOPE_SKIP_WHEN_SANITIZED();
  const auto failures = in_child([] {
    if (auto why = drop_root(); !why.empty()) {
      return why;
    }
    std::string f;
    const TempDir tmp;
    const CapturedLog log(tmp.path());
    // The documents are lost to a refused folder; their lines need a descriptor.
    if (auto why = documents_refused_index_open(tmp.path().string()); !why.empty()) {
      return why;
    }
    AuditPipeline pipeline(config_for(tmp.path()));
    SessionIdGenerator ids;
    std::vector<std::string> submitted;
    DescriptorLimit limit(3);  // nothing can be opened; the writer's reserve lies above
    if (!limit.ok()) {
      return std::string("setrlimit failed");
    }
    for (int i = 0; i < 2; ++i) {
      FinishedSession session;
      session.facts = test::sample_facts();
      session.facts.id = ids.next(session.facts.started_unix_ms);
      submitted.push_back(session.facts.id);
      pipeline.submit(std::move(session));
    }
    if (!wait_for([&] { return pipeline.summary_lines_waiting() == 2; }, 20s)) {
      f += std::to_string(pipeline.summary_lines_waiting()) + " lines wait, not 2; ";
    }
    limit.restore();  // descriptors are back; no session ends after this
    if (!wait_for([&] { return listed_ids(tmp.path()) == submitted; }, 20s)) {
      f += "the held lines were not appended without a new session; ";
    }
    pipeline.finish();
    const auto text = log.text();
    static const std::regex lines_wait(
        R"(audit: [12] sessions\.jsonl lines? waits? for a file descriptor \(next try in \d+ ms\))");
    if (!std::regex_search(text, lines_wait) ||
        text.find("the sessions.jsonl lines that waited are appended") == std::string::npos) {
      f += "log: " + text;
    }
    return f;
  });
  EXPECT_EQ(failures, "");
}

// Still short at shutdown: the queue is given up with the waiting documents, said once with
// the total, and every session still gets its sessions.jsonl line from the final flush
// (here one descriptor is free: too few for a document, enough for the index).
TEST(AuditPipelineFdShortage, GivenUpDocumentsStillGetTheirSessionsJsonlLineAndOneLossLine) {
  HOPSCOPE_SKIP_WHEN_SANITIZED();
  const auto failures = in_child([] {
    std::string f;
    const TempDir tmp;
    const CapturedLog log(tmp.path());
    AuditPipeline pipeline(config_for(tmp.path()));
    SessionIdGenerator ids;
    std::vector<std::string> submitted;
    ::close(0);                // below the limit, only number 0 is free
    DescriptorLimit limit(3);  // the writer's reserve lies above it
    if (!limit.ok()) {
      return std::string("setrlimit failed");
    }
    constexpr std::size_t sessions = 100;  // more than one batch (64)
    for (std::size_t i = 0; i < sessions; ++i) {
      FinishedSession session;
      session.facts = test::sample_facts();
      session.facts.id = ids.next(session.facts.started_unix_ms);
      submitted.push_back(session.facts.id);
      pipeline.submit(std::move(session));
    }
    if (!wait_for([&] { return pipeline.waiting() > 0; }, 20s)) {
      f += "no document waits; ";
    }
    pipeline.finish();
    limit.restore();
    if (pipeline.lost() != sessions || pipeline.waiting() != 0) {
      f += "lost " + std::to_string(pipeline.lost()) + ", waiting " +
           std::to_string(pipeline.waiting()) + "; ";
    }
    if (listed_ids(tmp.path()) != submitted) {
      f += "sessions.jsonl lists " + std::to_string(listed_ids(tmp.path()).size()) +
           " lines, not the " + std::to_string(sessions) + " sessions in order; ";
    }
    const auto text = log.text();
    if (occurrences(text, "could not be written") != 1 ||
        text.find("100 session documents (") == std::string::npos) {
      f += "log: " + text;
    }
    return f;
  });
  EXPECT_EQ(failures, "");
}

}  // namespace
}  // namespace hopscope
