// What SHA-256 of one message costs on this CPU, through OpenSSL as the relay hashes it
// (proxy/sha256.cpp): DESIGN.md §5 asks for messages[].sha256 of the content as delivered,
// work HAProxy does not do. hopscope_bench prints it beside hopscope's CPU beyond HAProxy's.
// Links libcrypto only; no hopscope code, so the bench still builds while the relay does not.
#pragma once

#include <cstddef>

namespace hopscope::bench {

// CPU microseconds (this thread) per hash of a `bytes`-byte message, fed in chunks of up to
// 16 KiB (the relay's read size), averaged over enough messages to take at least ~200 ms.
// Returns a negative number when OpenSSL cannot hash.
double measure_sha256_floor(std::size_t bytes);

}  // namespace hopscope::bench
