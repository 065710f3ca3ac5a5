// Postfix-style golden files (STYLE.md C.4): tests/data/policy/<case>.facts.json →
// <case>.findings.json. Each case's findings must match exactly as (id, severity, leg); an
// expected "evidence" (or "remedy") must be a substring of that finding's evidence (remedy);
// an expected "verdict" a substring of the verdict line.

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "facts_loader.hpp"
#include "policy/evaluate.hpp"
#include "policy/finding.hpp"
#include "policy/verdict.hpp"

namespace hopscope::policy {
namespace {

std::string data_dir() {
  return std::string(HOPSCOPE_TEST_DATA) + "/policy";
}

std::string case_file(const std::string& name, const char* suffix) {
  std::string path = data_dir();
  path += "/";
  path += name;
  path += suffix;
  return path;
}

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(data_dir())) {
    const auto file = entry.path().filename().string();
    const std::string suffix = ".facts.json";
    if (file.size() > suffix.size() && file.ends_with(suffix)) {
      names.push_back(file.substr(0, file.size() - suffix.size()));
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

struct Outcome {
  std::vector<Finding> findings;
  std::string verdict;
};

Outcome run(const test::GoldenCase& c) {
  Outcome o;
  if (c.has_session) {
    o.findings = evaluate(c.facts, c.hops, c.policy, c.now);
    o.verdict = verdict(c.facts, o.findings);
  } else {
    o.findings = evaluate_hops(c.hops, c.policy, c.now);
  }
  return o;
}

using Key = std::tuple<std::string, std::string, std::string>;

std::string describe(const std::vector<Finding>& findings) {
  std::string out;
  for (const auto& f : findings) {
    out += "  " + std::string(to_string(f.id)) + " " + std::string(to_string(f.severity)) + " " +
           f.leg + ": " + f.summary + "\n    evidence: " + f.evidence + "\n";
  }
  return out;
}

class Golden : public testing::TestWithParam<std::string> {};

TEST_P(Golden, FindingsMatchTheGoldenFile) {
  const auto name = GetParam();
  const auto c = test::load_case(case_file(name, ".facts.json"));
  const auto expected = test::JsonReader::parse(test::read_text(case_file(name, ".findings.json")));
  const auto outcome = run(c);

  std::set<Key> got;
  for (const auto& f : outcome.findings) {
    got.emplace(std::string(to_string(f.id)), std::string(to_string(f.severity)), f.leg);
  }
  std::set<Key> want;
  for (const auto& e : expected.get("findings")->as_array()) {
    want.emplace(e.get("id")->as_string(), e.get("severity")->as_string(),
                 e.get("leg")->as_string());
  }
  EXPECT_EQ(got, want) << "case " << name << " produced:\n"
                       << describe(outcome.findings) << "verdict: " << outcome.verdict;
  EXPECT_EQ(got.size(), outcome.findings.size()) << "one finding per (id, leg)";

  for (const auto& e : expected.get("findings")->as_array()) {
    const auto* evidence = e.get("evidence");
    const auto* remedy_part = e.get("remedy");
    if (evidence == nullptr && remedy_part == nullptr) {
      continue;
    }
    const auto id = finding_from_string(e.get("id")->as_string());
    ASSERT_TRUE(id.has_value()) << e.get("id")->as_string();
    const auto it = std::find_if(
        outcome.findings.begin(), outcome.findings.end(),
        [&](const Finding& f) { return f.id == *id && f.leg == e.get("leg")->as_string(); });
    ASSERT_NE(it, outcome.findings.end());
    if (evidence != nullptr) {
      EXPECT_NE(it->evidence.find(evidence->as_string()), std::string::npos)
          << "case " << name << " " << to_string(*id) << " evidence: " << it->evidence;
    }
    if (remedy_part != nullptr) {
      EXPECT_NE(it->remedy.find(remedy_part->as_string()), std::string::npos)
          << "case " << name << " " << to_string(*id) << " remedy: " << it->remedy;
    }
  }
  for (const auto& f : outcome.findings) {
    EXPECT_FALSE(f.summary.empty()) << to_string(f.id);
    EXPECT_FALSE(f.evidence.empty()) << to_string(f.id);
    EXPECT_FALSE(f.remedy.empty()) << to_string(f.id);
    EXPECT_EQ(f.summary.find('\n'), std::string::npos) << "summary is one line";
  }
  if (const auto* v = expected.get("verdict"); v != nullptr && !v->is_null()) {
    EXPECT_NE(outcome.verdict.find(v->as_string()), std::string::npos)
        << "case " << name << " verdict: " << outcome.verdict;
  }
  if (c.has_session) {
    EXPECT_EQ(outcome.verdict.find('\n'), std::string::npos) << "verdict is one line";
  }
}

INSTANTIATE_TEST_SUITE_P(Policy, Golden, testing::ValuesIn(case_names()),
                         [](const testing::TestParamInfo<std::string>& param_info) {
                           std::string n;
                           bool up = true;
                           for (const char ch : param_info.param) {
                             if (ch == '_') {
                               up = true;
                               continue;
                             }
                             n += up ? static_cast<char>(
                                           std::toupper(static_cast<unsigned char>(ch)))
                                     : ch;
                             up = false;
                           }
                           return n;
                         });

TEST(GoldenCatalogue, EveryFindingIdHasAGoldenCase) {
  std::set<std::string> seen;
  for (const auto& name : case_names()) {
    const auto expected =
        test::JsonReader::parse(test::read_text(case_file(name, ".findings.json")));
    for (const auto& e : expected.get("findings")->as_array()) {
      seen.insert(e.get("id")->as_string());
    }
  }
  for (std::size_t i = 0; i < finding_count(); ++i) {
    EXPECT_TRUE(seen.count(std::string(to_string(finding_at(i)))) == 1)
        << to_string(finding_at(i)) << " has no golden case";
  }
}

TEST(GoldenCatalogue, CleanSessionsHaveNothingAboveInfo) {
  for (const auto& name : case_names()) {
    if (name.rfind("clean_", 0) != 0) {
      continue;
    }
    const auto c = test::load_case(case_file(name, ".facts.json"));
    for (const auto& f : run(c).findings) {
      EXPECT_EQ(f.severity, Severity::info) << name << ": " << to_string(f.id);
    }
  }
}

}  // namespace
}  // namespace hopscope::policy
