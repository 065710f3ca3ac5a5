#pragma once
// Whether `audit.directory` (DESIGN.md §4, §5) can hold audit documents: it is, or can be
// made, a directory this process creates files in. Asked once at start-up by `relay` (which
// creates it) and by `check-config` (which only looks). The answer is a warning, never a
// refusal: a directory that cannot be written loses the audit documents, never the mail
// (DESIGN.md §5 "a full disk never stops mail"). Never throws.

#include <string>

namespace hopscope::config {

enum class DirectoryCheck {
  inspect,  // change nothing lasting: a missing directory is judged by its nearest parent
  create,   // mkdir -p (mode 0750, as the audit writer does), then create and remove a file
};

// Outcomes:
// @li "" when `directory` is a directory a file can be created in (with `inspect`: or when it
//     is missing and its nearest existing parent is a directory that is writable);
// @li otherwise why not, said of the directory (the caller names it first) and ending in the
//     errno text: "is not a directory: Not a directory", "is not writable: cannot create a
//     file in it: Permission denied", "cannot be created in /var/log: Permission denied".
[[nodiscard]] std::string audit_directory_problem(const std::string& directory, DirectoryCheck how);

// The one-line consequence, said after the problem by both subcommands, so that an operator
// reads the same words in check-config and in the relay's log.
[[nodiscard]] std::string audit_directory_consequence();

}  // namespace hopscope::config
