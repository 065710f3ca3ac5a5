#pragma once
// Test-only oracle: the Boost.JSON DOM implementation of to_json() and summary_json_line()
// exactly as proxy/audit_json.cpp had it before the direct writer replaced it. The oracle
// test compares the two byte for byte; never link this into the product.

#include <string>
#include <vector>

#include "proxy/audit_json.hpp"
#include "proxy/facts.hpp"

namespace hopscope::test {

std::string reference_to_json(const SessionFacts& facts, const std::vector<FindingView>& findings,
                              const std::string& verdict, const AuditOptions& options);

std::string reference_summary_json_line(const SessionFacts& facts,
                                        const std::vector<FindingView>& findings,
                                        const std::string& verdict, const AuditOptions& options);

}  // namespace hopscope::test
