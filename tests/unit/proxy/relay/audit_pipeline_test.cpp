// AuditPipeline: every submitted session becomes a document, whichever worker writes it;
// finish() drains the queue; the queue's memory estimate follows what a session holds.

#include "proxy/audit_pipeline.hpp"

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <system_error>
#include <thread>

#include <gtest/gtest.h>

#include "../audit/audit_test_files.hpp"
#include "../audit/sample_facts.hpp"
#include "config/config.hpp"
#include "proxy/session_id.hpp"

namespace hopscope {
namespace {

namespace fs = std::filesystem;
using audit_test::read_lines;
using audit_test::TempDir;

std::shared_ptr<const config::Config> config_for(const fs::path& dir) {
  auto cfg = std::make_shared<config::Config>();
  cfg->audit.directory = dir.string();
  return cfg;
}

FinishedSession session_with_id(SessionIdGenerator& ids) {
  FinishedSession session;
  session.facts = test::sample_facts();
  session.facts.id = ids.next(session.facts.started_unix_ms);
  return session;
}

std::size_t documents_under(const fs::path& dir) {
  std::size_t n = 0;
  std::error_code ec;  // the date folder may be half-made while we look
  for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
    n += entry.path().extension() == ".json" ? 1U : 0U;
  }
  return n;
}

TEST(AuditPipeline, FinishWritesEverySubmittedSession) {
  const TempDir tmp;
  SessionIdGenerator ids;
  std::set<std::string> submitted;
  {
    AuditPipeline pipeline(config_for(tmp.path()));
    for (int i = 0; i < 300; ++i) {  // more than a batch: both workers may take some
      auto session = session_with_id(ids);
      submitted.insert(session.facts.id);
      pipeline.submit(std::move(session));
    }
    pipeline.finish();
    EXPECT_EQ(pipeline.lost(), 0U);
  }
  EXPECT_EQ(documents_under(tmp.path()), submitted.size());
  const auto lines = read_lines(tmp.path() / "sessions.jsonl");
  EXPECT_EQ(lines.size(), submitted.size());
}

// The idle-priority worker may get no CPU at all on a saturated machine: the catch-up worker
// must still write the document once it has waited max_lag (2 s).
TEST(AuditPipeline, CatchUpWorkerWritesWhatTheIdleWorkerNeverTakes) {
  const TempDir tmp;
  SessionIdGenerator ids;
  AuditPipeline pipeline(config_for(tmp.path()), AuditPipeline::Workers::catch_up_only);
  auto session = session_with_id(ids);
  const auto id = session.facts.id;
  pipeline.submit(std::move(session));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (documents_under(tmp.path()) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling a file, bounded
  }
  EXPECT_EQ(documents_under(tmp.path()), 1U);
  EXPECT_TRUE(fs::exists(tmp.path() / "2026-11-22" / (id + ".json")));
  pipeline.finish();
  EXPECT_EQ(pipeline.lost(), 0U);
}

TEST(AuditPipeline, SubmitAfterFinishIsCountedAsLost) {
  const TempDir tmp;
  SessionIdGenerator ids;
  AuditPipeline pipeline(config_for(tmp.path()));
  pipeline.finish();
  pipeline.submit(session_with_id(ids));
  EXPECT_EQ(pipeline.lost(), 1U);
}

TEST(AuditPipeline, MemoryEstimateGrowsWithTranscriptAndCertificates) {
  SessionIdGenerator ids;
  auto session = session_with_id(ids);
  session.facts.transcript.clear();
  session.server_chain_der.clear();
  const auto base = approximate_bytes(session);
  session.facts.transcript.push_back(TranscriptEntry{0, "c>s", std::string(10000, 'x'), {}});
  const auto with_line = approximate_bytes(session);
  EXPECT_GE(with_line, base + 10000);
  session.server_chain_der.emplace_back(5000, '\x30');
  EXPECT_GE(approximate_bytes(session), with_line + 5000);
}

TEST(AuditPipeline, MemoryEstimateCountsHeloLinesAndMessageReplies) {
  SessionIdGenerator ids;
  auto session = session_with_id(ids);
  const auto base = approximate_bytes(session);
  session.facts.downstream.helo_commands.assign(10, std::string(1000, 'h'));
  const auto with_helo = approximate_bytes(session);
  EXPECT_GE(with_helo, base + 10000);
  MessageFacts message;
  message.reply = ReplyFacts{};
  message.reply->lines.assign(4, std::string(1000, 'r'));
  session.facts.messages.push_back(message);
  EXPECT_GE(approximate_bytes(session), with_helo + 4000);
}

}  // namespace
}  // namespace hopscope
