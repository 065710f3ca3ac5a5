// AuditWriter out of file descriptors: a shortage (EMFILE) is transient, so documents that
// meet it are handed back as deferred rather than lost, and written once descriptors free up;
// the writer's reserve of two descriptors writes one document at a time while the table is
// otherwise full. Each test exhausts descriptors in a forked child (fd_shortage_child.hpp).

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "audit_test_files.hpp"
#include "fd_shortage_child.hpp"
#include "proxy/audit_json.hpp"
#include "proxy/audit_writer.hpp"
#include "proxy/session_id.hpp"
#include "sample_facts.hpp"

namespace hopscope {
namespace {

namespace fs = std::filesystem;
using audit_test::config_for;
using audit_test::read_lines;
using audit_test::TempDir;
using fd_test::DescriptorLimit;
using fd_test::documents_refused_index_open;
using fd_test::drop_root;
using fd_test::FullTable;
using fd_test::in_child;

// Runs `body` in a child that is not root, in a fresh audit folder whose documents are refused
// (EACCES at their date folder, no descriptor needed) while sessions.jsonl can be opened: the
// set-up of the tests on held sessions.jsonl lines. Returns what in_child() returns.
std::string in_child_with_refused_folder(const std::function<std::string(const TempDir&)>& body) {
  return in_child([&body] {
    if (auto why = drop_root(); !why.empty()) {
      return why;
    }
    const TempDir tmp;
    if (auto why = documents_refused_index_open(tmp.path().string()); !why.empty()) {
      return why;
    }
    return body(tmp);
  });
}

// Owns the facts the borrowed AuditItems point at.
struct Documents {
  std::vector<SessionFacts> facts;
  std::vector<FindingView> findings = test::sample_findings();
  std::string verdict = "self-signed certificate on the upstream hop";

  explicit Documents(std::size_t n) {
    SessionIdGenerator ids;
    for (std::size_t i = 0; i < n; ++i) {
      auto f = test::sample_facts();
      f.id = ids.next(f.started_unix_ms);
      facts.push_back(std::move(f));
    }
  }
  [[nodiscard]] std::vector<AuditItem> items() const {
    std::vector<AuditItem> out;
    for (const auto& f : facts) {
      out.push_back(AuditItem{&f, &findings, &verdict});
    }
    return out;
  }
};

std::size_t count(const std::vector<AuditOutcome>& outcomes, AuditOutcome which) {
  std::size_t n = 0;
  for (const auto o : outcomes) {
    n += o == which ? 1U : 0U;
  }
  return n;
}

// "" when every document is on disk under its final name and sessions.jsonl lists each once.
std::string check_on_disk(const fs::path& root, const Documents& docs) {
  std::string failures;
  for (const auto& f : docs.facts) {
    if (!fs::exists(root / "2026-11-22" / (f.id + ".json"))) {
      failures += "missing document " + f.id + "; ";
    }
  }
  std::multiset<std::string> listed;
  for (const auto& line : read_lines(root / "sessions.jsonl")) {
    listed.insert(std::string(boost::json::parse(line).at("id").as_string()));
  }
  for (const auto& f : docs.facts) {
    if (listed.count(f.id) != 1) {
      failures += f.id + " listed " + std::to_string(listed.count(f.id)) + " times; ";
    }
  }
  if (listed.size() != docs.facts.size()) {
    failures += std::to_string(listed.size()) + " lines in sessions.jsonl; ";
  }
  return failures;
}

TEST(AuditWriterFdShortage, DocumentsWaitWhileNoDescriptorIsFreeAndAreWrittenOnceOneIs) {
  HOPSCOPE_SKIP_WHEN_SANITIZED();
  const auto failures = in_child([] {
    std::string f;
    const TempDir tmp;
    AuditWriter writer(config_for(tmp.path()));
    const Documents docs(5);
    const auto items = docs.items();
    std::vector<AuditOutcome> outcomes(items.size(), AuditOutcome::written);
    int shortage = 0;
    {
      // No number below 3 is free, and the reserve's numbers lie above the limit: releasing
      // it frees nothing usable, as when the I/O threads take every descriptor freed.
      DescriptorLimit limit(3);
      if (!limit.ok()) {
        return std::string("setrlimit failed");
      }
      shortage = writer.write_batch(items, outcomes);
    }
    if (shortage != EMFILE) {
      f += "shortage " + std::to_string(shortage) + "; ";
    }
    if (count(outcomes, AuditOutcome::deferred) != items.size()) {
      f += "not every document deferred; ";
    }
    if (writer.documents_lost() != 0 || writer.summary_lines_lost() != 0) {
      f += "counted lost; ";
    }
    if (fs::exists(tmp.path() / "sessions.jsonl") &&
        !read_lines(tmp.path() / "sessions.jsonl").empty()) {
      f += "a deferred document's line was appended; ";
    }
    if (writer.reserve_held() != 0) {  // could not be taken back under the limit
      f += "reserve held under the limit; ";
    }

    // Descriptors are back: the same documents, offered again, are written.
    shortage = writer.write_batch(items, outcomes);
    if (shortage != 0 || count(outcomes, AuditOutcome::written) != items.size()) {
      f += "second try did not write every document; ";
    }
    if (writer.documents_written() != items.size() || writer.documents_lost() != 0) {
      f += "written " + std::to_string(writer.documents_written()) + ", lost " +
           std::to_string(writer.documents_lost()) + "; ";
    }
    if (writer.reserve_held() != AuditWriter::reserve_descriptors) {
      f += "reserve not taken back; ";
    }
    return f + check_on_disk(tmp.path(), docs);
  });
  EXPECT_EQ(failures, "");
}

TEST(AuditWriterFdShortage, ReserveWritesEveryDocumentWhileTheTableIsFull) {
  HOPSCOPE_SKIP_WHEN_SANITIZED();
  for (const bool anonymous : {true, false}) {
    const auto failures = in_child([anonymous] {
      std::string f;
      const TempDir tmp;
      AuditWriter writer(config_for(tmp.path()));
      if (!anonymous) {
        writer.use_named_temp_files();
      }
      const Documents docs(20);
      const auto items = docs.items();
      std::vector<AuditOutcome> outcomes(items.size(), AuditOutcome::lost);
      int shortage = 0;
      {
        // Every number below the limit taken: only the reserve's two descriptors are left.
        const DescriptorLimit limit(
            static_cast<rlim_t>(fd_test::highest_open_descriptor() + 1 + 16));
        const FullTable table;
        if (table.held() < 16) {
          return std::string("could not fill the table");
        }
        shortage = writer.write_batch(items, outcomes);
        // Its own descriptors closed again, the writer took its reserve back.
        if (writer.reserve_held() != AuditWriter::reserve_descriptors) {
          f += "reserve not taken back; ";
        }
      }
      if (shortage != 0 || count(outcomes, AuditOutcome::written) != items.size()) {
        f += "not every document written one at a time through the reserve; ";
      }
      if (writer.documents_lost() != 0 || writer.summary_lines_lost() != 0) {
        f += "counted lost; ";
      }
      return f + check_on_disk(tmp.path(), docs);
    });
    EXPECT_EQ(failures, "") << (anonymous ? "O_TMPFILE" : "named temp files");
  }
}

// What one document needs at once: its folder and its file (linkat through /proc/self/fd,
// the folder's fsync and its parents' need none more at the same time; sessions.jsonl one,
// after the others are closed). One free descriptor is not enough, two are.
TEST(AuditWriterFdShortage, OneDocumentNeedsTwoDescriptors) {
  HOPSCOPE_SKIP_WHEN_SANITIZED();
  const auto failures = in_child([] {
    std::string f;
    const TempDir tmp;
    const Documents docs(1);
    const auto items = docs.items();
    std::vector<AuditOutcome> outcomes(1, AuditOutcome::lost);
    std::unique_ptr<AuditWriter> writer;
    {
      const DescriptorLimit limit(static_cast<rlim_t>(fd_test::highest_open_descriptor() + 1 + 8));
      FullTable table;
      // Made while the table is full: no reserve.
      writer = std::make_unique<AuditWriter>(config_for(tmp.path()));
      if (writer->reserve_held() != 0) {
        return std::string("a reserve in a full table");
      }
      table.free_one();
      if (writer->write_batch(items, outcomes) != EMFILE || outcomes[0] != AuditOutcome::deferred) {
        f += "one descriptor was enough; ";
      }
      table.free_one();
      if (writer->write_batch(items, outcomes) != 0 || outcomes[0] != AuditOutcome::written) {
        f += "two descriptors were not enough; ";
      }
    }
    if (writer->documents_lost() != 0) {
      f += "counted lost; ";
    }
    return f + check_on_disk(tmp.path(), docs);
  });
  EXPECT_EQ(failures, "");
}

TEST(AuditWriterFdShortage, CallerThatCannotRetryCountsTheDocumentsLost) {
  HOPSCOPE_SKIP_WHEN_SANITIZED();
  const auto failures = in_child([] {
    std::string f;
    const TempDir tmp;
    AuditWriter writer(config_for(tmp.path()));
    const Documents docs(3);
    const auto items = docs.items();
    std::size_t written = 0;
    {
      const DescriptorLimit limit(3);
      written = writer.write_batch(items);
    }
    if (written != 0 || writer.documents_lost() != 3 || writer.summary_lines_lost() != 3) {
      f += "written " + std::to_string(written) + ", lost " +
           std::to_string(writer.documents_lost()) + "; ";
    }
    return f;
  });
  EXPECT_EQ(failures, "");
}

// The ids listed in sessions.jsonl, in order.
std::vector<std::string> listed_ids(const fs::path& root) {
  std::vector<std::string> ids;
  for (const auto& line : read_lines(root / "sessions.jsonl")) {
    ids.emplace_back(boost::json::parse(line).at("id").as_string());
  }
  return ids;
}

std::vector<std::string> ids_of(const Documents& docs, std::size_t first, std::size_t n) {
  std::vector<std::string> ids;
  for (std::size_t i = first; i < first + n; ++i) {
    ids.push_back(docs.facts[i].id);
  }
  return ids;
}

// The documents are lost (their folder refused) but their lines must reach the index: the
// sessions.jsonl open gets the reserve's descriptors when the table is otherwise full.
TEST(AuditWriterFdShortage, SessionsJsonlOpenGetsTheReserveWhenTheTableIsFull) {
  HOPSCOPE_SKIP_WHEN_SANITIZED();
  const auto failures = in_child_with_refused_folder([](const TempDir& tmp) {
    std::string f;
    AuditWriter writer(config_for(tmp.path()));
    const Documents docs(3);
    const auto items = docs.items();
    std::vector<AuditOutcome> outcomes(items.size(), AuditOutcome::written);
    {
      const DescriptorLimit limit(static_cast<rlim_t>(fd_test::highest_open_descriptor() + 1 + 8));
      const FullTable table;  // only the reserve's two numbers are left below the limit
      if (table.held() < 8) {
        return std::string("could not fill the table");
      }
      writer.write_batch(items, outcomes);
      if (writer.reserve_held() != AuditWriter::reserve_descriptors) {
        f += "reserve not taken back; ";
      }
    }
    if (count(outcomes, AuditOutcome::lost) != items.size()) {
      f += "documents not lost to the refused folder; ";
    }
    if (listed_ids(tmp.path()) != ids_of(docs, 0, 3)) {
      f += "sessions.jsonl lists " + std::to_string(listed_ids(tmp.path()).size()) +
           " lines, not the 3 sessions in order; ";
    }
    if (writer.summary_lines_lost() != 0) {
      f += "lines counted lost; ";
    }
    return f;
  });
  EXPECT_EQ(failures, "");
}

// Lines held back for a shortage go out on a retry that brings no new document: an idle relay
// writes no batch to carry them.
TEST(AuditWriterFdShortage, HeldLinesGoOutOnARetryWithNoNewDocument) {
  HOPSCOPE_SKIP_WHEN_SANITIZED();
  const auto failures = in_child_with_refused_folder([](const TempDir& tmp) {
    std::string f;
    AuditWriter writer(config_for(tmp.path()));
    const Documents docs(3);
    const auto items = docs.items();
    std::vector<AuditOutcome> outcomes(items.size(), AuditOutcome::written);
    {
      DescriptorLimit limit(3);  // nothing can be opened; the reserve lies above
      if (!limit.ok()) {
        return std::string("setrlimit failed");
      }
      writer.write_batch(items, outcomes);
      if (writer.summary_lines_held() != 3 || writer.retry_summary_lines() != 3) {
        f += "lines not held while no descriptor is free; ";
      }
    }
    if (!listed_ids(tmp.path()).empty()) {
      f += "lines appended without a descriptor; ";
    }
    if (writer.retry_summary_lines() != 0 || writer.summary_lines_held() != 0) {
      f += "lines still held after the retry; ";
    }
    if (listed_ids(tmp.path()) != ids_of(docs, 0, 3)) {
      f += "the retry did not append the 3 lines in order; ";
    }
    if (writer.summary_lines_lost() != 0) {
      f += "lines counted lost; ";
    }
    return f;
  });
  EXPECT_EQ(failures, "");
}

// Past the bound on held lines, the oldest are kept up to it and only the excess is lost.
TEST(AuditWriterFdShortage, HeldLinesPastTheBoundKeepTheOldestAndLoseOnlyTheExcess) {
  HOPSCOPE_SKIP_WHEN_SANITIZED();
  const auto failures = in_child_with_refused_folder([](const TempDir& tmp) {
    std::string f;
    const auto cfg = config_for(tmp.path());
    AuditWriter writer(cfg);
    const Documents docs(5);
    const auto items = docs.items();
    // Every line has the same length (the ids do): room for 3 lines and a half.
    const AuditOptions options{cfg.record_envelope, cfg.transcript, default_line_cap};
    const auto line_bytes =
        summary_json_line(docs.facts[0], docs.findings, docs.verdict, options).size() + 1;
    writer.limit_unsent_line_bytes(3 * line_bytes + line_bytes / 2);
    std::vector<AuditOutcome> outcomes(2, AuditOutcome::written);
    {
      DescriptorLimit limit(3);
      if (!limit.ok()) {
        return std::string("setrlimit failed");
      }
      writer.write_batch(std::span(items).subspan(0, 2), outcomes);
      if (writer.summary_lines_held() != 2 || writer.summary_lines_lost() != 0) {
        f += "first 2 lines not held; ";
      }
      // 2 held + 3 new: 3 fit, the 2 newest are lost.
      outcomes.resize(3);
      writer.write_batch(std::span(items).subspan(2, 3), outcomes);
      if (writer.summary_lines_held() != 3 || writer.summary_lines_lost() != 2) {
        f += "held " + std::to_string(writer.summary_lines_held()) + ", lost " +
             std::to_string(writer.summary_lines_lost()) + " (want 3 and 2); ";
      }
    }
    writer.flush_summary_lines();
    if (listed_ids(tmp.path()) != ids_of(docs, 0, 3)) {
      f += "sessions.jsonl does not list the 3 oldest sessions in order; ";
    }
    if (writer.summary_lines_lost() != 2) {
      f += "lost " + std::to_string(writer.summary_lines_lost()) + " lines after the flush; ";
    }
    return f;
  });
  EXPECT_EQ(failures, "");
}

}  // namespace
}  // namespace hopscope
