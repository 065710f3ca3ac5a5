// What the kernel charges for one audit document's file, without the JSON: the audit
// writer's own steps (proxy/audit_writer.cpp) on a given folder, timed in CPU. HAProxy
// writes no file per session, so this is the part of hopscope's extra CPU per session that
// no work on the relay can remove while the audit log keeps one document per session
// (DESIGN.md §5). hopscope_bench prints it beside the figures.
// std + POSIX only; writes only inside the folder it is given, and removes what it wrote.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace hopscope::bench {

struct DocumentFloor {
  double cpu_us = 0;        // CPU (user + kernel) of this thread per document
  std::string file_system;  // "tmpfs", "ext4", ... or the statfs(2) magic in hex
  std::string error;        // empty on success: else the step that failed and why
};

// Creates `documents` files of `bytes` bytes each in a fresh folder `scratch` (made by the
// call, removed after), each as the audit writer does: an O_TMPFILE file, one write(2),
// linkat(2) through /proc/self/fd to its name, close(2). The writer's per-batch steps
// (syncfs, the summary line) are shared by many documents and left out: a floor.
DocumentFloor measure_document_floor(const std::filesystem::path& scratch, std::size_t bytes,
                                     int documents);

}  // namespace hopscope::bench
