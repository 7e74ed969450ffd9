// supervisord's strip_ansi (dispatchers.stripEscapes): removes ANSI CSI sequences from a
// program's output, byte for byte as supervisord does, one read at a time.
#pragma once

#include <string>
#include <string_view>

namespace podvisor::output {

// Appends `chunk` to `out` without its sequences: from ESC '[' up to and including the
// first byte of "HfABCDRsuJKhlpm", whatever lies between. Nothing else is recognised (OSC,
// a lone ESC, ESC '(' pass). As in supervisord, each chunk is scanned alone: a sequence
// left open at its end takes the rest of the chunk, and one split across two chunks passes.
void strip_escapes(std::string_view chunk, std::string& out);

}  // namespace podvisor::output
