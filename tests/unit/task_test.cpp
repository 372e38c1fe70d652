#include "actors/task.hpp"
#include "fixtures.hpp"

#include <doctest/doctest.h>

using namespace cdc;

namespace {

struct task_fixture : test::actor_fixture {
  std::vector<task_actor> spawned;

  ~task_fixture() {
    for (auto& t : spawned)
      caf::anon_send_exit(t, caf::exit_reason::user_shutdown);
    sched.run();
  }

  /// The state the task reported last to its supervisor (the test's scoped actor).
  std::optional<task_state> last_report() {
    std::optional<task_state> last;
    bool more = true;
    while (more)
      self->receive(
          [&](atom::status, const std::string&, task_state s, const std::string&) { last = s; },
          caf::after(std::chrono::seconds{0}) >> [&] { more = false; });
    return last;
  }

  task_state stored_state(const std::string& id) {
    auto tasks = db->load_tasks();
    REQUIRE(tasks);
    for (const auto& t : *tasks)
      if (t.spec.task_id == id)
        return t.state;
    FAIL("task not stored");
    return task_state::initial;
  }

  task_actor spawn_task(task_state state,
                        std::shared_ptr<const pipeline_config> pipeline = nullptr) {
    task_record record{test::sample_spec("t1"), state, {}};
    REQUIRE_FALSE(db->put_task(record));
    auto handle = sys.spawn(task, record, db, caf::actor_cast<supervisor_actor>(self), pipeline);
    sched.run();
    spawned.push_back(handle);
    return handle;
  }
};

} // namespace

TEST_CASE_FIXTURE(task_fixture, "task_in_initial_state_starts_and_stores_running") {
  auto t = spawn_task(task_state::initial);
  CHECK(last_report() == task_state::running);
  CHECK(stored_state("t1") == task_state::running);
}

TEST_CASE_FIXTURE(task_fixture, "paused_task_stays_paused_until_resumed") {
  auto t = spawn_task(task_state::paused);
  CHECK_FALSE(last_report().has_value());
  CHECK(stored_state("t1") == task_state::paused);
  CHECK_FALSE(ask_void(t, atom::resume_v));
  CHECK(last_report() == task_state::running);
  CHECK(stored_state("t1") == task_state::running);
}

TEST_CASE_FIXTURE(task_fixture, "task_pause_and_resume_refuse_no_op_transitions") {
  auto t = spawn_task(task_state::running);
  auto err = ask_void(t, atom::resume_v);
  CHECK(code_of(err) == ec::invalid_transition);
  CHECK_FALSE(ask_void(t, atom::pause_v));
  CHECK(stored_state("t1") == task_state::paused);
  err = ask_void(t, atom::pause_v);
  CHECK(code_of(err) == ec::invalid_transition);
  CHECK(message_of(err).find("already paused") != std::string::npos);
}

TEST_CASE_FIXTURE(task_fixture, "task_stores_the_progress_its_pipeline_reports") {
  auto t = spawn_task(task_state::running);
  self->send(t, atom::progress_v,
             std::vector<checkpoint>{{"by-dev-rootcoord-dml_0", 9, 99}, {"x", 1, 2}});
  self->send(t, atom::progress_v, std::vector<checkpoint>{{"by-dev-rootcoord-dml_0", 10, 100}});
  sched.run();
  auto stored = db->checkpoints("t1");
  REQUIRE(stored);
  CHECK(*stored == std::vector<checkpoint>{{"by-dev-rootcoord-dml_0", 10, 100}, {"x", 1, 2}});
  auto cps = ask<std::vector<checkpoint>>(t, atom::position_v);
  REQUIRE(cps);
  CHECK(*cps == *stored);
}

TEST_CASE_FIXTURE(task_fixture, "task_answers_the_checkpoints_stored_before_a_restart") {
  REQUIRE_FALSE(db->put_checkpoint("t1", {"by-dev-rootcoord-dml_3", 41, 7}));
  auto t = spawn_task(task_state::paused);
  auto cps = ask<std::vector<checkpoint>>(t, atom::position_v);
  REQUIRE(cps);
  CHECK(*cps == std::vector<checkpoint>{{"by-dev-rootcoord-dml_3", 41, 7}});
}

TEST_CASE_FIXTURE(task_fixture, "pipeline_failure_pauses_the_task_with_the_reason") {
  auto t = spawn_task(task_state::running);
  self->send(t, atom::failure_v, std::string{"topic x offset 3: not a protobuf message"}, false);
  sched.run();
  auto tasks = db->load_tasks();
  REQUIRE(tasks);
  CHECK(tasks->front().state == task_state::paused);
  CHECK(tasks->front().reason == "topic x offset 3: not a protobuf message");
  CHECK(last_report() == task_state::paused);
}

TEST_CASE_FIXTURE(task_fixture, "retryable_failures_restart_until_max_restarts_in_a_row") {
  // No writer is spawned (no spawn_writer): the restarts themselves are under test.
  auto pipeline = std::make_shared<pipeline_config>();
  pipeline->restart_delay = std::chrono::seconds{1};
  pipeline->max_restart_delay = std::chrono::seconds{4};
  pipeline->max_restarts = 2;
  auto t = spawn_task(task_state::running, pipeline);
  CHECK(last_report() == task_state::running);
  auto fail_again = [&] {
    self->send(t, atom::failure_v, std::string{"target down"}, true);
    sched.run();
  };
  fail_again(); // restart 1
  CHECK_FALSE(last_report().has_value());
  CHECK(stored_state("t1") == task_state::running);
  sched.advance_time(std::chrono::seconds{1});
  sched.run();
  fail_again(); // restart 2
  CHECK(stored_state("t1") == task_state::running);
  // a pipeline that ran long enough (more than 2 * max_restart_delay) starts a new series
  sched.advance_time(std::chrono::seconds{2});
  sched.run();
  sched.advance_time(std::chrono::seconds{10});
  sched.run();
  fail_again();
  CHECK(stored_state("t1") == task_state::running);
  sched.advance_time(std::chrono::seconds{1});
  sched.run();
  fail_again();
  CHECK(stored_state("t1") == task_state::running);
  sched.advance_time(std::chrono::seconds{2});
  sched.run();
  fail_again(); // third in a row: pauses, saying why
  auto tasks = db->load_tasks();
  REQUIRE(tasks);
  CHECK(tasks->front().state == task_state::paused);
  CHECK(tasks->front().reason.find("target down") != std::string::npos);
  CHECK(tasks->front().reason.find("retry.max_restarts") != std::string::npos);
  // a failure that a later try cannot fix pauses at once (the other test); resume clears
  CHECK_FALSE(ask_void(t, atom::resume_v));
  CHECK(stored_state("t1") == task_state::running);
  fail_again();
  CHECK(stored_state("t1") == task_state::running);
}

TEST_CASE_FIXTURE(task_fixture, "task_terminates_on_shutdown") {
  auto t = spawn_task(task_state::running);
  bool down = false;
  self->monitor(t);
  CHECK_FALSE(ask_void(t, atom::shutdown_v));
  sched.run();
  self->receive([&](caf::down_msg&) { down = true; }, caf::after(std::chrono::seconds{0}) >> [] {});
  CHECK(down);
}
