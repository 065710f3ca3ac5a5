// AuditWriter::write_batch: group commit keeps write()'s guarantees (final names only for
// complete documents, no temp files left, one parseable summary line per session, failures
// counted per document while the rest of the batch goes through).

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "audit_test_files.hpp"
#include "proxy/audit_writer.hpp"
#include "proxy/session_id.hpp"
#include "sample_facts.hpp"

namespace hopscope {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr std::int64_t one_day_ms = 24LL * 60 * 60 * 1000;

using audit_test::config_for;
using audit_test::files_under;
using audit_test::read_file;
using audit_test::read_lines;
using audit_test::TempDir;

std::size_t temp_files(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& file : files_under(dir)) {
    n += file.filename().string().find(".tmp") != std::string::npos ? 1U : 0U;
  }
  return n;
}

// Owns the facts the borrowed AuditItems point at.
struct Batch {
  std::vector<SessionFacts> facts;
  std::vector<FindingView> findings = test::sample_findings();
  std::string verdict = "self-signed certificate on the upstream hop";

  [[nodiscard]] std::vector<AuditItem> items() const {
    std::vector<AuditItem> out;
    out.reserve(facts.size());
    for (const auto& f : facts) {
      out.push_back(AuditItem{&f, &findings, &verdict});
    }
    return out;
  }
};

Batch batch_of(std::size_t n, SessionIdGenerator& ids) {
  Batch batch;
  for (std::size_t i = 0; i < n; ++i) {
    auto facts = test::sample_facts();
    facts.id = ids.next(facts.started_unix_ms);
    batch.facts.push_back(std::move(facts));
  }
  return batch;
}

// Every line parses, and its id names a document that parses and carries the same id.
std::set<std::string> check_index(const fs::path& root, std::size_t expected_lines) {
  const auto lines = read_lines(root / "sessions.jsonl");
  EXPECT_EQ(lines.size(), expected_lines);
  std::set<std::string> ids;
  for (const auto& line : lines) {
    boost::system::error_code ec;
    const auto doc = json::parse(line, ec);
    EXPECT_FALSE(ec) << line;
    if (!ec) {
      ids.insert(std::string(doc.at_pointer("/id").as_string()));
    }
  }
  return ids;
}

// Each case runs with O_TMPFILE documents (true) and with named temp files (false), the
// path taken on file systems without O_TMPFILE.
class AuditWriterBothWays : public ::testing::TestWithParam<bool> {
 protected:
  [[nodiscard]] std::unique_ptr<AuditWriter> make_writer(const fs::path& root) const {
    auto writer = std::make_unique<AuditWriter>(config_for(root));
    if (!GetParam()) {
      writer->use_named_temp_files();
    }
    return writer;
  }
};

INSTANTIATE_TEST_SUITE_P(Files, AuditWriterBothWays, ::testing::Bool(), [](const auto& case_info) {
  return case_info.param ? "anonymous" : "named";
});

TEST_P(AuditWriterBothWays, BatchOfHundredLeavesHundredDocumentsAndHundredLines) {
  const TempDir tmp;
  const auto root = tmp.path() / "audit";  // created on demand
  const auto owned = make_writer(root);
  auto& writer = *owned;
  SessionIdGenerator ids;
  const auto batch = batch_of(100, ids);
  const auto items = batch.items();

  EXPECT_EQ(writer.write_batch(items), 100U);
  EXPECT_EQ(writer.documents_written(), 100U);
  EXPECT_EQ(writer.documents_lost(), 0U);
  EXPECT_EQ(writer.summary_lines_lost(), 0U);

  EXPECT_EQ(temp_files(tmp.path()), 0U);
  EXPECT_EQ(files_under(tmp.path()).size(), 101U);  // 100 documents and sessions.jsonl
  const auto listed = check_index(root, 100);
  EXPECT_EQ(listed.size(), 100U);
  for (const auto& facts : batch.facts) {
    EXPECT_EQ(listed.count(facts.id), 1U) << facts.id;
    const auto document = root / "2026-11-22" / (facts.id + ".json");
    ASSERT_TRUE(fs::exists(document)) << document;
    const auto doc = json::parse(read_file(document));
    EXPECT_EQ(doc.at_pointer("/id").as_string(), facts.id);
    EXPECT_EQ(doc.at_pointer("/findings/0/id").as_string(), "CERT_SELF_SIGNED");
  }
}

TEST(AuditWriterBatch, BlockedDateFolderLosesOnlyItsDocuments) {
  const TempDir tmp;
  // The next day's folder name is taken by a regular file: mkdir fails with EEXIST and
  // open(O_DIRECTORY) with ENOTDIR, even for root.
  std::ofstream(tmp.path() / "2026-11-23") << "not a folder";
  AuditWriter writer(config_for(tmp.path()));
  SessionIdGenerator ids;
  auto batch = batch_of(10, ids);
  for (const std::size_t i : {2U, 5U, 9U}) {
    batch.facts[i].started_unix_ms += one_day_ms;
  }
  const auto items = batch.items();

  EXPECT_EQ(writer.write_batch(items), 7U);
  EXPECT_EQ(writer.documents_written(), 7U);
  EXPECT_EQ(writer.documents_lost(), 3U);
  EXPECT_EQ(temp_files(tmp.path()), 0U);
  for (std::size_t i = 0; i < batch.facts.size(); ++i) {
    const bool blocked = i == 2 || i == 5 || i == 9;
    EXPECT_EQ(fs::exists(tmp.path() / "2026-11-22" / (batch.facts[i].id + ".json")), !blocked) << i;
  }
  // The index still lists every session, the lost ones included.
  EXPECT_EQ(check_index(tmp.path(), 10).size(), 10U);
  EXPECT_EQ(writer.summary_lines_lost(), 0U);
  EXPECT_EQ(read_file(tmp.path() / "2026-11-23"), "not a folder");
}

TEST_P(AuditWriterBothWays, FailedRenameLosesThatDocumentAndRemovesItsTempFile) {
  const TempDir tmp;
  SessionIdGenerator ids;
  const auto batch = batch_of(5, ids);
  // A non-empty folder sits under item 3's final name: rename(2) fails for it alone.
  const auto blocker = tmp.path() / "2026-11-22" / (batch.facts[3].id + ".json");
  fs::create_directories(blocker);
  std::ofstream(blocker / "keep") << "x";
  const auto owned = make_writer(tmp.path());
  auto& writer = *owned;
  const auto items = batch.items();

  EXPECT_EQ(writer.write_batch(items), 4U);
  EXPECT_EQ(writer.documents_lost(), 1U);
  EXPECT_EQ(temp_files(tmp.path()), 0U);
  EXPECT_TRUE(fs::is_directory(blocker));
  EXPECT_EQ(files_under(tmp.path()).size(), 6U);  // 4 documents, keep, sessions.jsonl
  EXPECT_EQ(check_index(tmp.path(), 5).size(), 5U);
}

TEST_P(AuditWriterBothWays, BatchLongerThanOneBarrierWritesEverything) {
  const TempDir tmp;
  const auto owned = make_writer(tmp.path());
  auto& writer = *owned;
  SessionIdGenerator ids;
  const std::size_t n = 2 * AuditWriter::max_open_per_barrier + 1;
  auto batch = batch_of(n, ids);
  batch.facts[n - 1].started_unix_ms += one_day_ms;  // a second folder in the last barrier
  const auto items = batch.items();

  EXPECT_EQ(writer.write_batch(items), n);
  EXPECT_EQ(writer.documents_lost(), 0U);
  EXPECT_EQ(temp_files(tmp.path()), 0U);
  EXPECT_EQ(files_under(tmp.path()).size(), n + 1);
  EXPECT_TRUE(fs::exists(tmp.path() / "2026-11-23" / (batch.facts[n - 1].id + ".json")));
  EXPECT_EQ(check_index(tmp.path(), n).size(), n);
}

// One session written twice, first with verdict "first", then "second".
struct SameSessionTwice {
  SessionFacts facts = test::sample_facts();
  std::vector<FindingView> none;
  std::string first = "first";
  std::string second = "second";
};

TEST_P(AuditWriterBothWays, SameIdTwiceInOneBatchKeepsTheLaterDocument) {
  const TempDir tmp;
  const auto owned = make_writer(tmp.path());
  auto& writer = *owned;
  const SameSessionTwice twice;
  const auto& [facts, none, first, second] = twice;
  const std::vector<AuditItem> items{{&facts, &none, &first}, {&facts, &none, &second}};

  EXPECT_EQ(writer.write_batch(items), 2U);
  EXPECT_EQ(writer.documents_lost(), 0U);
  EXPECT_EQ(temp_files(tmp.path()), 0U);
  const auto doc = json::parse(read_file(tmp.path() / "2026-11-22" / (facts.id + ".json")));
  EXPECT_EQ(doc.at_pointer("/verdict").as_string(), "second");
  EXPECT_EQ(read_lines(tmp.path() / "sessions.jsonl").size(), 2U);
}

TEST_P(AuditWriterBothWays, StaleTempFileOfACrashedRunIsReplaced) {
  const TempDir tmp;
  const auto owned = make_writer(tmp.path());
  auto& writer = *owned;
  const SameSessionTwice twice;
  const auto& [facts, none, first, second] = twice;
  const auto folder = tmp.path() / "2026-11-22";
  fs::create_directories(folder);
  std::ofstream(folder / ("." + facts.id + ".json.tmp")) << "{\"half\": ";

  EXPECT_TRUE(writer.write(facts, none, first));
  EXPECT_TRUE(writer.write(facts, none, second));  // the final name exists: replaced
  EXPECT_EQ(writer.documents_lost(), 0U);
  EXPECT_EQ(temp_files(tmp.path()), 0U);
  const auto doc = json::parse(read_file(folder / (facts.id + ".json")));
  EXPECT_EQ(doc.at_pointer("/verdict").as_string(), "second");
}

TEST(AuditWriterBatch, ItemWithoutFactsIsLostAndTheOthersAreWritten) {
  const TempDir tmp;
  AuditWriter writer(config_for(tmp.path()));
  SessionIdGenerator ids;
  const auto batch = batch_of(3, ids);
  auto items = batch.items();
  items.insert(items.begin() + 1, AuditItem{});  // null facts, findings and verdict
  items[2].findings = nullptr;                   // read as no findings
  items[2].verdict = nullptr;

  EXPECT_EQ(writer.write_batch(items), 3U);
  EXPECT_EQ(writer.documents_lost(), 1U);
  EXPECT_EQ(check_index(tmp.path(), 3).size(), 3U);
  const auto doc =
      json::parse(read_file(tmp.path() / "2026-11-22" / (batch.facts[1].id + ".json")));
  EXPECT_TRUE(doc.at_pointer("/findings").as_array().empty());
}

TEST(AuditWriterBatch, EmptyBatchTouchesNothing) {
  const TempDir tmp;
  AuditWriter writer(config_for(tmp.path() / "audit"));
  EXPECT_EQ(writer.write_batch({}), 0U);
  EXPECT_EQ(writer.documents_written(), 0U);
  EXPECT_EQ(writer.documents_lost(), 0U);
  EXPECT_FALSE(fs::exists(tmp.path() / "audit"));
}

TEST(AuditWriterBatch, UnwritableDirectoryLosesTheWholeBatchWithoutThrowing) {
  const TempDir tmp;
  std::ofstream(tmp.path() / "file") << "not a folder";
  AuditWriter writer(config_for(tmp.path() / "file" / "sub"));
  SessionIdGenerator ids;
  const auto batch = batch_of(4, ids);
  const auto items = batch.items();
  std::size_t written = 99;
  EXPECT_NO_THROW(written = writer.write_batch(items));
  EXPECT_EQ(written, 0U);
  EXPECT_EQ(writer.documents_lost(), 4U);
  EXPECT_EQ(writer.summary_lines_lost(), 4U);
  EXPECT_EQ(files_under(tmp.path()).size(), 1U);  // only the blocking file
}

TEST(AuditWriterBatch, ConcurrentBatchesNeverInterleaveSummaryLines) {
  const TempDir tmp;
  AuditWriter writer(config_for(tmp.path()));
  SessionIdGenerator ids;
  constexpr std::size_t threads = 4;
  constexpr std::size_t batches = 5;
  constexpr std::size_t per_batch = 20;
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (std::size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&writer, &ids] {
      for (std::size_t b = 0; b < batches; ++b) {
        const auto batch = batch_of(per_batch, ids);
        const auto items = batch.items();
        writer.write_batch(items);
      }
    });
  }
  for (auto& w : workers) {
    w.join();
  }
  constexpr std::size_t total = threads * batches * per_batch;
  EXPECT_EQ(writer.documents_written(), total);
  EXPECT_EQ(writer.documents_lost(), 0U);
  EXPECT_EQ(temp_files(tmp.path()), 0U);
  const auto listed = check_index(tmp.path(), total);
  ASSERT_EQ(listed.size(), total);
  for (const auto& id : listed) {
    EXPECT_TRUE(fs::exists(tmp.path() / "2026-11-22" / (id + ".json"))) << id;
  }
}

}  // namespace
}  // namespace hopscope
