#pragma once

// Positions in the source WAL as Milvus and the control API show them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cdc::milvus {

/// A place in one channel: Kafka offset and hybrid timestamp.
struct position {
  std::string channel;
  int64_t offset = -1;
  uint64_t timestamp = 0;
};

/// Milvus hybrid timestamps are (physical_ms << 18) | logical.
constexpr uint64_t physical_ms(uint64_t hybrid_ts) {
  return hybrid_ts >> 18;
}

/// Standard base64 with padding.
std::string base64_encode(std::string_view bytes);

/// Decodes standard base64 (padding optional); nullopt when `text` is not base64.
std::optional<std::string> base64_decode(std::string_view text);

/// base64 of a serialized `msg.MsgPosition` whose msgID is the offset as 8 bytes little
/// endian: the `msg_id` of the position request and the `positions` of create.
std::string encode_position(const position& pos);

/// The inverse of `encode_position`; nullopt when `text` is not such a position.
std::optional<position> decode_position(std::string_view text);

} // namespace cdc::milvus
