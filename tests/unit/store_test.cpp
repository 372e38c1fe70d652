#include "fixtures.hpp"

#include <doctest/doctest.h>

#include <fstream>

using namespace cdc;

TEST_CASE("store_keeps_tasks_across_reopen") {
  test::temp_dir dir;
  task_record running{test::sample_spec("a"), task_state::running, {}};
  task_record paused{test::sample_spec("b", "http://other:19530"), task_state::paused,
                     "paused by request"};
  {
    auto db = test::open_store(dir.path);
    REQUIRE_FALSE(db->put_task(running));
    REQUIRE_FALSE(db->put_task(paused));
  }
  auto db = test::open_store(dir.path);
  auto tasks = db->load_tasks();
  REQUIRE(tasks);
  REQUIRE(tasks->size() == 2);
  CHECK((*tasks)[0] == running);
  CHECK((*tasks)[1] == paused);
  CHECK((*tasks)[0].spec.target.token == "root:secret");
}

TEST_CASE("store_overwrites_a_task_on_state_change") {
  test::temp_dir dir;
  auto db = test::open_store(dir.path);
  task_record task{test::sample_spec("a"), task_state::running, {}};
  REQUIRE_FALSE(db->put_task(task));
  task.state = task_state::paused;
  task.reason = "why";
  REQUIRE_FALSE(db->put_task(task));
  auto tasks = db->load_tasks();
  REQUIRE(tasks);
  REQUIRE(tasks->size() == 1);
  CHECK(tasks->front().state == task_state::paused);
  CHECK(tasks->front().reason == "why");
}

TEST_CASE("store_checkpoints_round_trip_per_channel") {
  test::temp_dir dir;
  auto db = test::open_store(dir.path);
  checkpoint c0{"by-dev-rootcoord-dml_0", 41, (uint64_t{1700000000000} << 18) | 3};
  checkpoint c1{"by-dev-rootcoord-dml_1", 7, 12345};
  REQUIRE_FALSE(db->put_checkpoint("a", c1));
  REQUIRE_FALSE(db->put_checkpoint("a", c0));
  REQUIRE_FALSE(db->put_checkpoint("ab", checkpoint{"x", 1, 1}));
  c0.offset = 42; // a newer checkpoint replaces the older one
  REQUIRE_FALSE(db->put_checkpoint("a", c0));
  auto cps = db->checkpoints("a");
  REQUIRE(cps);
  REQUIRE(cps->size() == 2);
  CHECK((*cps)[0] == c0);
  CHECK((*cps)[1] == c1);
}

TEST_CASE("store_delete_removes_the_task_and_only_its_checkpoints") {
  test::temp_dir dir;
  auto db = test::open_store(dir.path);
  REQUIRE_FALSE(db->put_task({test::sample_spec("a"), task_state::running, {}}));
  REQUIRE_FALSE(db->put_task({test::sample_spec("ab", "http://x:1"), task_state::running, {}}));
  REQUIRE_FALSE(db->put_checkpoint("a", {"ch", 1, 1}));
  REQUIRE_FALSE(db->put_checkpoint("ab", {"ch", 2, 2}));
  REQUIRE_FALSE(db->delete_task("a"));
  auto tasks = db->load_tasks();
  REQUIRE(tasks);
  REQUIRE(tasks->size() == 1);
  CHECK(tasks->front().spec.task_id == "ab");
  CHECK(db->checkpoints("a")->empty());
  CHECK(db->checkpoints("ab")->size() == 1);
}

TEST_CASE("store_open_fails_with_a_message_naming_the_directory") {
  test::temp_dir dir;
  auto file = dir.path / "plain-file";
  std::ofstream{file} << "not a directory";
  auto opened = store::open((file / "data").string());
  REQUIRE_FALSE(opened);
  CHECK(message_of(opened.error()).find((file / "data").string()) != std::string::npos);
}

TEST_CASE("store_refuses_a_second_opener_of_the_same_directory") {
  test::temp_dir dir;
  auto first = test::open_store(dir.path);
  auto second = store::open(dir.path.string());
  CHECK_FALSE(second);
}

TEST_CASE("store_keeps_apply_intents_and_deletes_them_with_the_task") {
  test::temp_dir dir;
  auto db = test::open_store(dir.path);
  REQUIRE_FALSE(db->put_task({test::sample_spec("a"), task_state::running, {}}));
  REQUIRE_FALSE(db->put_intent("a", "by-dev-rootcoord-dml_0", 10));
  REQUIRE_FALSE(db->put_intent("a", "by-dev-rootcoord-dml_0", 12));
  REQUIRE_FALSE(db->put_intent("a", "by-dev-replicate-msg", 3));
  auto intents = db->intents("a");
  REQUIRE(intents);
  CHECK(*intents == std::map<std::string, int64_t>{{"by-dev-replicate-msg", 3},
                                                   {"by-dev-rootcoord-dml_0", 12}});
  REQUIRE_FALSE(db->delete_task("a"));
  CHECK(db->intents("a")->empty());
}

TEST_CASE("store_keeps_the_target_time_across_reopen_and_deletes_it_with_the_task") {
  test::temp_dir dir;
  const uint64_t ts = (uint64_t{1795616609430} << 18) | 7;
  {
    auto db = test::open_store(dir.path);
    REQUIRE_FALSE(db->put_task({test::sample_spec("a"), task_state::running, {}}));
    CHECK(*db->target_time("a") == 0);
    REQUIRE_FALSE(db->put_target_time("a", ts - 1));
    REQUIRE_FALSE(db->put_target_time("a", ts));
    REQUIRE_FALSE(db->put_target_time("b", 5));
  }
  auto db = test::open_store(dir.path);
  CHECK(*db->target_time("a") == ts);
  REQUIRE_FALSE(db->delete_task("a"));
  CHECK(*db->target_time("a") == 0);
  CHECK(*db->target_time("b") == 5);
}
