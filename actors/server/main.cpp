// cdc-server: replicates a source Milvus into a target Milvus.
//
//   cdc-server [--config FILE] [--listen HOST:PORT] [--data-dir DIR]
//
// Startup order: configuration (refused at once when wrong), storage, actors, HTTP. SIGTERM or
// SIGINT stops in the reverse order: HTTP, tasks (last checkpoints written), storage.

#include "actors/base/metrics.hpp"
#include "actors/server/config.hpp"
#include "actors/supervisor.hpp"
#include "actors/target_dialer.hpp"
#include "actors/writer.hpp"
#include "actors/writer/api_applier.hpp"
#include "actors/writer/replicate_applier.hpp"
#include "actors/writer/target_client.hpp"
#include "http/server.hpp"
#include "storage/store.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>

namespace {

constexpr const char* usage = "usage: cdc-server [--config FILE] [--listen HOST:PORT] "
                              "[--data-dir DIR]\n";

int fail(const std::string& message) {
  std::cerr << "cdc-server: " << message << '\n';
  return 1;
}

struct command_line {
  std::optional<std::string> config_file;
  std::optional<std::string> listen;
  std::optional<std::string> data_dir;
};

/// Parses the arguments; nullopt (after printing why) when they are wrong.
std::optional<command_line> parse_args(int argc, char** argv) {
  command_line result;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      std::exit(0);
    }
    std::optional<std::string>* target = nullptr;
    std::string value;
    for (auto [flag, slot] :
         {std::pair{"--config", &result.config_file}, std::pair{"--listen", &result.listen},
          std::pair{"--data-dir", &result.data_dir}}) {
      std::string prefix = std::string{flag} + "=";
      if (arg == flag) {
        if (i + 1 >= argc) {
          std::cerr << "cdc-server: " << flag << " needs a value\n" << usage;
          return std::nullopt;
        }
        target = slot;
        value = argv[++i];
      } else if (arg.starts_with(prefix)) {
        target = slot;
        value = arg.substr(prefix.size());
      }
    }
    if (target == nullptr) {
      std::cerr << "cdc-server: unknown argument '" << arg << "'\n" << usage;
      return std::nullopt;
    }
    *target = value;
  }
  return result;
}

/// CAF's configuration: our message types and error category.
struct actor_config : caf::actor_system_config {
  actor_config() {
    add_message_types<caf::id_block::cdc>();
    add_error_category(cdc::ec_category, cdc::render_error);
    // Work sharing: idle workers sleep on one condition variable. CAF's default work stealing
    // polls for ~25 ms after every job (50 us sleeps), then wakes every 10 ms to steal; with
    // the TimeTicks of 16 channels arriving every 200 ms that kept an idle server at 0.05
    // cores. Our pipeline has few actors, so stealing buys no throughput here.
    set("scheduler.policy", caf::atom("sharing"));
    // CAF's own logging is compiled out in Debian's build; we log with spdlog.
  }
};

/// What an applier is made of.
struct applier_inputs {
  cdc::task_spec spec;
  cdc::source_config source;
  std::shared_ptr<cdc::store> db;
  std::shared_ptr<cdc::metrics::registry> metrics;
  cdc::milvus::writer_options writer_options;
  std::shared_ptr<cdc::wal::collection_filter> skip;
};

/// The writer of each target mode: how its applier is made, and how often the writer calls
/// it with nothing new (0: never).
struct target_mode_entry {
  cdc::target_mode mode;
  std::unique_ptr<cdc::applier> (*make)(applier_inputs in);
  std::chrono::milliseconds idle_apply;
};

const target_mode_entry target_modes[] = {
    {cdc::target_mode::api,
     [](applier_inputs in) -> std::unique_ptr<cdc::applier> {
       return std::make_unique<cdc::api_applier>(
           std::move(in.spec), in.source.replicate_channel, in.source.milvus_uri,
           in.source.milvus_token, std::move(in.metrics), in.writer_options, std::move(in.skip));
     },
     std::chrono::milliseconds{0}},
    // The standby makes data visible only as TimeTicks arrive: keep them coming.
    {cdc::target_mode::replicate,
     [](applier_inputs in) -> std::unique_ptr<cdc::applier> {
       return std::make_unique<cdc::replicate_applier>(
           std::move(in.spec), in.source.replicate_channel, in.source.milvus_uri,
           in.source.milvus_token, std::move(in.db), std::move(in.metrics), in.writer_options,
           cdc::replicate_options{}, std::move(in.skip));
     },
     std::chrono::milliseconds{500}},
};

} // namespace

int main(int argc, char** argv) {
  // Signals are taken by sigwait below; block them before any thread starts, so that every
  // thread inherits the mask and none is interrupted.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto args = parse_args(argc, argv);
  if (!args)
    return 2;

  cdc::server_config cfg;
  if (args->config_file) {
    auto loaded = cdc::load_config_file(*args->config_file);
    if (!loaded)
      return fail(cdc::message_of(loaded.error()));
    cfg = std::move(*loaded);
  }
  if (args->listen)
    if (auto err = cdc::set_listen(cfg, *args->listen, "--listen"))
      return fail(cdc::message_of(err));
  if (args->data_dir) {
    if (args->data_dir->empty())
      return fail("--data-dir must not be empty");
    cfg.data_dir = *args->data_dir;
  }

  spdlog::set_default_logger(spdlog::stderr_color_mt("cdc"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
  spdlog::set_level(spdlog::level::from_str(cfg.log_level));

  auto opened = cdc::store::open(cfg.data_dir);
  if (!opened)
    return fail(cdc::message_of(opened.error()));
  std::shared_ptr<cdc::store> db = std::move(*opened);
  auto stored = db->load_tasks();
  if (!stored)
    return fail(cdc::message_of(stored.error()));
  spdlog::info("cdc-server starting: data dir {}, {} stored task(s)", cfg.data_dir, stored->size());

  // Declared before the actor system so that they are destroyed after it: actors may hold
  // request handles whose sockets belong to the HTTP server's io_context.
  std::shared_ptr<cdc::control_api> api;
  std::unique_ptr<cdc::http_server> http;

  actor_config actor_cfg;
  caf::actor_system system{actor_cfg};
  auto metrics = std::make_shared<cdc::metrics::registry>();
  auto dialer = system.spawn(cdc::target_dialer, cdc::target_check{cdc::milvus::check_target});
  auto pipeline = std::make_shared<cdc::pipeline_config>();
  pipeline->kafka.brokers = cfg.source.kafka_brokers;
  pipeline->kafka.options = cfg.source.kafka_options;
  pipeline->cluster_prefix = cfg.source.cluster_prefix;
  pipeline->dml_channel_num = static_cast<int>(cfg.source.dml_channel_num);
  pipeline->replicate_channel = cfg.source.replicate_channel;
  pipeline->max_batch_bytes = static_cast<uint64_t>(cfg.read_batch_bytes);
  pipeline->max_inflight_bytes = static_cast<uint64_t>(cfg.inflight_bytes);
  pipeline->restart_delay = std::chrono::milliseconds{cfg.restart_delay_ms};
  pipeline->max_restart_delay = std::chrono::milliseconds{cfg.max_restart_delay_ms};
  pipeline->max_restarts = static_cast<int>(cfg.max_restarts);
  cdc::milvus::writer_options writer_options;
  writer_options.max_attempts = static_cast<int>(cfg.retry_attempts);
  writer_options.base_delay = std::chrono::milliseconds{cfg.retry_backoff_ms};
  writer_options.max_delay = std::chrono::milliseconds{cfg.retry_max_backoff_ms};
  pipeline->metrics = metrics;
  // Crash tests only (tests/e2e): see writer_config::exit_after_inserts.
  uint64_t exit_after_inserts = 0;
  if (const char* fp = std::getenv("CDC_FAILPOINT_EXIT_AFTER_INSERTS"))
    exit_after_inserts = std::strtoull(fp, nullptr, 10);
  pipeline->spawn_writer = [db, metrics, source = cfg.source, writer_options,
                            exit_after_inserts](caf::local_actor* parent,
                                                const cdc::task_record& task, cdc::task_actor owner,
                                                std::shared_ptr<cdc::wal::collection_filter> skip) {
    auto writer_cfg = std::make_shared<cdc::writer_config>();
    writer_cfg->task_id = task.spec.task_id;
    writer_cfg->db = db;
    writer_cfg->replicate_channel = source.replicate_channel;
    writer_cfg->exit_after_inserts = exit_after_inserts;
    applier_inputs in{task.spec, source, db, metrics, writer_options, std::move(skip)};
    const auto* mode = std::find_if(std::begin(target_modes), std::end(target_modes),
                                    [&](const auto& m) { return m.mode == task.spec.mode; });
    if (mode == std::end(target_modes)) {
      writer_cfg->unsupported = "target mode " + std::to_string(static_cast<int>(task.spec.mode)) +
                                " has no writer in this build";
    } else {
      writer_cfg->target = mode->make(std::move(in));
      writer_cfg->idle_apply = mode->idle_apply;
    }
    auto actor = parent->home_system().spawn<caf::detached>(cdc::writer, writer_cfg, owner);
    return cdc::writer_handle{actor, [writer_cfg] { writer_cfg->cancel(); }};
  };
  cdc::supervisor_config sup_cfg{static_cast<size_t>(cfg.max_task_num), db, dialer, metrics,
                                 pipeline};
  auto supervisor = system.spawn(cdc::supervisor, sup_cfg, std::move(*stored));

  auto stop_actors = [&] {
    caf::scoped_actor self{system};
    self->request(supervisor, std::chrono::seconds{60}, cdc::atom::shutdown_v)
        .receive([] {},
                 [](caf::error& err) {
                   spdlog::error("tasks did not stop cleanly: {}", cdc::message_of(err));
                 });
    caf::anon_send_exit(dialer, caf::exit_reason::user_shutdown);
  };

  cdc::api_settings api_settings;
  api_settings.max_body_bytes = static_cast<size_t>(cfg.http_max_body_bytes);
  api_settings.limits.max_name_length = static_cast<size_t>(cfg.max_name_length);
  api = std::make_shared<cdc::control_api>(system, supervisor, api_settings, metrics);
  try {
    http = std::make_unique<cdc::http_server>(api, cfg.listen_host, cfg.listen_port);
  } catch (const std::exception& e) {
    api->disconnect();
    stop_actors();
    return fail(e.what());
  }
  spdlog::info("cdc-server listening on {}:{}", cfg.listen_host, cfg.listen_port);

  int signal = 0;
  sigwait(&stop_signals, &signal);
  spdlog::info("cdc-server: {} received, shutting down", signal == SIGTERM ? "SIGTERM" : "SIGINT");
  http->stop();
  api->disconnect();
  stop_actors();
  system.await_all_actors_done();
  db.reset();
  spdlog::info("cdc-server stopped");
  return 0;
}
