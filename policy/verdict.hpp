#pragma once
// The verdict: the one line a person reads first about a session (audit document and the
// spdlog summary line), e.g. `hop "upstream" swaps the certificate: self-signed
// CN=barracuda.local instead of mail.contoso.com`, or for a clean session `clean: STARTTLS
// used, TLSv1.3 TLS_AES_256_GCM_SHA384, certificate CN=mail.contoso.com trusted`. Pure.

#include <string>
#include <vector>

#include "policy/finding.hpp"
#include "proxy/facts.hpp"

namespace hopscope::policy {

// Names the most important finding (highest severity; among equals the likeliest root cause:
// a swapped certificate or masked STARTTLS before their symptoms such as REMOTE_TLS_ERROR),
// adds the refusal it caused, and lists the other ids. Escaped; one line.
std::string verdict(const SessionFacts& facts, const std::vector<Finding>& findings);

}  // namespace hopscope::policy
