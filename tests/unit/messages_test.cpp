#include "fixtures.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <doctest/doctest.h>

using namespace cdc;

namespace {

/// Serializes and deserializes `x` as CAF does between nodes.
template <class T>
T round_trip(caf::actor_system& sys, T x) {
  std::vector<char> buffer;
  caf::binary_serializer sink{sys, buffer};
  REQUIRE_FALSE(sink(x));
  T result;
  caf::binary_deserializer source{sys, buffer};
  REQUIRE_FALSE(source(result));
  return result;
}

} // namespace

TEST_CASE_FIXTURE(test::deterministic, "message_types_survive_serialization") {
  auto spec = test::sample_spec("t");
  spec.by_database = true;
  spec.db_collections = {{"db1", {collection_ref{"c", {{"p_1v0", "AAAA"}}, true}}}};
  spec.name_mappings = {name_mapping{"db1", "db2", {{"c", "c2"}}}};
  spec.target.legacy = legacy_address{"h", 19530, "root", true};
  spec.target.dial.ca_pem_path = "/ca.pem";
  spec.mode = target_mode::replicate;
  spec.enable_user_role = true;
  CHECK(round_trip(sys, spec) == spec);
  task_record record{spec, task_state::paused, "why"};
  CHECK(round_trip(sys, record) == record);
  std::vector<checkpoint> cps{{"a", 1, 2}, {"b", 3, 4}};
  CHECK(round_trip(sys, cps) == cps);
}
