#pragma once

// Shared fixtures of the unit tests: a temporary directory, a real RocksDB store in it, and
// CAF's deterministic scheduler (the DSL of caf/test/dsl.hpp crashes under doctest).

#include "actors/actors.hpp"
#include "storage/store.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>

#include <filesystem>
#include <memory>
#include <random>
#include <string>

namespace cdc::test {

/// A fresh directory under the system's temp dir, removed with the fixture.
struct temp_dir {
  temp_dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / ("cdc-unit-" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  std::filesystem::path path;
};

/// Opens a store in `dir`; fails the test when it cannot.
inline std::shared_ptr<store> open_store(const std::filesystem::path& dir) {
  auto opened = store::open(dir.string());
  if (!opened)
    throw std::runtime_error("cannot open test store: " + caf::to_string(opened.error()));
  return std::shared_ptr<store>{std::move(*opened)};
}

/// An actor system on the deterministic test scheduler.
struct deterministic {
  static caf::actor_system_config& init(caf::actor_system_config& cfg) {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.add_message_types<caf::id_block::cdc>();
    return cfg;
  }
  caf::actor_system_config cfg;
  caf::actor_system sys{init(cfg)};
  caf::scoped_actor self{sys, true};
  caf::scheduler::test_coordinator& sched =
      dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
};

/// A task spec that passes validation: everything of `default` to `uri`.
inline task_spec sample_spec(const std::string& id, const std::string& uri = "http://t:19530") {
  task_spec spec;
  spec.task_id = id;
  spec.target.uri = uri;
  spec.target.token = "root:secret";
  spec.db_collections["default"] = {collection_ref{"*", {}, false}};
  return spec;
}

} // namespace cdc::test

namespace cdc::test {

/// Request/response helpers on the deterministic scheduler: send, run until idle, receive.
struct actor_fixture : deterministic {
  temp_dir dir;
  std::shared_ptr<store> db = open_store(dir.path);

  template <class T, class Handle, class... Ts>
  caf::expected<T> ask(const Handle& dest, Ts&&... xs) {
    caf::expected<T> result{caf::make_error(caf::sec::request_timeout)};
    auto handle = self->request(dest, caf::infinite, std::forward<Ts>(xs)...);
    sched.run();
    handle.receive([&](T& x) { result = std::move(x); }, [&](caf::error& err) { result = err; });
    return result;
  }

  /// For handlers that answer nothing but success or an error.
  template <class Handle, class... Ts>
  caf::error ask_void(const Handle& dest, Ts&&... xs) {
    caf::error result = caf::make_error(caf::sec::request_timeout);
    auto handle = self->request(dest, caf::infinite, std::forward<Ts>(xs)...);
    sched.run();
    handle.receive([&] { result = caf::error{}; }, [&](caf::error& err) { result = err; });
    return result;
  }
};

} // namespace cdc::test
