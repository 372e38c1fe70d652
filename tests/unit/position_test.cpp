#include "proto/position.hpp"

#include <doctest/doctest.h>

using namespace cdc::milvus;

TEST_CASE("base64_round_trips_every_length") {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    auto decoded = base64_decode(base64_encode(bytes));
    REQUIRE(decoded);
    CHECK(*decoded == bytes);
    bytes += static_cast<char>(i * 37);
  }
  CHECK(base64_encode("Man") == "TWFu");
  CHECK(base64_encode("Ma") == "TWE=");
  CHECK_FALSE(base64_decode("not base64!"));
}

TEST_CASE("positions_encode_the_offset_as_8_bytes_little_endian") {
  position pos{"by-dev-rootcoord-dml_0", 0x0102030405, (uint64_t{1700000000123} << 18) | 5};
  auto text = encode_position(pos);
  auto back = decode_position(text);
  REQUIRE(back);
  CHECK(back->channel == pos.channel);
  CHECK(back->offset == pos.offset);
  CHECK(back->timestamp == pos.timestamp);
  CHECK(physical_ms(pos.timestamp) == 1700000000123);
  auto raw = base64_decode(text);
  REQUIRE(raw);
  // msgID (field 2, length 8) carries 05 04 03 02 01 00 00 00.
  CHECK(raw->find(std::string{"\x12\x08\x05\x04\x03\x02\x01\x00\x00\x00", 10}) !=
        std::string::npos);
  CHECK_FALSE(decode_position("AAAA"));
}
