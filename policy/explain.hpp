#pragma once
// `hopscope explain "TEXT"`: decodes an error an administrator pasted from Exchange's queue
// viewer, Exchange Online's message trace or a protocol log (codes that never cross the
// wire: field-facts §2) into what it means, which findings to look for and where to place
// hopscope to see them. Pure text; no I/O.

#include <string>
#include <string_view>

namespace hopscope::policy {

// Multi-line text. Every known code or phrase found in `pasted_error` gets a block
// (`451 4.4.0 … "451 5.7.3 …"` gets both the wrapper and the inner reply); an unknown text
// gets a short list of the codes hopscope knows. Never throws.
std::string explain(std::string_view pasted_error);

}  // namespace hopscope::policy
