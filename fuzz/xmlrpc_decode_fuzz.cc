// libFuzzer target: the XML-RPC decoder takes any bytes without crashing, and what it decodes
// encodes to a document that decodes to the same value.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "control/wire/xmlrpc.h"

using namespace podvisor::control::xmlrpc;

namespace {

std::string reencode(const std::string& encoded) {
  const auto decoded = decode_response(encoded);
  return std::holds_alternative<Value>(decoded) ? encode_response(std::get<Value>(decoded))
                                                : encode_fault(std::get<Fault>(decoded));
}

// What the encoder writes always decodes, and after one pass (which replaces what XML cannot
// carry and may merge struct members whose names became equal) encoding is a fixed point.
void check_round_trip(const std::string& encoded) {
  const std::string once = reencode(encoded);
  if (reencode(once) != once) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  try {
    const Call call = decode_call(body);
    try {
      const Call back = decode_call(encode_call(call));
      if (back.params.size() != call.params.size()) std::abort();
    } catch (const DecodeError&) {
      std::abort();
    }
  } catch (const DecodeError&) {
  }
  try {
    const auto response = decode_response(body);
    try {
      if (const auto* value = std::get_if<Value>(&response)) {
        check_round_trip(encode_response(*value));
      } else {
        check_round_trip(encode_fault(std::get<Fault>(response)));
      }
    } catch (const DecodeError&) {
      std::abort();  // the encoder wrote something its own decoder refuses
    }
  } catch (const DecodeError&) {
  }
  // The escaping alone, on raw bytes: its output must parse, and be stable.
  try {
    const std::string encoded = encode_response(Value(std::string(body)));
    if (reencode(encoded) != encoded) std::abort();
  } catch (const DecodeError&) {
    std::abort();
  }
  return 0;
}
