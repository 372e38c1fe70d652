#include "proto/position.hpp"

#include "msg.pb.h"

namespace cdc::milvus {

namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int decode_char(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

} // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16) |
                 (static_cast<uint8_t>(bytes[i + 1]) << 8) | static_cast<uint8_t>(bytes[i + 2]);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  if (auto rest = bytes.size() - i; rest > 0) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2)
      n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += rest == 2 ? alphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=')
    text.remove_suffix(1);
  if (text.size() % 4 == 1)
    return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v = decode_char(c);
    if (v < 0)
      return std::nullopt;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

std::string encode_position(const position& pos) {
  ::milvus::proto::msg::MsgPosition msg;
  msg.set_channel_name(pos.channel);
  std::string id(8, '\0');
  auto offset = static_cast<uint64_t>(pos.offset);
  for (int i = 0; i < 8; ++i)
    id[i] = static_cast<char>((offset >> (8 * i)) & 0xff);
  msg.set_msgid(id);
  msg.set_timestamp(pos.timestamp);
  return base64_encode(msg.SerializeAsString());
}

std::optional<position> decode_position(std::string_view text) {
  auto bytes = base64_decode(text);
  if (!bytes)
    return std::nullopt;
  ::milvus::proto::msg::MsgPosition msg;
  if (!msg.ParseFromString(*bytes) || msg.msgid().size() != 8)
    return std::nullopt;
  uint64_t offset = 0;
  for (int i = 7; i >= 0; --i)
    offset = (offset << 8) | static_cast<uint8_t>(msg.msgid()[i]);
  return position{msg.channel_name(), static_cast<int64_t>(offset), msg.timestamp()};
}

} // namespace cdc::milvus
