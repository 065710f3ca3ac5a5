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

// " Here that is port 2525 on 10.0.0.5 (from this machine: nc -vz 10.0.0.5 2525)." for the
// UPSTREAM_UNREACHABLE remedy, from an address written "host:port" or "[v6]:port"; "" when
// it carries no port.
std::string unreachable_port_advice(const std::string& address);

}  // namespace hopscope::policy
