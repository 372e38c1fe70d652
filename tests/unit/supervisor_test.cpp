#include "actors/supervisor.hpp"
#include "fixtures.hpp"

#include <doctest/doctest.h>

using namespace cdc;

namespace {

/// Stands in for the gRPC dial in these unit tests of the supervisor alone: targets whose
/// uri contains "unreachable" fail. The real dial is tested against milvus-lite.
target_dialer_actor::behavior_type scripted_dialer() {
  return {
      [](atom::dial, const target_params& params) -> caf::result<void> {
        if (params.uri.find("unreachable") != std::string::npos)
          return make_error(ec::target_unreachable, "gRPC status UNAVAILABLE: refused");
        return caf::unit;
      },
  };
}

struct supervisor_fixture : test::actor_fixture {
  supervisor_actor sup;

  ~supervisor_fixture() {
    // The supervisor and its tasks reference each other; the system only goes down once
    // they are stopped, as the server does at exit.
    if (sup) {
      caf::anon_send(sup, atom::shutdown_v);
      sched.run();
    }
  }

  void start(size_t max_tasks = 100, std::vector<task_record> stored = {}) {
    auto dialer = sys.spawn(scripted_dialer);
    sup = sys.spawn(supervisor, supervisor_config{max_tasks, db, dialer, nullptr, nullptr},
                    std::move(stored));
    sched.run();
  }

  caf::expected<std::string> create(task_spec spec) {
    return ask<std::string>(sup, atom::create_v, std::move(spec));
  }

  caf::expected<task_record> get(const std::string& id) {
    return ask<task_record>(sup, atom::get_v, id);
  }

  std::vector<task_record> list() {
    auto tasks = ask<std::vector<task_record>>(sup, atom::list_v);
    REQUIRE(tasks);
    return *tasks;
  }
};

} // namespace

TEST_CASE_FIXTURE(supervisor_fixture, "create_answers_a_new_id_and_starts_the_task") {
  start();
  auto id = create(test::sample_spec(""));
  REQUIRE(id);
  CHECK(id->size() == 32);
  CHECK(id->find_first_not_of("0123456789abcdef") == std::string::npos);
  auto task = get(*id);
  REQUIRE(task);
  CHECK(task->state == task_state::running);
  auto stored = db->load_tasks();
  REQUIRE(stored);
  REQUIRE(stored->size() == 1);
  CHECK(stored->front().state == task_state::running);
}

TEST_CASE_FIXTURE(supervisor_fixture, "create_with_disable_auto_start_is_paused") {
  start();
  auto spec = test::sample_spec("quiet");
  spec.disable_auto_start = true;
  REQUIRE(create(spec));
  auto task = get("quiet");
  REQUIRE(task);
  CHECK(task->state == task_state::paused);
  CHECK_FALSE(task->reason.empty());
}

TEST_CASE_FIXTURE(supervisor_fixture, "unreachable_target_leaves_no_task_behind") {
  start();
  auto id = create(test::sample_spec("x", "http://unreachable:1"));
  REQUIRE_FALSE(id);
  CHECK(code_of(id.error()) == ec::target_unreachable);
  CHECK(message_of(id.error()).find("UNAVAILABLE") != std::string::npos);
  CHECK(list().empty());
  CHECK(db->load_tasks()->empty());
  // The id and the collections are free again.
  CHECK(create(test::sample_spec("x")));
}

TEST_CASE_FIXTURE(supervisor_fixture, "create_with_an_existing_id_is_idempotent_or_refused") {
  start();
  REQUIRE(create(test::sample_spec("same")));
  auto again = create(test::sample_spec("same"));
  REQUIRE(again);
  CHECK(*again == "same");
  CHECK(list().size() == 1);
  auto other = test::sample_spec("same", "http://elsewhere:1");
  auto refused = create(other);
  REQUIRE_FALSE(refused);
  CHECK(code_of(refused.error()) == ec::invalid_argument);
}

TEST_CASE_FIXTURE(supervisor_fixture, "a_collection_is_covered_by_one_task_per_target") {
  start();
  REQUIRE(create(test::sample_spec("a")));
  auto refused = create(test::sample_spec("b"));
  REQUIRE_FALSE(refused);
  CHECK(code_of(refused.error()) == ec::invalid_argument);
  CHECK(message_of(refused.error()).find("task a") != std::string::npos);
  CHECK(create(test::sample_spec("c", "http://another-target:19530")));
}

TEST_CASE_FIXTURE(supervisor_fixture, "task_limit_is_enforced") {
  start(2);
  REQUIRE(create(test::sample_spec("a", "http://t1:1")));
  REQUIRE(create(test::sample_spec("b", "http://t2:1")));
  auto refused = create(test::sample_spec("c", "http://t3:1"));
  REQUIRE_FALSE(refused);
  CHECK(message_of(refused.error()).find("max_task_num") != std::string::npos);
}

TEST_CASE_FIXTURE(supervisor_fixture, "pause_resume_and_their_errors") {
  start();
  REQUIRE(create(test::sample_spec("t")));
  CHECK_FALSE(ask_void(sup, atom::pause_v, std::string{"t"}));
  CHECK(get("t")->state == task_state::paused);
  CHECK(code_of(ask_void(sup, atom::pause_v, std::string{"t"})) == ec::invalid_transition);
  CHECK_FALSE(ask_void(sup, atom::resume_v, std::string{"t"}));
  CHECK(get("t")->state == task_state::running);
  CHECK(code_of(ask_void(sup, atom::resume_v, std::string{"t"})) == ec::invalid_transition);
  CHECK(code_of(ask_void(sup, atom::pause_v, std::string{"nope"})) == ec::task_not_found);
  CHECK(code_of(get("nope").error()) == ec::task_not_found);
}

TEST_CASE_FIXTURE(supervisor_fixture, "delete_removes_task_and_checkpoints") {
  start();
  REQUIRE(create(test::sample_spec("t")));
  REQUIRE_FALSE(db->put_checkpoint("t", {"ch", 1, 1}));
  CHECK_FALSE(ask_void(sup, atom::remove_v, std::string{"t"}, false));
  CHECK(list().empty());
  CHECK(db->load_tasks()->empty());
  CHECK(db->checkpoints("t")->empty());
  CHECK(code_of(ask_void(sup, atom::remove_v, std::string{"t"}, false)) == ec::task_not_found);
  CHECK_FALSE(ask_void(sup, atom::remove_v, std::string{"t"}, true));
}

TEST_CASE_FIXTURE(supervisor_fixture, "stored_tasks_come_back_in_their_state") {
  std::vector<task_record> stored{
      {test::sample_spec("i", "http://a:1"), task_state::initial, {}},
      {test::sample_spec("p", "http://b:1"), task_state::paused, "by request"},
      {test::sample_spec("r", "http://c:1"), task_state::running, {}}};
  for (const auto& t : stored)
    REQUIRE_FALSE(db->put_task(t));
  start(100, stored);
  auto tasks = list();
  REQUIRE(tasks.size() == 3);
  CHECK(tasks[0].state == task_state::running); // Initial: never started, starts now
  CHECK(tasks[1].state == task_state::paused);
  CHECK(tasks[1].reason == "by request");
  CHECK(tasks[2].state == task_state::running);
}

TEST_CASE_FIXTURE(supervisor_fixture, "position_answers_the_task_checkpoints") {
  // Checkpoints as a task restored after a restart finds them.
  REQUIRE_FALSE(db->put_checkpoint("t", {"by-dev-rootcoord-dml_1", 5, 6}));
  start(100, {{test::sample_spec("t"), task_state::running, {}}});
  auto cps = ask<std::vector<checkpoint>>(sup, atom::position_v, std::string{"t"});
  REQUIRE(cps);
  REQUIRE(cps->size() == 1);
  CHECK(cps->front().channel == "by-dev-rootcoord-dml_1");
}

TEST_CASE_FIXTURE(supervisor_fixture, "shutdown_stops_every_task_then_the_supervisor") {
  start();
  REQUIRE(create(test::sample_spec("a", "http://a:1")));
  REQUIRE(create(test::sample_spec("b", "http://b:1")));
  self->monitor(sup);
  CHECK_FALSE(ask_void(sup, atom::shutdown_v));
  sched.run();
  bool down = false;
  self->receive([&](caf::down_msg&) { down = true; }, caf::after(std::chrono::seconds{0}) >> [] {});
  CHECK(down);
  // Stopping is not deleting: both tasks are still stored.
  CHECK(db->load_tasks()->size() == 2);
}

TEST_CASE_FIXTURE(supervisor_fixture, "identical_concurrent_creates_share_one_answer") {
  start();
  auto first = self->request(sup, caf::infinite, atom::create_v, test::sample_spec("same"));
  auto second = self->request(sup, caf::infinite, atom::create_v, test::sample_spec("same"));
  auto other = test::sample_spec("same");
  other.mode = target_mode::replicate;
  auto third = self->request(sup, caf::infinite, atom::create_v, other);
  sched.run();
  std::vector<std::string> ids;
  caf::error refused;
  for (auto* handle : {&first, &second})
    handle->receive([&](std::string& id) { ids.push_back(id); },
                    [&](caf::error& err) { FAIL(message_of(err)); });
  third.receive([](std::string&) {}, [&](caf::error& err) { refused = err; });
  CHECK(ids == std::vector<std::string>{"same", "same"});
  CHECK(code_of(refused) == ec::invalid_argument);
  CHECK(list().size() == 1);
}
