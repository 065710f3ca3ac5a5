#pragma once
// Remedy texts: what a network or Exchange team does about each finding, naming the device
// command and the Exchange / Exchange Online error the finding causes (those codes never
// cross the wire: field-facts §2). Written from /work/shared/reference/field-facts.md.
// Pure text; no I/O.

#include <string>

#include "policy/finding.hpp"

namespace hopscope::policy {

// The remedy for a finding, in general terms. evaluate() adds the session's specifics.
std::string remedy(FindingId id);

}  // namespace hopscope::policy
